from leadmagnet.renderer.main import main

main()
