"""Receipts (``zkmargin.receipt/1``) that a trader checks offline.

An entry's leaf (its hashed fields, :data:`~.entry.HASHED_FIELDS`) is defined in :mod:`.entry`.
A receipt is what every append returns, and what the venue hands the trader with its answer::

    {"format": "zkmargin.receipt/1",
     "index": i,                       0-based leaf index (= entry seq - 1)
     "entry": {<the hashed fields>},
     "leaf_hash": "<64 hex>",
     "sth": {<zkmargin.sth/1: the signed tree head right after the append>},
     "inclusion_proof": ["<64 hex>", ...]}   PATH(i, D[0:tree_size]), RFC 9162 §2.1.3

:func:`check_receipt` needs nothing but the receipt and the venue's public key (and, optionally,
the bundle the trader sent): the head's signature, the entry's leaf hash, the inclusion proof up
to the signed root, and the bundle's hash.

May import :mod:`zkmargin.errors`, :mod:`zkmargin.crypto.ed25519` and the log's :mod:`.entry`,
:mod:`.merkle` and :mod:`.sth`. Used by the log (every append returns one), the audit and the CLI
(``receipt``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from zkmargin.errors import FormatError, ReceiptRejectedError

from .entry import HASHED_FIELDS, bundle_hash_of, entry_leaf_hash
from .merkle import HASH_SIZE, verify_inclusion
from .sth import SignedTreeHead, hex_bytes, read_json_document, uint_field

RECEIPT_FORMAT = "zkmargin.receipt/1"
# fields that are always strings; the others are strings or null (seq is an integer)
REQUIRED_STRINGS = ("time", "software", "policy_digest", "market_digest", "threshold", "bundle_hash", "result")
RECEIPT_KEYS = ("format", "index", "entry", "leaf_hash", "sth", "inclusion_proof")
MAX_PROOF_LENGTH = 64


@dataclass
class Receipt:
    index: int
    entry: dict
    leaf_hash: bytes
    sth: SignedTreeHead
    inclusion_proof: list[bytes]

    def to_json_dict(self) -> dict:
        return {"format": RECEIPT_FORMAT, "index": self.index, "entry": dict(self.entry),
                "leaf_hash": self.leaf_hash.hex(), "sth": self.sth.to_json_dict(),
                "inclusion_proof": [p.hex() for p in self.inclusion_proof]}

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict(), indent=2) + "\n"

    def save(self, path) -> None:
        from zkmargin.files.atomic import write_atomic

        write_atomic(path, self.to_json().encode())

    @classmethod
    def from_json_dict(cls, data, source=None) -> Receipt:
        """Strict parse: a malformed receipt is a FormatError naming the field."""
        if not isinstance(data, dict):
            raise FormatError("a receipt is a JSON object", source=source)
        if data.get("format") != RECEIPT_FORMAT:
            raise FormatError(f"not a log receipt (format must be {RECEIPT_FORMAT!r})", source=source, field="format")
        missing = [k for k in RECEIPT_KEYS if k not in data]
        extra = sorted(set(data) - set(RECEIPT_KEYS))
        if missing or extra:
            raise FormatError(f"a receipt has exactly the keys {list(RECEIPT_KEYS)}", source=source,
                              field=(missing or extra)[0])
        index = uint_field(data["index"], source, "index")
        entry = data["entry"]
        if not isinstance(entry, dict):
            raise FormatError("must be an object", source=source, field="entry")
        missing = [k for k in HASHED_FIELDS if k not in entry]
        extra = sorted(set(entry) - set(HASHED_FIELDS))
        if missing or extra:
            raise FormatError(f"an entry has exactly the fields {list(HASHED_FIELDS)}", source=source,
                              field="entry." + (missing or extra)[0])
        seq = entry["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise FormatError("must be a positive integer", source=source, field="entry.seq")
        for k in HASHED_FIELDS[1:]:
            v = entry[k]
            if not (isinstance(v, str) or (v is None and k not in REQUIRED_STRINGS)):
                kind = "a string" if k in REQUIRED_STRINGS else "a string or null"
                raise FormatError(f"must be {kind}", source=source, field=f"entry.{k}")
        if entry["result"] not in ("accepted", "rejected"):
            raise FormatError("must be 'accepted' or 'rejected'", source=source, field="entry.result")
        proof = data["inclusion_proof"]
        if not isinstance(proof, list) or len(proof) > MAX_PROOF_LENGTH:
            raise FormatError(f"must be a list of at most {MAX_PROOF_LENGTH} hashes", source=source,
                              field="inclusion_proof")
        return cls(
            index=index, entry=dict(entry),
            leaf_hash=hex_bytes(data["leaf_hash"], source, "leaf_hash", HASH_SIZE),
            sth=SignedTreeHead.from_json_dict(data["sth"], source, prefix="sth."),
            inclusion_proof=[hex_bytes(p, source, f"inclusion_proof[{i}]", HASH_SIZE) for i, p in enumerate(proof)],
        )

    @classmethod
    def load(cls, src) -> Receipt:
        if isinstance(src, Receipt):
            return src
        data, source = read_json_document(src, "receipt")
        return cls.from_json_dict(data, source)


@dataclass
class ReceiptCheck:
    """A receipt that checked out."""

    index: int
    entry: dict
    sth: SignedTreeHead
    bundle_checked: bool = False
    notes: list = field(default_factory=list)

    def to_json_dict(self) -> dict:
        return {"valid": True, "index": self.index, "seq": self.entry["seq"], "result": self.entry["result"],
                "code": self.entry["code"], "reason": self.entry["reason"], "challenge": self.entry["challenge"],
                "bundle_hash": self.entry["bundle_hash"], "bundle_checked": self.bundle_checked,
                "log_id": self.sth.log_id.hex(), "tree_size": self.sth.tree_size,
                "timestamp": self.sth.timestamp, "time": self.sth.time, "root_hash": self.sth.root_hash.hex()}

    def to_text(self) -> str:
        e = self.entry
        outcome = e["result"] + (f" ({e['code']}: {e['reason']})" if e["result"] == "rejected" else "")
        lines = [
            f"valid: entry {e['seq']} of the venue's log, {outcome}",
            f"  logged at       {e['time']}",
            f"  in signed head  tree size {self.sth.tree_size}, root {self.sth.root_hash.hex()}, signed {self.sth.time}",
            f"  venue key       {self.sth.log_id.hex()}",
            "  bundle          " + ("this bundle (hash matches)" if self.bundle_checked
                                    else f"hash {e['bundle_hash']} (give --bundle to compare)"),
        ]
        return "\n".join(lines) + "\n"


def check_receipt(receipt, venue_key, *, bundle=None) -> ReceiptCheck:
    """Check a receipt offline with the venue's public key only (and, with ``bundle``, that the
    logged bundle hash is this bundle's). Raises :class:`FormatError` / :class:`InputError` for
    a malformed receipt, key or bundle file, :class:`ReceiptRejectedError` for a well-formed one
    that does not check out."""
    from zkmargin.crypto.ed25519 import load_public_key, public_key_hex
    from zkmargin.errors import InputError

    r = Receipt.load(receipt)
    source = receipt if isinstance(receipt, (str, os.PathLike)) and not str(receipt).lstrip().startswith("{") else None
    where = f"{os.fspath(source)}: " if source is not None else ""
    key_hex = public_key_hex(load_public_key(venue_key, "venue public key", InputError))

    def reject(message: str):
        raise ReceiptRejectedError(where + message)

    if r.sth.log_id.hex() != key_hex:
        reject(f"the receipt is from another log (its key {r.sth.log_id.hex()[:16]}…, not the venue key "
               f"{key_hex[:16]}…)")
    if not r.sth.signature_valid(key_hex):
        reject("the signed tree head's signature does not verify under the venue key")
    if entry_leaf_hash(r.entry) != r.leaf_hash:
        reject(f"entry {r.entry['seq']} does not hash to the receipt's leaf hash: the entry was altered")
    if r.index != r.entry["seq"] - 1:
        reject(f"the receipt's index {r.index} is not entry {r.entry['seq']}'s position")
    if not verify_inclusion(r.leaf_hash, r.index, r.sth.tree_size, r.inclusion_proof, r.sth.root_hash):
        reject(f"the inclusion proof does not lead to the signed root: entry {r.entry['seq']} is not in the "
               f"signed tree of size {r.sth.tree_size} at that index")
    out = ReceiptCheck(index=r.index, entry=r.entry, sth=r.sth)
    if bundle is not None:
        if bundle_hash_of(bundle) != r.entry["bundle_hash"]:
            reject("the receipt is for another bundle (the logged bundle hash differs from this bundle's)")
        out.bundle_checked = True
    return out
