"""Atomic file writes: readers see the old file or the whole new one, never a part.

A temporary file in the destination's folder is written, flushed and fsynced, given its final
permissions, renamed over the destination, and the folder is fsynced so the rename survives a
crash. On any failure (including Ctrl-C) the temporary file is removed and the destination is
untouched.

Imports the standard library only. Used by the bundle, the document models and the custodian
workflows (openings, keys).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically. ``mode`` (e.g. ``0o600`` for private files) sets the
    permissions; by default they follow the umask like a normal new file."""
    path = Path(path)
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
