"""`python -m nail_os` runs the same CLI as `nail-os`."""

from nail_os.cli.main import main

main()
