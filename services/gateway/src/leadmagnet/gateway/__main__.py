from leadmagnet.gateway.main import main

main()
