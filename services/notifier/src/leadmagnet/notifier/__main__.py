from leadmagnet.notifier.main import main

main()
