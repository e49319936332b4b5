"""``python -m zkmargin.cli``: the same as the ``zkmargin`` command.

Imports :mod:`.main`. Used by ``python -m zkmargin.cli``.
"""

from .main import main

main()
