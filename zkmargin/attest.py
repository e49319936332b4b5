"""Custodian attestations, openings, and proofs over attested commitments.

A custodian that holds (part of) a trader's book commits to the account's values slot by slot —
``V_j = v_j·B + γ_j·B̃``, the same Pedersen commitments a margin proof is about — and signs the
commitments with Ed25519. It hands out two documents:

* the **attestation** (public, for the venue; the trader's proof bundle carries it)::

      {"format": "zkmargin.attestation/2", "custodian": "<ed25519 public key, hex>",
       "audience": "<the policy's venue>", "subject": "<the account id the venue knows>",
       "challenge": null | "<the venue's challenge for this proof, hex>",
       "policy_digest": "...", "as_of": "2024-06-03T08:00:00Z", "nonce": "<16 bytes hex>",
       "slots": ["size:BTCUSDT", ...], "commitments": ["<96 hex>", ...],
       "signature": "<64 bytes hex>"}

  The signature covers ``b"zkmargin.attestation/2\\0"`` followed by the canonical JSON (sorted
  keys, compact, ASCII) of every field but ``signature``. ``zkmargin.attestation/1`` (no audience,
  subject optional, no challenge) is refused: it could be replayed to any venue for any account.

* the **openings** (private, for the trader only; written with mode 0600)::

      {"format": "zkmargin.openings/1", "policy_digest": "...", "custodian": "<hex>" | null,
       "nonce": "<hex>" | null, "slots": [...], "values": ["<integer>", ...],
       "blindings": ["<32-byte scalar, hex>", ...]}

  ``values`` are the committed fixed-point integers (sizes at the size scale, the cost basis at
  size+price scale, entry prices at the price scale, amounts at the amount scale), as strings.

The trader proves with :func:`prove_attested`: the openings' blindings are passed to
:func:`zkmargin.api.prove`, so the proof's commitments are exactly the attested ones, and the
attestations are embedded in the bundle (``zkmargin.proof/2``). The venue's policy says which
custodians it accepts and what they must cover; :mod:`zkmargin.trust` enforces that rule inside
:func:`zkmargin.verify`.

**Several custodians.** Commitments add up: ``V_a + V_b = (v_a + v_b)·B + (γ_a + γ_b)·B̃``. Each
custodian attests the slots it knows (by default every slot of the policy, zero where it holds
nothing); the trader proves over the per-slot sums (values and blindings add), and the verifier
checks each signature, that every slot of a required kind is attested by at least one custodian,
and that each proof commitment is exactly the sum of the attested ones for its slot. Sizes, the
cost basis, balances and isolated margins are additive. An entry price is not, so in isolated mode
the slots of one position (``size:X``, ``entry:X``, ``isolated:X``) must all come from one single
custodian. Summing nets positions across custodians (a long at one and a short at another offset);
a venue that does not accept such netting must list a single custodian.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, localcontext
from typing import Iterable, Optional, Sequence

from .files.atomic import write_atomic
from .crypto.backends import get_backend
from .bundle import ProofBundle, hex_field
from .errors import (
    AttestationError,
    FormatError,
    InputError,
    OpeningRejectedError,
    ZkMarginError,
)
from .rules.decimals import EXACT
from .crypto.field import R
from .rules.models import SLOT_KINDS

ATTESTATION_FORMAT = "zkmargin.attestation/2"
OLD_ATTESTATION_FORMATS = ("zkmargin.attestation/1",)
OPENINGS_FORMAT = "zkmargin.openings/1"
SIGNATURE_DOMAIN = b"zkmargin.attestation/2\0"
MAX_DOCUMENT_BYTES = 1 << 20
MAX_SUBJECT_CHARS = 256
MAX_AUDIENCE_CHARS = 256
CHALLENGE_BYTES = (16, 64)  # as zkmargin.api accepts for a proof's challenge

_ATTESTATION_KEYS = ("format", "custodian", "audience", "subject", "challenge", "policy_digest", "as_of",
                     "nonce", "slots", "commitments", "signature")
_OPENINGS_KEYS = ("format", "policy_digest", "custodian", "nonce", "slots", "values", "blindings")
_INT = re.compile(r"^-?[0-9]+$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


# --- keys ----------------------------------------------------------------------------------------


def _ed25519():
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519


def generate_private_key():
    """A fresh Ed25519 private key (``cryptography`` object)."""
    return _ed25519().Ed25519PrivateKey.generate()


def private_key_pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_key_hex(key) -> str:
    """The 32-byte raw public key of a private or public Ed25519 key, as hex."""
    from cryptography.hazmat.primitives import serialization

    ed = _ed25519()
    if isinstance(key, ed.Ed25519PrivateKey):
        key = key.public_key()
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def _read_small(path, what: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read the {what} ({exc.strerror})", source=str(path)) from None
    if len(data) > MAX_DOCUMENT_BYTES:
        raise InputError(f"the {what} is too large", source=str(path))
    return data


def load_private_key(src, what: str = "custodian key", error=AttestationError):
    """An Ed25519 private key from a key object, PEM bytes, 32 raw bytes, a 64-hex-digit seed, or a
    path to a file holding PEM (PKCS#8) or the hex seed. ``what`` names the key in messages
    (a custodian's, the venue's log key); ``error`` is the class raised for a key that is not one."""
    from cryptography.hazmat.primitives import serialization

    ed = _ed25519()
    if isinstance(src, ed.Ed25519PrivateKey):
        return src
    source = None
    if isinstance(src, (str, os.PathLike)) and not (isinstance(src, str) and _HEX64.match(src.strip().lower())):
        source = os.fspath(src)
        src = _read_small(src, what)
    if isinstance(src, str):
        src = src.encode()
    data = bytes(src).strip()
    try:
        if data.startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(data, password=None)
            if not isinstance(key, ed.Ed25519PrivateKey):
                raise error(f"the {what} is not an Ed25519 private key", source=source)
            return key
        if _HEX64.match(data.decode("ascii", "replace").lower()):
            return ed.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(data.decode()))
        if len(data) == 32:
            return ed.Ed25519PrivateKey.from_private_bytes(data)
    except (ValueError, TypeError):
        pass
    raise error(f"the {what} is not an Ed25519 private key (PEM PKCS#8 or 32-byte hex seed)", source=source)


def load_public_key(src, what: str = "custodian public key", error=AttestationError):
    """An Ed25519 public key from a key object, 64 hex digits, 32 raw bytes, or a path to a file
    holding the hex or a PEM public key (``what`` and ``error`` as for :func:`load_private_key`)."""
    from cryptography.hazmat.primitives import serialization

    ed = _ed25519()
    if isinstance(src, ed.Ed25519PublicKey):
        return src
    if isinstance(src, ed.Ed25519PrivateKey):
        return src.public_key()
    source = None
    if isinstance(src, str) and _HEX64.match(src.strip().lower()):
        data = src.strip().lower().encode()
    elif isinstance(src, (str, os.PathLike)):
        source = os.fspath(src)
        data = _read_small(src, what).strip()
    else:
        data = bytes(src).strip()
    try:
        if data.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
            if isinstance(key, ed.Ed25519PublicKey):
                return key
        elif _HEX64.match(data.decode("ascii", "replace").lower()):
            return ed.Ed25519PublicKey.from_public_bytes(bytes.fromhex(data.decode()))
        elif len(data) == 32:
            return ed.Ed25519PublicKey.from_public_bytes(data)
    except (ValueError, TypeError):
        pass
    raise error(f"the {what} is not an Ed25519 public key (64 hex digits or PEM)", source=source)


def new_key_file(path, *, force: bool = False) -> str:
    """Create an Ed25519 signing key at ``path`` (PEM PKCS#8, written atomically, mode 0600) and
    return its public key (hex). Refuses to overwrite an existing file unless ``force``. What
    ``custodian-keygen`` and ``venue-keygen`` call."""
    if os.path.exists(path) and not force:
        raise InputError("the key file exists (use --force to overwrite)", source=os.fspath(path))
    key = generate_private_key()
    write_private(path, private_key_pem(key))
    return public_key_hex(key)


def key_id(src) -> str:
    """Canonical name of a custodian: its raw public key in lowercase hex."""
    return public_key_hex(load_public_key(src))


# --- documents -----------------------------------------------------------------------------------


def _hexfield(value, what: str, source, size: Optional[int] = None) -> bytes:
    return hex_field(value, what, source, size, lowercase=True)


def _strlist(value, what: str, source) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise FormatError(f"{what} must be a list of strings", source=source)
    if len(set(value)) != len(value):
        raise FormatError(f"{what} lists a slot twice", source=source)
    return list(value)


def _load_json(src, fmt: str, what: str, old: Sequence[str] = ()) -> tuple[dict, Optional[str]]:
    source = None
    if isinstance(src, dict):
        return src, None
    if isinstance(src, (str, os.PathLike)) and not (isinstance(src, str) and src.lstrip().startswith("{")):
        source = os.fspath(src)
        src = _read_small(src, what)
    if isinstance(src, (bytes, bytearray)) and len(src) > MAX_DOCUMENT_BYTES:
        raise FormatError(f"the {what} is too large", source=source)
    try:
        data = json.loads(src)
    except (ValueError, UnicodeDecodeError):
        raise FormatError(f"the {what} is not valid JSON", source=source) from None
    if isinstance(data, dict) and data.get("format") in old:
        raise FormatError(old_format_message(data["format"]), source=source, field="format")
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise FormatError(f"not {what} (format must be {fmt!r})", source=source, field="format")
    return data, source


def canonical_json_bytes(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


_LOWER_HEX = re.compile(r"^(?:[0-9a-f]{2})*$")


def _hex_at(value, field: str, source, size: Optional[int] = None,
            bounds: Optional[tuple[int, int]] = None) -> bytes:
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


def _text_at(value, field: str, source, limit: int) -> str:
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
    challenge: Optional[str]
    policy_digest: str
    as_of: str
    nonce: str
    slots: list[str]
    commitments: list[bytes]
    signature: bytes = b""

    def signed_fields(self) -> dict:
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

    def to_json_dict(self) -> dict:
        out = self.signed_fields()
        out["signature"] = self.signature.hex()
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict(), indent=2) + "\n"

    def digest(self) -> str:
        return hashlib.sha256(canonical_json_bytes(self.to_json_dict())).hexdigest()

    def save(self, path) -> None:
        write_atomic(path, self.to_json().encode())

    def signature_valid(self) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            load_public_key(self.custodian).verify(self.signature, self.message())
        except (InvalidSignature, ZkMarginError):
            return False
        return True

    @classmethod
    def from_json_dict(cls, data, source=None, where: str = "") -> "SignedCommitments":
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
        _text_at(data["audience"], f"{where}audience", source, MAX_AUDIENCE_CHARS)
        _text_at(data["subject"], f"{where}subject", source, MAX_SUBJECT_CHARS)
        if data["challenge"] is not None:
            _hex_at(data["challenge"], f"{where}challenge", source, bounds=CHALLENGE_BYTES)
        _hex_at(data["policy_digest"], f"{where}policy_digest", source, 32)
        _hex_at(data["nonce"], f"{where}nonce", source, bounds=(16, 64))
        if not isinstance(data["as_of"], str):
            raise FormatError("must be an ISO 8601 timestamp string", source=source, field=f"{where}as_of")
        _parse_as_of(data["as_of"], f"{where}as_of", source)
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
    def load(cls, src) -> "SignedCommitments":
        if isinstance(src, SignedCommitments):
            return src
        data, source = _load_json(src, ATTESTATION_FORMAT, "an attestation", OLD_ATTESTATION_FORMATS)
        return cls.from_json_dict(data, source)


def _parse_as_of(text: str, field: str, source) -> datetime:
    """An attestation's time as an aware UTC datetime (FormatError naming the field)."""
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise FormatError("is not an ISO 8601 timestamp", source=source, field=field) from None
    if t.tzinfo is None:
        raise FormatError("the timestamp needs a time zone (e.g. 'Z')", source=source, field=field)
    return t.astimezone(timezone.utc)


@dataclass
class Openings:
    """The private side: value and blinding per slot (the trader's, never published)."""

    policy_digest: str
    slots: list[str]
    values: list[int]
    blindings: list[int]
    custodian: Optional[str] = None
    nonce: Optional[str] = None

    def to_json_dict(self) -> dict:
        return {
            "format": OPENINGS_FORMAT,
            "policy_digest": self.policy_digest,
            "custodian": self.custodian,
            "nonce": self.nonce,
            "slots": list(self.slots),
            "values": [str(int(v)) for v in self.values],
            "blindings": [(g % R).to_bytes(32, "big").hex() for g in self.blindings],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict(), indent=2) + "\n"

    def save(self, path) -> None:
        """Write atomically with mode 0600 (the openings reveal the account)."""
        write_private(path, self.to_json().encode())

    def subset(self, slots: Iterable[str]) -> "Openings":
        """The openings of the chosen slots only (to hand an auditor)."""
        want = list(slots)
        index = {s: i for i, s in enumerate(self.slots)}
        missing = [s for s in want if s not in index]
        if missing:
            raise InputError(f"the openings have no slot(s) {missing}", field="slots")
        if len(set(want)) != len(want):
            raise InputError("a slot is named twice", field="slots")
        ids = sorted(index[s] for s in want)
        return Openings(self.policy_digest, [self.slots[i] for i in ids], [self.values[i] for i in ids],
                        [self.blindings[i] for i in ids], self.custodian, self.nonce)

    def commitments(self, backend=None) -> list[bytes]:
        from .crypto.generators import get_generators
        from .prover.r1cs import commit

        be = get_backend(backend)
        gens = get_generators(be)
        return [be.encode(commit(be, gens, v, g)) for v, g in zip(self.values, self.blindings)]

    @classmethod
    def from_json_dict(cls, data, source=None) -> "Openings":
        if not isinstance(data, dict) or data.get("format") != OPENINGS_FORMAT:
            raise FormatError(f"not openings (format must be {OPENINGS_FORMAT!r})", source=source)
        if set(data) != set(_OPENINGS_KEYS):
            raise FormatError(f"openings have exactly the keys {list(_OPENINGS_KEYS)}", source=source)
        _hexfield(data["policy_digest"], "policy_digest", source, 32)
        if data["custodian"] is not None:
            _hexfield(data["custodian"], "custodian", source, 32)
        if data["nonce"] is not None:
            _hexfield(data["nonce"], "nonce", source)
        slots = _strlist(data["slots"], "slots", source)
        vals, blinds = data["values"], data["blindings"]
        if not isinstance(vals, list) or not isinstance(blinds, list) or not len(vals) == len(blinds) == len(slots):
            raise FormatError("one value and one blinding per slot are needed", source=source)
        values = []
        for i, v in enumerate(vals):
            if not isinstance(v, str) or not _INT.match(v) or len(v) > 80:
                raise FormatError(f"values[{i}] must be an integer as a string", source=source)
            values.append(int(v))
        blindings = []
        for i, b in enumerate(blinds):
            g = int.from_bytes(_hexfield(b, f"blindings[{i}]", source, 32), "big")
            if not 0 < g < R:
                raise FormatError(f"blindings[{i}] is not a non-zero canonical scalar", source=source)
            blindings.append(g)
        return cls(data["policy_digest"], slots, values, blindings, data["custodian"], data["nonce"])

    @classmethod
    def load(cls, src) -> "Openings":
        if isinstance(src, Openings):
            return src
        data, source = _load_json(src, OPENINGS_FORMAT, "openings")
        return cls.from_json_dict(data, source)


def write_private(path, data: bytes) -> None:
    """Atomic write of a file only its owner may read (0600): openings and private keys."""
    write_atomic(path, data, mode=0o600)

def _synthetic_market(policy):
    """A market with every price 1: the slot layout and the committed values do not depend on
    prices, so a custodian needs no market snapshot to attest."""
    from .rules.models import Market

    prices = {i.symbol: Decimal(1) for i in policy.instruments}
    prices.update({c.asset: Decimal(1) for c in policy.collateral})
    # option standard margin reads its index and underlying prices (docs/notes/coverage.md)
    prices.update({k: Decimal(1) for i in policy.instruments if i.kind == "option"
                   for k in (i.index, i.underlying) if k is not None and k != policy.quote})
    return Market(format="zkmargin.market/1", as_of="1970-01-01T00:00:00Z", prices=prices)


def _plan(policy, market=None):
    from .api import _market, _policy
    from .circuits.layouts import plan_margin

    pol = _policy(policy)
    mkt = _synthetic_market(pol) if market is None else _market(market, pol)
    return pol, mkt, plan_margin(pol, mkt, Decimal(0))


def slot_scales(plan) -> dict[str, int]:
    """Digits after the point of each slot's committed integer."""
    scale = {"size": plan.ds, "cost": plan.ds + plan.dp, "entry": plan.dp, "isolated": plan.da, "balance": plan.da,
             "position": plan.ds}  # K-slot layout: the size packed in v = id + 2^A·q (see circuits/margin/slots.py)
    out = {s.name: scale[s.kind] for s in plan.slots}
    for s in plan.slots:  # an inverse cost basis Σ q·cs·ρ(entry) (circuits/margin/coverage.py)
        if s.kind == "cost" and s.key.startswith("inverse/"):
            out[s.name] = plan.ds + plan.dp + plan.drho
    return out


def _position_groups(slot_names: Sequence[str], mode: str) -> dict[str, str]:
    """Slots that must come from one custodian together (isolated mode: a position's size, entry
    price and isolated margin)."""
    if mode != "isolated":
        return {}
    out = {}
    for s in slot_names:
        kind, _, key = s.partition(":")
        if kind in ("size", "entry", "isolated"):
            out[s] = key
    return out


def _coverage(slot_names: Sequence[str], attestations: Sequence[SignedCommitments], mode: str, error, *,
              required: Optional[set] = None, where: str = "") -> dict[str, list[int]]:
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
    by_group: dict[str, set] = {}
    for s, g in groups.items():
        by_group.setdefault(g, set()).update(cover[s])
    for g, ks in by_group.items():
        if len(ks) > 1:
            raise error(f"{where}the position in {g!r} is attested by several custodians; in isolated mode its "
                        "size, entry price and isolated margin must come from one custodian")
    return cover


# --- custodian side ------------------------------------------------------------------------------


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def attest(account, market, policy, custodian_private_key, *, subject: str, challenge: Optional[bytes] = None,
           slots: Optional[Sequence[str]] = None, as_of: Optional[str] = None,
           backend=None) -> tuple[SignedCommitments, Openings]:
    """Commit to ``account``'s values (every slot of the policy's circuit, or ``slots``), sign the
    commitments with the custodian's Ed25519 key for the policy's venue (the audience), the
    account the venue knows (``subject``) and, when given, the venue's ``challenge`` for the proof
    to come. Returns (attestation, openings); the openings go to the trader only. ``market`` may
    be None (the slot values do not depend on prices)."""
    from .circuits.layouts import witness_values
    from .rules.digests import policy_digest
    from .crypto.generators import get_generators
    from .rules.models import Account, load_account
    from .prover.r1cs import commit

    key = load_private_key(custodian_private_key)
    pol, _mkt, plan = _plan(policy, market)
    if not isinstance(subject, str) or not subject.strip():
        raise InputError("name the account the venue knows (the subject)", field="subject")
    _text_at(subject, "subject", None, MAX_SUBJECT_CHARS)
    if challenge is not None:
        if not isinstance(challenge, (bytes, bytearray)) or not CHALLENGE_BYTES[0] <= len(challenge) <= CHALLENGE_BYTES[1]:
            raise InputError(f"the challenge is {CHALLENGE_BYTES[0]} to {CHALLENGE_BYTES[1]} bytes", field="challenge")
    if as_of is not None:
        _parse_as_of(as_of, "as_of", None)
    acct = account if isinstance(account, Account) else load_account(account, pol)
    names = plan.slot_names()
    values = witness_values(plan, acct)
    if slots is None:
        chosen = list(range(len(names)))
    else:
        want = list(slots)
        unknown = [s for s in want if s not in names]
        if unknown:
            raise InputError(f"the policy's circuit has no slot(s) {unknown}", field="slots")
        if len(set(want)) != len(want):
            raise InputError("a slot is named twice", field="slots")
        chosen = sorted(names.index(s) for s in want)
    be = get_backend(backend)
    gens = get_generators(be)
    blindings = [secrets.randbelow(R - 1) + 1 for _ in chosen]
    comms = [be.encode(commit(be, gens, values[i], g)) for i, g in zip(chosen, blindings)]
    att = SignedCommitments(
        custodian=public_key_hex(key), audience=pol.venue, subject=subject,
        challenge=bytes(challenge).hex() if challenge is not None else None, policy_digest=policy_digest(pol),
        as_of=as_of or _now_iso(), nonce=secrets.token_hex(16), slots=[names[i] for i in chosen], commitments=comms,
    )
    att.signature = key.sign(att.message())
    op = Openings(att.policy_digest, list(att.slots), [values[i] for i in chosen], blindings, att.custodian, att.nonce)
    return att, op


def new_openings(account, policy, *, market=None) -> Openings:
    """Self-made openings (no custodian): fresh blindings for every slot, so a trader who proves
    with them (:func:`prove_with_openings`) can later open chosen commitments to an auditor."""
    from .circuits.layouts import witness_values
    from .rules.digests import policy_digest
    from .rules.models import Account, load_account

    pol, _mkt, plan = _plan(policy, market)
    acct = account if isinstance(account, Account) else load_account(account, pol)
    values = witness_values(plan, acct)
    return Openings(policy_digest(pol), plan.slot_names(), values,
                    [secrets.randbelow(R - 1) + 1 for _ in values])


# --- combination ---------------------------------------------------------------------------------


def _pair(attestations: Sequence[SignedCommitments], openings: Sequence[Openings]) -> list[Openings]:
    """Each attestation's openings (matched by custodian and nonce)."""
    by_id = {}
    for o in openings:
        by_id.setdefault((o.custodian, o.nonce), []).append(o)
    out = []
    for k, a in enumerate(attestations):
        found = by_id.get((a.custodian, a.nonce), [])
        if len(found) != 1:
            raise AttestationError(f"attestation {k} (custodian {a.custodian[:16]}…) has "
                                   f"{'no' if not found else 'several'} matching openings")
        out.append(found[0])
    if len(openings) != len(attestations):
        raise AttestationError(f"{len(openings)} openings for {len(attestations)} attestations")
    return out


@dataclass
class Combined:
    """Per-slot sums over the custodians' shares (values, blindings, commitment points)."""

    slots: list[str]
    values: list[int]
    blindings: list[int]
    commitments: list[Optional[bytes]] = field(default_factory=list)  # None: no attestation covers it


def combine(attestations: Sequence, openings: Sequence, policy, *, market=None, backend=None) -> Combined:
    """Check every openings document against its attestation (signature, policy, each V_j opens)
    and sum the shares slot by slot. Every slot of a kind the policy's trust section requires
    attested (all kinds by default) must be covered; a slot no attestation covers gets value 0,
    blinding 0 and commitment None. Raises :class:`AttestationError` (prover side)."""
    from .rules.digests import policy_digest
    from .crypto.generators import get_generators
    from .prover.r1cs import commit

    atts = [SignedCommitments.load(a) for a in attestations]
    ops = [Openings.load(o) for o in openings]
    if not atts:
        raise AttestationError("no attestation given")
    pol, _mkt, plan = _plan(policy, market)
    pd = policy_digest(pol)
    names = plan.slot_names()
    for k, a in enumerate(atts):
        if not a.signature_valid():
            raise AttestationError(f"attestation {k}: the custodian signature does not verify")
        if a.policy_digest != pd:
            raise AttestationError(f"attestation {k} is for another policy")
        if a.audience != pol.venue:
            raise AttestationError(f"attestation {k} is addressed to another venue than the policy's")
    if len({a.subject for a in atts}) != 1:
        raise AttestationError("the attestations name different accounts (subjects)")
    if len({a.custodian for a in atts}) != len(atts):
        raise AttestationError("two attestations from the same custodian")
    paired = _pair(atts, ops)
    kinds = (pol.trust.attest if pol.trust is not None and pol.trust.attest else None) or SLOT_KINDS
    _coverage(names, atts, pol.mode, AttestationError,
              required={s for s in names if s.partition(":")[0] in kinds})
    be = get_backend(backend)
    gens = get_generators(be)
    vals = {s: 0 for s in names}
    blind = {s: 0 for s in names}
    points = {s: None for s in names}
    for k, (a, o) in enumerate(zip(atts, paired)):
        if o.slots != a.slots or o.policy_digest != a.policy_digest:
            raise AttestationError(f"the openings of attestation {k} are for other slots or another policy")
        for s, V, v, g in zip(a.slots, a.commitments, o.values, o.blindings):
            P = commit(be, gens, v, g)
            if be.encode(P) != V:
                raise AttestationError(f"the openings do not match the attested commitment for slot {s!r} "
                                       f"(attestation {k})")
            vals[s] += v
            blind[s] = (blind[s] + g) % R
            points[s] = P if points[s] is None else be.add(points[s], P)
    return Combined(names, [vals[s] for s in names], [blind[s] for s in names],
                    [be.encode(points[s]) if points[s] is not None else None for s in names])


# --- prover side ---------------------------------------------------------------------------------


def prove_attested(account, market, policy, threshold=0, challenge: Optional[bytes] = None, *,
                   attestations: Sequence = (), openings: Sequence = (), backend=None) -> ProofBundle:
    """Prove over attested commitments and embed the attestations in the bundle
    (``zkmargin.proof/2``). The openings (one document per attestation) must open the attested
    commitments and, summed per slot, equal the account's values; the proof's commitments are
    then exactly the attested ones (sums, with several custodians). An attestation made for a
    challenge must be for this proof's challenge. Refuses with :class:`AttestationError`
    otherwise; nothing private appears in a message."""
    from .api import _market, _policy, prove
    from .circuits.layouts import plan_margin, witness_values
    from .rules.models import Account, load_account

    pol = _policy(policy)
    mkt = _market(market, pol)
    acct = account if isinstance(account, Account) else load_account(account, pol)
    comb = combine(attestations, openings, pol, market=mkt, backend=backend)
    atts = [SignedCommitments.load(a) for a in attestations]
    mine_ch = bytes(challenge).hex() if isinstance(challenge, (bytes, bytearray)) else None
    for k, a in enumerate(atts):
        if a.challenge is not None and a.challenge != mine_ch:
            raise AttestationError(f"attestation {k} was made for another challenge than this proof's")
    plan = plan_margin(pol, mkt, Decimal(0))
    mine = witness_values(plan, acct)
    blindings = list(comb.blindings)
    for i, (s, a, b, V) in enumerate(zip(comb.slots, comb.values, mine, comb.commitments)):
        if V is None:  # a kind the venue does not require attested: self-declared, fresh blinding
            blindings[i] = secrets.randbelow(R - 1) + 1
        elif a != b:
            raise AttestationError(f"the attested value for slot {s!r} differs from the account's")
    bundle = prove(acct, mkt, pol, threshold, challenge, backend=backend, blindings=blindings)
    if any(V is not None and V != mine_V for V, mine_V in zip(comb.commitments, bundle.commitments)):
        raise AttestationError("internal: the proof's commitments are not the attested ones")  # pragma: no cover
    bundle.attestations = atts
    return bundle


def prove_with_openings(account, market, policy, threshold=0, challenge: Optional[bytes] = None, *,
                        openings, backend=None) -> ProofBundle:
    """Prove with self-made openings (:func:`new_openings`), so chosen commitments can be opened
    to an auditor later. The openings must match the account."""
    from .api import _market, _policy, prove
    from .circuits.layouts import plan_margin, witness_values
    from .rules.digests import policy_digest
    from .rules.models import Account, load_account

    op = Openings.load(openings)
    pol = _policy(policy)
    mkt = _market(market, pol)
    acct = account if isinstance(account, Account) else load_account(account, pol)
    plan = plan_margin(pol, mkt, Decimal(0))
    if op.policy_digest != policy_digest(pol) or op.slots != plan.slot_names():
        raise AttestationError("the openings are for another policy or another slot layout")
    for s, a, b in zip(op.slots, op.values, witness_values(plan, acct)):
        if a != b:
            raise AttestationError(f"the opened value for slot {s!r} differs from the account's")
    return prove(acct, mkt, pol, threshold, challenge, backend=backend, blindings=op.blindings)


# --- openings for auditors -----------------------------------------------------------------------


def combine_openings(openings: Sequence, slots: Optional[Sequence[str]] = None) -> Openings:
    """Sum several openings documents (one per custodian) slot by slot — the opening of the
    proof's commitments — and keep ``slots`` only (all by default). The result has no custodian."""
    ops = [Openings.load(o) for o in openings]
    if not ops:
        raise InputError("no openings given")
    pd = {o.policy_digest for o in ops}
    if len(pd) != 1:
        raise InputError("the openings are for different policies")
    order: list[str] = []
    vals: dict[str, int] = {}
    blind: dict[str, int] = {}
    for o in ops:
        for s, v, g in zip(o.slots, o.values, o.blindings):
            if s not in vals:
                order.append(s)
                vals[s], blind[s] = 0, 0
            vals[s] += v
            blind[s] = (blind[s] + g) % R
    if len(ops) == 1:
        out = Openings(ops[0].policy_digest, order, [vals[s] for s in order], [blind[s] for s in order])
    else:
        out = Openings(pd.pop(), order, [vals[s] for s in order], [blind[s] for s in order])
    return out if slots is None else out.subset(slots)


@dataclass
class OpeningCheck:
    """What an auditor learns from checked openings."""

    slots: dict  # slot -> clear-text decimal string
    complete: bool
    partial: dict = field(default_factory=dict)
    report: Optional[dict] = None
    proof_verified: bool = False

    def to_json_dict(self) -> dict:
        return {"opened": self.slots, "complete": self.complete, "partial": self.partial,
                "report": self.report, "proof_verified": self.proof_verified}


def _dec(value: int, scale: int) -> Decimal:
    return Decimal(value).scaleb(-scale)


def check_openings(part, bundle, *, market=None, policy=None, backend=None) -> OpeningCheck:
    """Check opened slots against a bundle's commitments (:class:`OpeningRejectedError` when one
    does not open). With ``market`` and ``policy`` (which must be the bundle's — digests checked,
    and the proof is verified with the bundle's own challenge), also recompute what the opened
    slots allow in clear text: notional and requirement of each opened position, the value of
    each opened collateral balance, and with every slot opened the full margin report."""
    from .api import _bundle

    op = Openings.load(part)
    b = _bundle(bundle)
    names = list(b.statement.get("slots") or [])
    if len(names) != len(b.commitments):
        raise InputError("the bundle's slots and commitments differ in number")
    if op.policy_digest != b.statement.get("policy_digest"):
        raise OpeningRejectedError("the openings are for another policy than the bundle")
    mine = op.commitments(backend)
    for s, c in zip(op.slots, mine):
        if s not in names:
            raise OpeningRejectedError(f"the bundle has no slot {s!r}")
        if b.commitments[names.index(s)] != c:
            raise OpeningRejectedError(f"the opening for slot {s!r} does not open the bundle's commitment")
    opened = dict(zip(op.slots, op.values))
    result = OpeningCheck(slots={s: str(v) for s, v in opened.items()}, complete=set(opened) == set(names))
    if market is None or policy is None:
        return result
    return _clear_text(result, opened, b, market, policy, backend)


def _clear_text(result: OpeningCheck, opened: dict, b: ProofBundle, market, policy, backend) -> OpeningCheck:
    from .rules import engine
    from .api import _market, _policy, _verify_bare
    from .rules.decimals import canonical
    from .rules.digests import market_digest, policy_digest
    from .rules.models import Account, Position, price_of

    pol = _policy(policy)
    mkt = _market(market, pol)
    if policy_digest(pol) != b.statement.get("policy_digest") or market_digest(mkt) != b.statement.get("market_digest"):
        raise InputError("the policy or market snapshot is not the one the bundle was proved against")
    ch = b.statement.get("challenge")
    # the proof itself (the auditor checks values, not the venue's trust rule: _verify_bare)
    _verify_bare(b, mkt, pol, b.statement.get("threshold", "0"), bytes.fromhex(ch) if ch else None,
                 backend=backend)
    result.proof_verified = True
    from .rules.models.coverage import uses_coverage

    if uses_coverage(pol):  # hedge legs, orders, inverse, option rules: docs/notes/coverage.md
        raise InputError("opened values are re-checked in clear text only for policies without "
                         f"{', '.join(uses_coverage(pol))} (issue 15); the proof itself verified")
    _pol, _m, plan = _plan(pol, mkt)
    scales = slot_scales(plan)
    clear = {}
    for s, v in opened.items():
        if s.startswith("position:"):  # K-slot layout: the packed (instrument, size); empty slots add nothing
            from .circuits.margin.slots import open_position

            symbol, size = open_position(plan, v)
            if symbol is not None:
                clear[f"size:{symbol}"] = size
            continue
        clear[s] = _dec(v, scales[s])
    result.slots = {s: canonical(d) for s, d in clear.items()}
    threshold = Decimal(b.statement.get("threshold", "0"))
    partial = {}
    for s, d in clear.items():
        kind, _, key = s.partition(":")
        if kind == "size" and pol.mode != "portfolio":
            mark = mkt.prices[key]
            req = engine.apply_rounding(engine.position_requirement(pol.instrument(key).rule(pol.requirement), d, mark),
                                        pol.rounding)
            partial[s] = {"notional": canonical(engine.notional(d, mark)), "requirement": canonical(req)}
        elif kind == "balance":
            partial[s] = {"value": canonical(engine.collateral_value(pol.collateral_entry(key), d,
                                                                     price_of(mkt, pol, key)))}
    result.partial = partial
    if not result.complete:
        return result
    if pol.mode == "isolated":
        positions, iso = [], {}
        for ins in pol.instruments:
            q, e, m = clear[f"size:{ins.symbol}"], clear[f"entry:{ins.symbol}"], clear[f"isolated:{ins.symbol}"]
            if q != 0 or e != 0 or m != 0:
                positions.append(Position(symbol=ins.symbol, size=q, entry_price=e))
                iso[ins.symbol] = m
        balances = {c.asset: clear[f"balance:{c.asset}"] for c in pol.collateral}
        acct = Account(format="zkmargin.account/1", balances=balances, positions=positions, isolated_margin=iso)
        result.report = engine.check(acct, mkt, pol, threshold).to_json_dict()
        return result
    # cross and portfolio: sizes, the cost basis C = Σ q·entry and balances determine the margin
    with localcontext(EXACT):
        coll = sum((engine.collateral_value(pol.collateral_entry(c.asset), clear[f"balance:{c.asset}"],
                                            price_of(mkt, pol, c.asset)) for c in pol.collateral), Decimal(0))
        sizes = {i.symbol: clear.get(f"size:{i.symbol}", Decimal(0)) for i in pol.instruments}
        equity = coll + sum((q * mkt.prices[s] for s, q in sizes.items()), Decimal(0)) - clear["cost"]
        if pol.mode == "portfolio":
            requirement = engine.portfolio_requirement(pol, {s: q for s, q in sizes.items() if q != 0})
        else:
            requirement = sum((engine.apply_rounding(engine.position_requirement(
                pol.instrument(s).rule(pol.requirement), q, mkt.prices[s]), pol.rounding)
                for s, q in sizes.items()), Decimal(0))
        required = (1 + pol.buffer) * requirement + threshold
        excess = equity - required
    result.report = {
        "meets": excess >= 0, "equity": canonical(equity), "requirement": canonical(requirement),
        "required": canonical(required), "excess": canonical(excess), "collateral_value": canonical(coll),
        "mode": pol.mode, "threshold": canonical(threshold),
    }
    return result


# --- verifier side -------------------------------------------------------------------------------
# The venue's rule over a bundle's attestations (custodians it lists, audience, subject, policy,
# freshness, challenge, coverage, commitments) is :mod:`zkmargin.trust`; ``zkmargin.verify``
# applies it by default. ``check_trust`` here is the same function, for callers who look for it
# beside the attestations.
from .trust import check_trust  # noqa: E402,F401
