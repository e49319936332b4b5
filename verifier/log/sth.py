"""Signed tree heads of the verification log (``zkmargin.sth/1``).

After every append the venue signs the new tree head with its Ed25519 key. The signed message is
fixed-width binary::

    "zkmargin.sth/1\\0" || log_id (32 bytes: the venue's raw public key)
                        || tree_size (8 bytes, big-endian) || timestamp (8 bytes, big-endian,
                           milliseconds since 1970-01-01 UTC) || root_hash (32 bytes: MTH of the
                           first tree_size leaves, RFC 9162)

and the document an auditor or a trader keeps is::

    {"format": "zkmargin.sth/1", "log_id": "<64 hex>", "tree_size": n, "timestamp": ms,
     "root_hash": "<64 hex>", "signature": "<128 hex>"}

Whoever holds one signed head can later demand a consistency proof from it to any newer head: a
venue that rewrites, removes or reorders an entry it had already signed cannot produce one.

May import :mod:`zkmargin.errors` and :mod:`zkmargin.crypto.ed25519`. Used by the log, receipts,
the audit and the CLI (``log-head``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime

from zkmargin.errors import FormatError
from zkmargin.files.inputs import parse_json, read_input

STH_FORMAT = "zkmargin.sth/1"
STH_DOMAIN = b"zkmargin.sth/1\0"
STH_KEYS = ("format", "log_id", "tree_size", "timestamp", "root_hash", "signature")
MAX_U63 = (1 << 63) - 1
MAX_DOCUMENT_BYTES = 1 << 20


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def ms_to_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def hex_bytes(value, source, field: str, size: int) -> bytes:
    """A lowercase hex field of exactly ``size`` bytes (FormatError naming the file and field)."""
    if not isinstance(value, str) or value != value.lower():
        raise FormatError("must be a lowercase hex string", source=source, field=field)
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise FormatError("is not valid hex", source=source, field=field) from None
    if len(raw) != size:
        raise FormatError(f"must be {size} bytes, got {len(raw)}", source=source, field=field)
    return raw


def uint_field(value, source, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_U63:
        raise FormatError("must be a non-negative integer", source=source, field=field)
    return value


def read_json_document(src, what: str) -> tuple[dict, str | None]:
    """A JSON object from a dict, JSON text/bytes or a path (``-``: standard input), read by the
    input layer's rules (:mod:`zkmargin.files.inputs`: at most 1 MiB, no duplicate keys):
    (data, source)."""
    if isinstance(src, dict):
        return src, None
    kind = "sth" if what == "signed tree head" else "receipt"
    source = None
    if isinstance(src, (str, os.PathLike)) and not (isinstance(src, str) and src.lstrip().startswith("{")):
        src, source = read_input(src, kind)
    data = parse_json(src, kind=kind, source=source, numbers="plain")
    if not isinstance(data, dict):
        raise FormatError(f"the {what} is not a JSON object", source=source)
    return data, source


@dataclass(frozen=True)
class SignedTreeHead:
    log_id: bytes
    tree_size: int
    timestamp: int
    root_hash: bytes
    signature: bytes

    def message(self) -> bytes:
        """The exact bytes the venue signs."""
        return (STH_DOMAIN + self.log_id + self.tree_size.to_bytes(8, "big") + self.timestamp.to_bytes(8, "big")
                + self.root_hash)

    def signature_valid(self, public_key=None) -> bool:
        """Whether the signature verifies under ``public_key`` (default: the head's own log id,
        which proves nothing about who signed unless the caller knows that key is the venue's)."""
        from cryptography.exceptions import InvalidSignature

        from zkmargin.crypto.ed25519 import load_public_key
        from zkmargin.errors import ZkMarginError

        try:
            key = load_public_key(public_key if public_key is not None else self.log_id, "venue public key")
            key.verify(self.signature, self.message())
        except (InvalidSignature, ZkMarginError, ValueError):
            return False
        return True

    @property
    def time(self) -> str:
        return ms_to_iso(self.timestamp)

    def to_json_dict(self) -> dict:
        return {"format": STH_FORMAT, "log_id": self.log_id.hex(), "tree_size": self.tree_size,
                "timestamp": self.timestamp, "root_hash": self.root_hash.hex(), "signature": self.signature.hex()}

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict(), indent=2) + "\n"

    @classmethod
    def from_json_dict(cls, data, source=None, prefix: str = "") -> SignedTreeHead:
        """Strict parse; ``prefix`` names where the head sits in a larger document ("sth.")."""
        if not isinstance(data, dict):
            raise FormatError("a signed tree head is a JSON object", source=source, field=prefix.rstrip(".") or None)
        if data.get("format") != STH_FORMAT:
            raise FormatError(f"not a signed tree head (format must be {STH_FORMAT!r})", source=source,
                              field=prefix + "format")
        extra = sorted(set(data) - set(STH_KEYS))
        missing = [k for k in STH_KEYS if k not in data]
        if missing or extra:
            raise FormatError(f"a signed tree head has exactly the keys {list(STH_KEYS)}", source=source,
                              field=prefix + (missing or extra)[0])
        return cls(
            log_id=hex_bytes(data["log_id"], source, prefix + "log_id", 32),
            tree_size=uint_field(data["tree_size"], source, prefix + "tree_size"),
            timestamp=uint_field(data["timestamp"], source, prefix + "timestamp"),
            root_hash=hex_bytes(data["root_hash"], source, prefix + "root_hash", 32),
            signature=hex_bytes(data["signature"], source, prefix + "signature", 64),
        )

    @classmethod
    def load(cls, src) -> SignedTreeHead:
        if isinstance(src, SignedTreeHead):
            return src
        data, source = read_json_document(src, "signed tree head")
        return cls.from_json_dict(data, source)


def sign_tree_head(private_key, tree_size: int, root_hash: bytes, timestamp: int) -> SignedTreeHead:
    """Sign (tree_size, timestamp, root_hash) with the venue's Ed25519 private key."""
    from zkmargin.crypto.ed25519 import public_key_hex

    unsigned = SignedTreeHead(bytes.fromhex(public_key_hex(private_key)), tree_size, timestamp, bytes(root_hash),
                              b"")
    return SignedTreeHead(unsigned.log_id, tree_size, timestamp, bytes(root_hash),
                          private_key.sign(unsigned.message()))
