"""``python -m zkmargin.cli``: the same as the ``zkmargin`` command."""

from .main import main

main()
