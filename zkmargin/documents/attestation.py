"""The custodian's attestation (``zkmargin.attestation/2``): signed commitments to the slots of one
account, for one venue and one account the venue knows, public, carried in the proof bundle.

A custodian that holds (part of) a trader's book commits to the account's values slot by slot —
``V_j = v_j·B + γ_j·B̃``, the same Pedersen commitments a margin proof is about — and signs the
commitments with Ed25519 (:mod:`zkmargin.crypto.ed25519`)::

    {"format": "zkmargin.attestation/2", "custodian": "<ed25519 public key, hex>",
     "audience": "<the policy's venue>", "subject": "<the account id the venue knows>",
     "challenge": null | "<the venue's challenge for this proof, hex>",
     "policy_digest": "...", "as_of": "2024-06-03T08:00:00Z", "nonce": "<16 bytes hex>",
     "slots": ["size:BTCUSDT", ...], "commitments": ["<96 hex>", ...],
     "signature": "<64 bytes hex>"}

The signature covers ``b"zkmargin.attestation/2\\0"`` followed by the canonical JSON (sorted
keys, compact, ASCII) of every field but ``signature``. ``zkmargin.attestation/1`` (no audience,
subject optional, no challenge) is refused: it could be replayed to any venue for any account.

**Several custodians.** Commitments add up: ``V_a + V_b = (v_a + v_b)·B + (γ_a + γ_b)·B̃``. Each
custodian attests the slots it knows; :func:`slot_coverage` holds the combination rules both sides
apply (the trader's :func:`zkmargin.workflows.custodian.combine`, the venue's
:mod:`zkmargin.documents.trust`): every slot of a required kind attested by at least one custodian;
sizes, the cost basis, balances and isolated margins add up, but an entry price does not, so in
isolated mode the slots of one position (``size:X``, ``entry:X``, ``isolated:X``) come from one
single custodian; a packed position slot (K-slot layout) comes from exactly one custodian.

May import :mod:`zkmargin.errors`, :mod:`zkmargin.files` and :mod:`zkmargin.crypto`. Used by the
bundle (which carries attestations), the trust rule, the custodian workflow and the CLI.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Union

from ..crypto.ed25519 import load_public_key
from ..errors import FormatError, ZkMarginError
from ..files.atomic import write_atomic
from ..files.inputs import kind_of_format, parse_json, read_input

ATTESTATION_FORMAT = "zkmargin.attestation/2"
OLD_ATTESTATION_FORMATS = ("zkmargin.attestation/1",)
SIGNATURE_DOMAIN = b"zkmargin.attestation/2\0"
MAX_SUBJECT_CHARS = 256
MAX_AUDIENCE_CHARS = 256
CHALLENGE_BYTES = (16, 64)  # as zkmargin.api accepts for a proof's challenge

JSONDict = dict[str, Any]
#: Where a document came from: a dict, its JSON text or bytes, or a path.
DocumentSource = Union[JSONDict, str, bytes, "os.PathLike[str]"]

_ATTESTATION_KEYS = ("format", "custodian", "audience", "subject", "challenge", "policy_digest", "as_of",
                     "nonce", "slots", "commitments", "signature")


def load_json_document(src: DocumentSource, fmt: str, what: str,
                       old: Sequence[str] = ()) -> tuple[JSONDict, str | None]:
    """A signed or private document's JSON object from a dict, JSON text or bytes, or a path (at
    most the input layer's cap for its kind, :mod:`zkmargin.files.inputs`), with its format tag checked:
    (data, source)."""
    source = None
    if isinstance(src, dict):
        return src, None
    kind = kind_of_format(fmt)
    if isinstance(src, (str, os.PathLike)) and not (isinstance(src, str) and src.lstrip().startswith("{")):
        src, source = read_input(src, kind)  # "-": standard input
    # the input layer (zkmargin.files.inputs): size cap, depth, digits, no duplicate keys
    data = parse_json(src, kind=kind, source=source, numbers="plain")
    if isinstance(data, dict) and data.get("format") in old:
        raise FormatError(old_format_message(data["format"]), source=source, field="format")
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise FormatError(f"not {what} (format must be {fmt!r})", source=source, field="format")
    return data, source


def canonical_json_bytes(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


_LOWER_HEX = re.compile(r"^(?:[0-9a-f]{2})*$")


def _hex_at(value: object, field: str, source: str | None, size: int | None = None,
            bounds: tuple[int, int] | None = None) -> bytes:
    """Bytes from a signed document's hex field: lowercase digits only, an even number of them
    (the signature covers the exact string), with a one-line FormatError naming the field."""
    if not isinstance(value, str) or not _LOWER_HEX.match(value):
        raise FormatError("must be a string of lowercase hex digits (an even number)", source=source,
                          field=field)
    raw = bytes.fromhex(value)
    if size is not None and len(raw) != size:
        raise FormatError(f"must be {size} bytes, got {len(raw)}", source=source, field=field)
    if bounds is not None and not bounds[0] <= len(raw) <= bounds[1]:
        raise FormatError(f"must be {bounds[0]} to {bounds[1]} bytes, got {len(raw)}", source=source,
                          field=field)
    return raw


def text_at(value: object, field: str, source: str | None, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FormatError("must be a non-empty string", source=source, field=field)
    if len(value) > limit or not value.isprintable():
        raise FormatError(f"must be printable and at most {limit} characters", source=source, field=field)
    return value


def old_format_message(fmt: str) -> str:
    return (f"{fmt} is an older attestation format (no audience, subject or challenge) that any venue "
            f"could be shown for any account; ask the custodian to attest again ({ATTESTATION_FORMAT})")


@dataclass
class SignedCommitments:
    """A custodian's signed commitments to (some of) the slots of one account, for one venue
    (``audience``), one account (``subject``) and, optionally, one challenge."""

    custodian: str
    audience: str
    subject: str
    challenge: str | None
    policy_digest: str
    as_of: str
    nonce: str
    slots: list[str]
    commitments: list[bytes]
    signature: bytes = b""

    def signed_fields(self) -> JSONDict:
        return {
            "format": ATTESTATION_FORMAT,
            "custodian": self.custodian,
            "audience": self.audience,
            "subject": self.subject,
            "challenge": self.challenge,
            "policy_digest": self.policy_digest,
            "as_of": self.as_of,
            "nonce": self.nonce,
            "slots": list(self.slots),
            "commitments": [c.hex() for c in self.commitments],
        }

    def message(self) -> bytes:
        """The exact bytes the custodian signs (domain-separated canonical JSON)."""
        return SIGNATURE_DOMAIN + canonical_json_bytes(self.signed_fields())

    def to_json_dict(self) -> JSONDict:
        out = self.signed_fields()
        out["signature"] = self.signature.hex()
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict(), indent=2) + "\n"

    def digest(self) -> str:
        return hashlib.sha256(canonical_json_bytes(self.to_json_dict())).hexdigest()

    def save(self, path: str | os.PathLike[str]) -> None:
        write_atomic(path, self.to_json().encode())

    def signature_valid(self) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            load_public_key(self.custodian).verify(self.signature, self.message())
        except (InvalidSignature, ZkMarginError):
            return False
        return True

    @classmethod
    def from_json_dict(cls, data: object, source: str | None = None, where: str = "") -> SignedCommitments:
        """Parse strictly; ``where`` prefixes the field names in errors (``attestations[0].``)."""
        if not isinstance(data, dict):
            raise FormatError("an attestation is a JSON object", source=source, field=where.rstrip(".") or None)
        fmt = data.get("format")
        if fmt in OLD_ATTESTATION_FORMATS:
            raise FormatError(old_format_message(fmt), source=source, field=f"{where}format")
        if fmt != ATTESTATION_FORMAT:
            shown = fmt if isinstance(fmt, str) else type(fmt).__name__
            raise FormatError(f"not an attestation (format must be {ATTESTATION_FORMAT!r}, got {shown!r})",
                              source=source, field=f"{where}format")
        missing = [k for k in _ATTESTATION_KEYS if k not in data]
        if missing:
            raise FormatError("missing field", source=source, field=f"{where}{missing[0]}")
        extra = sorted(set(data) - set(_ATTESTATION_KEYS))
        if extra:
            raise FormatError("unknown field", source=source, field=f"{where}{extra[0]}")
        _hex_at(data["custodian"], f"{where}custodian", source, 32)
        text_at(data["audience"], f"{where}audience", source, MAX_AUDIENCE_CHARS)
        text_at(data["subject"], f"{where}subject", source, MAX_SUBJECT_CHARS)
        if data["challenge"] is not None:
            _hex_at(data["challenge"], f"{where}challenge", source, bounds=CHALLENGE_BYTES)
        _hex_at(data["policy_digest"], f"{where}policy_digest", source, 32)
        _hex_at(data["nonce"], f"{where}nonce", source, bounds=(16, 64))
        if not isinstance(data["as_of"], str):
            raise FormatError("must be an ISO 8601 timestamp string", source=source, field=f"{where}as_of")
        parse_as_of(data["as_of"], f"{where}as_of", source)
        slots = data["slots"]
        if not isinstance(slots, list) or not slots or not all(isinstance(x, str) and x for x in slots):
            raise FormatError("must be a non-empty list of slot names", source=source, field=f"{where}slots")
        if len(set(slots)) != len(slots):
            raise FormatError("names a slot twice", source=source, field=f"{where}slots")
        comms = data["commitments"]
        if not isinstance(comms, list) or len(comms) != len(slots):
            raise FormatError("one commitment per slot is needed", source=source, field=f"{where}commitments")
        return cls(
            custodian=data["custodian"], audience=data["audience"], subject=data["subject"],
            challenge=data["challenge"], policy_digest=data["policy_digest"], as_of=data["as_of"],
            nonce=data["nonce"], slots=list(slots),
            commitments=[_hex_at(c, f"{where}commitments[{i}]", source, 48) for i, c in enumerate(comms)],
            signature=_hex_at(data["signature"], f"{where}signature", source, 64),
        )

    @classmethod
    def load(cls, src: SignedCommitments | DocumentSource) -> SignedCommitments:
        if isinstance(src, SignedCommitments):
            return src
        data, source = load_json_document(src, ATTESTATION_FORMAT, "an attestation", OLD_ATTESTATION_FORMATS)
        return cls.from_json_dict(data, source)


def parse_as_of(text: str, field: str, source: str | None) -> datetime:
    """An attestation's time as an aware UTC datetime (FormatError naming the field)."""
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise FormatError("is not an ISO 8601 timestamp", source=source, field=field) from None
    if t.tzinfo is None:
        raise FormatError("the timestamp needs a time zone (e.g. 'Z')", source=source, field=field)
    return t.astimezone(UTC)



