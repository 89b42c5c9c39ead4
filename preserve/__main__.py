from preserve.cli import main

main()
