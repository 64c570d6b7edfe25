from leadmagnet.imager.main import main

main()
