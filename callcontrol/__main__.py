from callcontrol.cli import main

main()
