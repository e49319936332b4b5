"""The standard streams, made safe before any command runs (issue 11, item 6).

A program started with a standard stream closed (``zkmargin prove ... 2>&-``) has no file
descriptor 0, 1 or 2: the first file it opens would get that number, and a message meant for
stderr would land in it (in the proof being written), or fail and turn a success into exit 1.
:func:`ensure_std_streams` opens ``/dev/null`` on every closed one before anything else is
opened: messages to a closed stderr are dropped, the exit code stays the command's. A closed
stdout stays closed for Python (``sys.stdout`` is None): a command whose output is stdout then
fails with exit 2 instead of losing the document silently (:func:`zkmargin.files.atomic.write_atomic`,
:func:`zkmargin.cli.output.emit_json`).

Imports the standard library only. Used by :mod:`.main`.
"""

from __future__ import annotations

import os
import sys


def ensure_std_streams() -> None:
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            try:
                null = os.open(os.devnull, os.O_RDWR)
            except OSError:
                continue
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
