"""The ``zkmargin`` command line (click). Entry point: :func:`zkmargin.cli.main.main`.

The group lives in :mod:`zkmargin.cli.app`; commands in ``commands_*.py`` modules that
:mod:`zkmargin.cli.main` imports; errors map to exit codes in :mod:`zkmargin.cli.errors`.

May import anything of the library; imported by nobody but its own modules.
"""
