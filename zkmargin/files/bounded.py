"""Bounded reads: a small document (a key, an attestation, openings) read whole, refused when it is
larger than its limit, with a one-line error naming the file (the input layer's rules,
:mod:`.inputs`; ``-`` is standard input).

May import :mod:`zkmargin.errors` and :mod:`.inputs`. Used by the Ed25519 key loaders
(:mod:`zkmargin.crypto.ed25519`) and the attestation and openings documents
(:mod:`zkmargin.documents`).
"""

from __future__ import annotations

import os

from .inputs import read_limited

#: The largest small document read whole (1 MiB).
MAX_DOCUMENT_BYTES = 1 << 20


def read_small(path: str | os.PathLike[str], what: str, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """The bytes of the file at ``path`` (``what`` names it in messages, e.g. ``"venue key"``), at
    most ``limit``."""
    return read_limited(path, limit, what)[0]
