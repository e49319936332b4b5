"""Custodian attestations, openings, and proofs over attested commitments.

A custodian that holds (part of) a trader's book commits to the account's values slot by slot —
``V_j = v_j·B + γ_j·B̃``, the same Pedersen commitments a margin proof is about — and signs the
commitments with Ed25519. It hands out two documents:

* the **attestation** (public, for the venue)::

      {"format": "zkmargin.attestation/1", "custodian": "<ed25519 public key, hex>",
       "policy_digest": "...", "as_of": "2024-06-03T08:00:00Z", "nonce": "<16 bytes hex>",
       "subject": null | "<custodian's account reference>",
       "slots": ["size:BTCUSDT", ...], "commitments": ["<96 hex>", ...],
       "signature": "<64 bytes hex>"}

  The signature covers ``b"zkmargin.attestation/1\\0"`` followed by the canonical JSON (sorted
  keys, compact, ASCII) of every field but ``signature``.

* the **openings** (private, for the trader only; written with mode 0600)::

      {"format": "zkmargin.openings/1", "policy_digest": "...", "custodian": "<hex>" | null,
       "nonce": "<hex>" | null, "slots": [...], "values": ["<integer>", ...],
       "blindings": ["<32-byte scalar, hex>", ...]}

  ``values`` are the committed fixed-point integers (sizes at the size scale, the cost basis at
  size+price scale, entry prices at the price scale, amounts at the amount scale), as strings.

The trader proves with :func:`prove_attested`: the openings' blindings are passed to
:func:`zkmargin.api.prove`, so the proof's commitments are exactly the attested ones. The venue
checks with :func:`verify_attested` (or :func:`check_attestations` after its own verification).

**Several custodians.** Commitments add up: ``V_a + V_b = (v_a + v_b)·B + (γ_a + γ_b)·B̃``. Each
custodian attests the slots it knows (by default every slot of the policy, zero where it holds
nothing); the trader proves over the per-slot sums (values and blindings add), and the verifier
checks each signature, that every slot is attested by at least one custodian, and that each proof
commitment is exactly the sum of the attested ones for its slot. Sizes, the cost basis, balances
and isolated margins are additive. An entry price is not, so in isolated mode the slots of one
position (``size:X``, ``entry:X``, ``isolated:X``) must all come from one single custodian.
Summing nets positions across custodians (a long at one and a short at another offset); a venue
that does not accept such netting must not accept multi-custodian proofs.
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
    AttestationRejectedError,
    FormatError,
    InputError,
    OpeningRejectedError,
    ZkMarginError,
)
from .rules.decimals import EXACT
from .crypto.field import R

ATTESTATION_FORMAT = "zkmargin.attestation/1"
OPENINGS_FORMAT = "zkmargin.openings/1"
SIGNATURE_DOMAIN = b"zkmargin.attestation/1\0"
MAX_DOCUMENT_BYTES = 1 << 20

_ATTESTATION_KEYS = ("format", "custodian", "policy_digest", "as_of", "nonce", "subject", "slots",
                     "commitments", "signature")
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


def load_private_key(src):
    """An Ed25519 private key from a key object, PEM bytes, 32 raw bytes, a 64-hex-digit seed, or a
    path to a file holding PEM (PKCS#8) or the hex seed."""
    from cryptography.hazmat.primitives import serialization

    ed = _ed25519()
    if isinstance(src, ed.Ed25519PrivateKey):
        return src
    source = None
    if isinstance(src, (str, os.PathLike)) and not (isinstance(src, str) and _HEX64.match(src.strip().lower())):
        source = os.fspath(src)
        src = _read_small(src, "custodian key")
    if isinstance(src, str):
        src = src.encode()
    data = bytes(src).strip()
    try:
        if data.startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(data, password=None)
            if not isinstance(key, ed.Ed25519PrivateKey):
                raise AttestationError("the key is not an Ed25519 private key", source=source)
            return key
        if _HEX64.match(data.decode("ascii", "replace").lower()):
            return ed.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(data.decode()))
        if len(data) == 32:
            return ed.Ed25519PrivateKey.from_private_bytes(data)
    except (ValueError, TypeError):
        pass
    raise AttestationError("not an Ed25519 private key (PEM PKCS#8 or 32-byte hex seed)", source=source)


def load_public_key(src):
    """An Ed25519 public key from a key object, 64 hex digits, 32 raw bytes, or a path to a file
    holding the hex or a PEM public key."""
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
        data = _read_small(src, "custodian public key").strip()
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
    raise AttestationError("not an Ed25519 public key (64 hex digits or PEM)", source=source)


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


