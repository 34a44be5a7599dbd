from smg_fast.cli import main

main()
