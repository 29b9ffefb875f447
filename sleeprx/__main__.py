"""``python -m sleeprx``: the command line."""

from sleeprx.app.cli import main

main()