def _load_json(src, fmt: str, what: str) -> tuple[dict, Optional[str]]:
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
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise FormatError(f"not {what} (format must be {fmt!r})", source=source, field="format")
    return data, source


def canonical_json_bytes(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


@dataclass
class SignedCommitments:
    """A custodian's signed commitments to (some of) the slots of one account."""

    custodian: str
    policy_digest: str
    as_of: str
    nonce: str
    subject: Optional[str]
    slots: list[str]
    commitments: list[bytes]
    signature: bytes = b""

    def signed_fields(self) -> dict:
        return {
            "format": ATTESTATION_FORMAT,
            "custodian": self.custodian,
            "policy_digest": self.policy_digest,
            "as_of": self.as_of,
            "nonce": self.nonce,
            "subject": self.subject,
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
    def from_json_dict(cls, data, source=None) -> "SignedCommitments":
        if not isinstance(data, dict) or data.get("format") != ATTESTATION_FORMAT:
            raise FormatError(f"not an attestation (format must be {ATTESTATION_FORMAT!r})", source=source)
        if set(data) != set(_ATTESTATION_KEYS):
            raise FormatError(f"an attestation has exactly the keys {list(_ATTESTATION_KEYS)}", source=source)
        _hexfield(data["custodian"], "custodian", source, 32)
        _hexfield(data["policy_digest"], "policy_digest", source, 32)
        _hexfield(data["nonce"], "nonce", source)
        if not isinstance(data["as_of"], str):
            raise FormatError("as_of must be a timestamp string", source=source)
        if data["subject"] is not None and not isinstance(data["subject"], str):
            raise FormatError("subject must be a string or null", source=source)
        slots = _strlist(data["slots"], "slots", source)
        comms = data["commitments"]
        if not isinstance(comms, list) or len(comms) != len(slots):
            raise FormatError("one commitment per slot is needed", source=source)
        return cls(
            custodian=data["custodian"], policy_digest=data["policy_digest"], as_of=data["as_of"],
            nonce=data["nonce"], subject=data["subject"], slots=slots,
            commitments=[_hexfield(c, f"commitments[{i}]", source, 48) for i, c in enumerate(comms)],
            signature=_hexfield(data["signature"], "signature", source, 64),
        )

    @classmethod
    def load(cls, src) -> "SignedCommitments":
        if isinstance(src, SignedCommitments):
            return src
        data, source = _load_json(src, ATTESTATION_FORMAT, "an attestation")
        return cls.from_json_dict(data, source)


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
    from .models import Market

    prices = {i.symbol: Decimal(1) for i in policy.instruments}
    prices.update({c.asset: Decimal(1) for c in policy.collateral})
    return Market(format="zkmargin.market/1", as_of="1970-01-01T00:00:00Z", prices=prices)


def _plan(policy, market=None):
    from .api import _market, _policy
    from .circuits.margin import plan_margin

    pol = _policy(policy)
    mkt = _synthetic_market(pol) if market is None else _market(market, pol)
    return pol, mkt, plan_margin(pol, mkt, Decimal(0))


def slot_scales(plan) -> dict[str, int]:
    """Digits after the point of each slot's committed integer."""
    scale = {"size": plan.ds, "cost": plan.ds + plan.dp, "entry": plan.dp, "isolated": plan.da, "balance": plan.da}
    return {s.name: scale[s.kind] for s in plan.slots}


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


def _coverage(slot_names: Sequence[str], attestations: Sequence[SignedCommitments], mode: str, error) -> dict[str, list[int]]:
    """For every slot, the attestations (indices) that cover it; enforces the combination rules."""
    known = set(slot_names)
    cover: dict[str, list[int]] = {s: [] for s in slot_names}
    for k, a in enumerate(attestations):
        unknown = [s for s in a.slots if s not in known]
        if unknown:
            raise error(f"attestation {k} names slot(s) the policy's circuit does not have: {unknown}")
        for s in a.slots:
            cover[s].append(k)
    missing = [s for s in slot_names if not cover[s]]
    if missing:
        raise error(f"slot(s) {missing} are attested by no custodian")
    groups = _position_groups(slot_names, mode)
    by_group: dict[str, set] = {}
    for s, g in groups.items():
        by_group.setdefault(g, set()).update(cover[s])
    for g, ks in by_group.items():
        if len(ks) > 1:
            raise error(f"the position in {g!r} is attested by several custodians; in isolated mode its "
                        "size, entry price and isolated margin must come from one custodian")
    return cover


# --- custodian side ------------------------------------------------------------------------------


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def attest(account, market, policy, custodian_private_key, *, slots: Optional[Sequence[str]] = None,
           subject: Optional[str] = None, as_of: Optional[str] = None, backend=None) -> tuple[SignedCommitments, Openings]:
    """Commit to ``account``'s values (every slot of the policy's circuit, or ``slots``), sign the
    commitments with the custodian's Ed25519 key. Returns (attestation, openings); the openings
    go to the trader only. ``market`` may be None (the slot values do not depend on prices)."""
    from .circuits.margin import witness_values
    from .rules.digests import policy_digest
    from .crypto.generators import get_generators
    from .models import Account, load_account
    from .prover.r1cs import commit

    key = load_private_key(custodian_private_key)
    pol, _mkt, plan = _plan(policy, market)
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
        custodian=public_key_hex(key), policy_digest=policy_digest(pol), as_of=as_of or _now_iso(),
        nonce=secrets.token_hex(16), subject=subject, slots=[names[i] for i in chosen], commitments=comms,
    )
    att.signature = key.sign(att.message())
    op = Openings(att.policy_digest, list(att.slots), [values[i] for i in chosen], blindings, att.custodian, att.nonce)
    return att, op


def new_openings(account, policy, *, market=None) -> Openings:
    """Self-made openings (no custodian): fresh blindings for every slot, so a trader who proves
    with them (:func:`prove_with_openings`) can later open chosen commitments to an auditor."""
    from .circuits.margin import witness_values
    from .rules.digests import policy_digest
    from .models import Account, load_account

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
    commitments: list[bytes] = field(default_factory=list)


def combine(attestations: Sequence, openings: Sequence, policy, *, market=None, backend=None) -> Combined:
    """Check every openings document against its attestation (signature, policy, each V_j opens)
    and sum the shares slot by slot. Raises :class:`AttestationError` (prover side)."""
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
    if len({a.custodian for a in atts}) != len(atts):
        raise AttestationError("two attestations from the same custodian")
    paired = _pair(atts, ops)
    _coverage(names, atts, pol.mode, AttestationError)
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
                    [be.encode(points[s]) for s in names])


