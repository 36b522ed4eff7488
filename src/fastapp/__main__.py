from fastapp.cli import main

main()
