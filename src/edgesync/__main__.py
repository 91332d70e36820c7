"""``python -m edgesync``: the ``edgesync`` command."""

from edgesync.cli import main

main()