# --- prover side ---------------------------------------------------------------------------------


def prove_attested(account, market, policy, threshold=0, challenge: Optional[bytes] = None, *,
                   attestations: Sequence = (), openings: Sequence = (), backend=None) -> ProofBundle:
    """Prove over attested commitments. The openings (one document per attestation) must open the
    attested commitments and, summed per slot, equal the account's values; the proof's commitments
    are then exactly the attested ones (sums, with several custodians). Refuses with
    :class:`AttestationError` otherwise; nothing private appears in a message."""
    from .api import _market, _policy, prove
    from .circuits.margin import plan_margin, witness_values
    from .models import Account, load_account

    pol = _policy(policy)
    mkt = _market(market, pol)
    acct = account if isinstance(account, Account) else load_account(account, pol)
    comb = combine(attestations, openings, pol, market=mkt, backend=backend)
    plan = plan_margin(pol, mkt, Decimal(0))
    mine = witness_values(plan, acct)
    for s, a, b in zip(comb.slots, comb.values, mine):
        if a != b:
            raise AttestationError(f"the attested value for slot {s!r} differs from the account's")
    bundle = prove(acct, mkt, pol, threshold, challenge, backend=backend, blindings=comb.blindings)
    if bundle.commitments != comb.commitments:  # pragma: no cover - guards the two code paths
        raise AttestationError("internal: the proof's commitments are not the attested ones")
    return bundle


def prove_with_openings(account, market, policy, threshold=0, challenge: Optional[bytes] = None, *,
                        openings, backend=None) -> ProofBundle:
    """Prove with self-made openings (:func:`new_openings`), so chosen commitments can be opened
    to an auditor later. The openings must match the account."""
    from .api import _market, _policy, prove
    from .circuits.margin import plan_margin, witness_values
    from .rules.digests import policy_digest
    from .models import Account, load_account

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


# --- verifier side -------------------------------------------------------------------------------


def _parse_time(text: str) -> datetime:
    from .models import parse_timestamp

    try:
        return parse_timestamp(text)
    except ZkMarginError:
        raise AttestationRejectedError("an attestation's as_of is not a timestamp") from None
    except ValueError:
        raise AttestationRejectedError("an attestation's as_of is not a timestamp") from None


