from onrecord.cli import main

main()