def _position_groups(slot_names: Sequence[str], mode: str) -> dict[str, str]:
    """Slots that must come from one custodian together (isolated mode: a position's size, entry
    price and isolated margin)."""
    if mode != "isolated":
        return {}
    out: dict[str, str] = {}
    for s in slot_names:
        kind, _, key = s.partition(":")
        if kind in ("size", "entry", "isolated"):
            out[s] = key
    return out


def slot_coverage(slot_names: Sequence[str], attestations: Sequence[SignedCommitments], mode: str,
                  error: type[ZkMarginError], *, required: set[str] | None = None,
                  where: str = "") -> dict[str, list[int]]:
    """For every slot, the attestations (indices) that cover it; enforces the combination rules:
    every slot of ``required`` (default: all) is covered, isolated positions come from one
    custodian."""
    known = set(slot_names)
    cover: dict[str, list[int]] = {s: [] for s in slot_names}
    for k, a in enumerate(attestations):
        unknown = [s for s in a.slots if s not in known]
        if unknown:
            raise error(f"{where}attestation {k} names slot(s) the policy's circuit does not have: {unknown}")
        for s in a.slots:
            cover[s].append(k)
    need = slot_names if required is None else [s for s in slot_names if s in required]
    missing = [s for s in need if not cover[s]]
    if missing:
        raise error(f"{where}slot(s) {missing} are attested by no custodian")
    # K-slot layout: a position slot packs an instrument and a size (v = id + 2^A·q); the sum of two
    # custodians' commitments would read as a third instrument, so exactly one custodian attests it
    shared = [s for s in slot_names if s.startswith("position:") and len(cover[s]) > 1]
    if shared:
        raise error(f"{where}position slot(s) {shared} are attested by several custodians; a position slot packs "
                    "an instrument and a size and must come from exactly one custodian")
    groups = _position_groups(slot_names, mode)
    by_group: dict[str, set[int]] = {}
    for s, g in groups.items():
        by_group.setdefault(g, set()).update(cover[s])
    for g, ks in by_group.items():
        if len(ks) > 1:
            raise error(f"{where}the position in {g!r} is attested by several custodians; in isolated mode its "
                        "size, entry price and isolated margin must come from one custodian")
    return cover
