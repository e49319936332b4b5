"""Atomic file writes: readers see the old file or the whole new one, never a part.

A temporary file in the destination's folder is written, flushed and fsynced, given its final
permissions, renamed over the destination, and the folder is fsynced so the rename survives a
crash. On any failure (including Ctrl-C) the temporary file is removed and the destination is
untouched.

``-`` writes to standard output (public documents only: a private file is refused).

Imports :mod:`zkmargin.errors` and the standard library. Used by the bundle, the document models and the custodian
workflows (openings, keys).
"""

from __future__ import annotations

import errno
import os
import sys
import tempfile
from pathlib import Path

from ..errors import InputError


def write_atomic(path, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically (``-``: standard output). ``mode`` (e.g. ``0o600``
    for private files) sets the permissions; by default they follow the umask like a normal new
    file. A failure names ``path``, never the temporary file."""
    if os.fspath(path) == "-":
        if mode is not None:
            raise InputError("a private file cannot go to standard output; give a file name",
                             source="-")
        if sys.stdout is None:
            raise OSError(errno.EBADF, "standard output is closed; the document was not written")
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        _write_atomic(Path(path), data, mode)
    except OSError as exc:
        if exc.filename == os.fspath(path):
            raise
        raise OSError(exc.errno, exc.strerror or str(exc), os.fspath(path)) from None


def _write_atomic(path: Path, data: bytes, mode: int | None) -> None:
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + path.name + ".", suffix=".tmp")
    try:
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
        else:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the rename itself is still atomic


def write_private(path, data: bytes) -> None:
    """Atomic write of a file only its owner may read (0600): openings and private keys."""
    write_atomic(path, data, mode=0o600)
