from leadmagnet.reporter.main import main

main()
