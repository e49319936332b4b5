"""One entry of the verification log and its Merkle leaf.

An entry's leaf data is ``"zkmargin.log-entry/2\\0" || canonical JSON of its hashed fields``
(sorted keys, compact, ASCII); its leaf hash is ``SHA-256(0x00 || leaf data)`` (RFC 9162). The
hashed fields are :data:`HASHED_FIELDS`; nothing in them is private (digests, the threshold, the
challenge, the venue's account id for the trader, the hash of the bundle, the outcome). A
rejected entry keeps the bundle's hash and the reason (at most :data:`MAX_REASON` characters),
never the body; accepted entries keep the bundle so an auditor can re-verify it.

May import :mod:`zkmargin.errors`, the bundle (:mod:`zkmargin.documents.bundle`) and the Merkle
hashes (:mod:`.merkle`). Used by every other module of the log, by receipts and by the audit.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

from zkmargin.documents.bundle import ProofBundle
from zkmargin.errors import ReplayError, ZkMarginError

from .merkle import leaf_hash

MAX_REASON = 1000
LEAF_DOMAIN = b"zkmargin.log-entry/2\0"
HASHED_FIELDS = (
    "seq", "time", "software", "policy_digest", "market_digest", "circuit_digest", "threshold",
    "challenge", "subject", "bundle_hash", "result", "code", "reason", "attestations_hash",
)


def canonical_json_bytes(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def leaf_data(fields: dict) -> bytes:
    """The RFC 9162 leaf data d of one entry (KeyError when a hashed field is missing)."""
    return LEAF_DOMAIN + canonical_json_bytes({k: fields[k] for k in HASHED_FIELDS})


def entry_leaf_hash(fields: dict) -> bytes:
    return leaf_hash(leaf_data(fields))


def bundle_hash_of(bundle) -> str:
    """The ``bundle_hash`` the log records for a bundle: SHA-256 of its canonical JSON (a parsed
    bundle or a file that parses), or of the raw bytes of one that does not parse."""
    if isinstance(bundle, (str, os.PathLike)) and not (isinstance(bundle, str) and bundle.lstrip().startswith("{")):
        try:
            bundle = ProofBundle.load(bundle)
        except ZkMarginError:
            with open(bundle, "rb") as fh:
                bundle = fh.read(1 << 20)
    return hashlib.sha256(bundle_bytes(bundle)).hexdigest()


def bundle_bytes(bundle) -> bytes:
    """What the log hashes (and, for accepted entries, stores) for a bundle: canonical JSON of a
    parsed bundle, or the raw bytes a client sent when they did not parse."""
    if isinstance(bundle, ProofBundle):
        return json.dumps(bundle.to_json_dict(), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=True).encode()
    if isinstance(bundle, dict):
        return json.dumps(bundle, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                          default=str).encode()
    if isinstance(bundle, str):
        return bundle.encode()
    if isinstance(bundle, (bytes, bytearray)):
        return bytes(bundle)
    return repr(bundle).encode()


def as_bytes(value) -> bytes:
    """A stored BLOB as bytes (a tampered row may hold TEXT or a number instead)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return str(value).encode("utf-8", "surrogateescape")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def software_id() -> str:
    """Which zkmargin wrote an entry (an auditor re-verifies with the same circuit builder)."""
    from zkmargin import __version__
    from zkmargin.crypto.r1cs_transcript import PROTOCOL

    return f"zkmargin {__version__} ({PROTOCOL.decode()})"


@dataclass
class LogEntry:
    """One stored row, as stored (the audit decides what to trust)."""

    id: int
    seq: Any
    time: Any
    software: Any
    policy_digest: Any
    market_digest: Any
    circuit_digest: Any
    threshold: Any
    challenge: Any
    subject: Any
    bundle_hash: Any
    result: Any
    code: Any
    reason: Any
    attestations_hash: Any
    bundle: bytes | None
    attestations: bytes | None
    leaf_hash: Any

    def fields(self) -> dict:
        return {k: getattr(self, k) for k in HASHED_FIELDS}

    def to_json_dict(self) -> dict:
        return {"id": self.id, **self.fields(), "leaf_hash": self.leaf_hash}


def replay_error(challenge: bytes | None, seq: int) -> ReplayError:
    """The refusal of a challenge entry ``seq`` accepted already (only an accepted challenge has
    one, so ``challenge`` is never None here)."""
    return ReplayError(f"the challenge {(challenge or b'').hex()[:16]}… was accepted already (log entry {seq}); "
                       "a challenge answers one proof only: ask for a fresh one")
