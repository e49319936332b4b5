"""Bounded reads: a small document (a key, an attestation, openings) read whole, refused when it is
larger than its limit, with a one-line :class:`~zkmargin.errors.InputError` naming the file.

May import :mod:`zkmargin.errors` and the standard library only. Used by the Ed25519 key loaders
(:mod:`zkmargin.crypto.ed25519`) and the attestation and openings documents
(:mod:`zkmargin.documents`).
"""

from __future__ import annotations

import os

from ..errors import InputError

#: The largest small document read whole (1 MiB).
MAX_DOCUMENT_BYTES = 1 << 20


def read_small(path: str | os.PathLike[str], what: str, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """The bytes of the file at ``path`` (``what`` names it in messages), at most ``limit``."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read the {what} ({exc.strerror})", source=str(path)) from None
    if len(data) > limit:
        raise InputError(f"the {what} is too large", source=str(path))
    return data