def check_attestations(bundle, attestations: Sequence, custodian_keys: Sequence, *, policy_digest: str,
                       mode: str, max_age: Optional[float] = None, now: Optional[datetime] = None,
                       subject: Optional[str] = None, backend=None) -> list[str]:
    """Check that a (verified) bundle's commitments are exactly what the required custodians
    attested. ``custodian_keys`` are the custodians whose attestations are required: each must
    appear exactly once, and no other. Returns the custodians' key ids; raises
    :class:`AttestationRejectedError`."""
    from .api import _bundle

    b = _bundle(bundle)
    keys = [key_id(k) for k in custodian_keys]
    if not keys:
        raise AttestationRejectedError("no custodian key to check the attestations against")
    if len(set(keys)) != len(keys):
        raise InputError("a custodian key is given twice")
    try:
        atts = [SignedCommitments.load(a) for a in attestations]
    except FormatError as exc:
        raise AttestationRejectedError(f"malformed attestation: {exc.message}") from None
    seen = {}
    for k, a in enumerate(atts):
        if a.custodian not in keys:
            raise AttestationRejectedError(f"attestation {k} is signed by a custodian that is not required "
                                           f"({a.custodian[:16]}…)")
        if a.custodian in seen:
            raise AttestationRejectedError(f"custodian {a.custodian[:16]}… attested twice")
        seen[a.custodian] = k
        if not a.signature_valid():
            raise AttestationRejectedError(f"attestation {k}: the custodian signature does not verify")
        if a.policy_digest != policy_digest:
            raise AttestationRejectedError(f"attestation {k} is for another policy")
        if subject is not None and a.subject != subject:
            raise AttestationRejectedError(f"attestation {k} is for another account (subject)")
        if max_age is not None:
            t = _parse_time(a.as_of)
            age = ((now or datetime.now(timezone.utc)) - t).total_seconds()
            if age > max_age:
                raise AttestationRejectedError(f"attestation {k} is older than {max_age:g} s")
    missing = [k for k in keys if k not in seen]
    if missing:
        raise AttestationRejectedError(f"no attestation from required custodian(s) "
                                       f"{[m[:16] + '…' for m in missing]}")
    names = list(b.statement.get("slots") or [])
    if len(names) != len(b.commitments):
        raise AttestationRejectedError("the bundle's slots and commitments differ in number")
    _coverage(names, atts, mode, AttestationRejectedError)
    be = get_backend(backend)
    sums = {}
    for k, a in enumerate(atts):
        for s, V in zip(a.slots, a.commitments):
            try:
                P = be.decode(V)
            except ZkMarginError:
                raise AttestationRejectedError(f"attestation {k}: commitment for {s!r} does not decode") from None
            sums[s] = P if s not in sums else be.add(sums[s], P)
    for s, V in zip(names, b.commitments):
        if be.encode(sums[s]) != V:
            several = sum(1 for a in atts if s in a.slots) > 1
            raise AttestationRejectedError(
                f"the proof's commitment for slot {s!r} is not "
                + ("the sum of the attested ones" if several else "the attested one"))
    return [a.custodian for a in atts]


def verify_attested(bundle, market, policy, threshold=0, challenge: Optional[bytes] = None, *,
                    attestations: Sequence = (), custodian_keys: Sequence = (), max_age: Optional[float] = None,
                    subject: Optional[str] = None, backend=None):
    """:func:`zkmargin.api.verify` plus :func:`check_attestations`: the proof verifies and its
    commitments are exactly the ones the required custodians signed."""
    from .api import _bundle, _policy, verify
    from .rules.digests import policy_digest

    pol = _policy(policy)
    b = _bundle(bundle)
    result = verify(b, market, pol, threshold, challenge, backend=backend)
    result.extra["custodians"] = check_attestations(
        b, attestations, custodian_keys, policy_digest=policy_digest(pol), mode=pol.mode,
        max_age=max_age, subject=subject, backend=backend)
    return result


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
    from .api import _market, _policy, verify
    from .rules.decimals import canonical
    from .rules.digests import market_digest, policy_digest
    from .models import Account, Position, price_of

    pol = _policy(policy)
    mkt = _market(market, pol)
    if policy_digest(pol) != b.statement.get("policy_digest") or market_digest(mkt) != b.statement.get("market_digest"):
        raise InputError("the policy or market snapshot is not the one the bundle was proved against")
    ch = b.statement.get("challenge")
    verify(b, mkt, pol, b.statement.get("threshold", "0"), bytes.fromhex(ch) if ch else None, backend=backend)
    result.proof_verified = True
    _pol, _m, plan = _plan(pol, mkt)
    scales = slot_scales(plan)
    clear = {s: _dec(v, scales[s]) for s, v in opened.items()}
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
        sizes = {i.symbol: clear[f"size:{i.symbol}"] for i in pol.instruments}
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
