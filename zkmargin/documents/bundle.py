"""The proof bundle: what a trader hands a venue. Public data only.

    {"format": "zkmargin.proof/2",
     "statement": {"protocol", "venue", "mode", "requirement", "policy_digest", "market_digest",
                   "as_of", "threshold", "challenge", "circuit_digest", "gates", "slots"},
     "commitments": ["<96 hex chars>", ...],      # V_j, one per slot, in slot order
     "proof": "<hex of the R1CS proof>",
     "attestations": [<zkmargin.attestation/2 documents>]}   # [] = self-declared values

The statement is bound into the transcript (as canonical JSON) before any challenge; a verifier
never trusts it — it rebuilds its own from its own policy, market, threshold and challenge and
refuses a bundle whose statement differs. The attestations are not in the transcript: they are
checked against the commitments (:mod:`zkmargin.documents.trust`), so leaving one out or adding a
foreign one only gets the bundle rejected. ``zkmargin.proof/1`` bundles (no attestations) are
refused.

:func:`load_bundle` reads a bundle from whatever a caller holds (a parsed bundle, its JSON, a
path); :func:`check_challenge` checks the venue's challenge a proof answers (16 to 64 bytes).

May import :mod:`zkmargin.errors`, :mod:`zkmargin.files` and the attestation document. Used by the
API (``prove`` makes bundles, ``verify`` reads them), the trust rule, the workflows, the log and the
CLI; ``ProofBundle`` and ``BUNDLE_FORMAT`` are re-exported from ``zkmargin``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FormatError, InputError
from ..files.atomic import write_atomic
from ..files.inputs import parse_json, read_input

if TYPE_CHECKING:
    from .attestation import SignedCommitments

JSONDict = dict[str, Any]

BUNDLE_FORMAT = "zkmargin.proof/2"
OLD_BUNDLE_FORMATS = ("zkmargin.proof/1",)
MAX_ATTESTATIONS = 16
STATEMENT_KEYS = (
    "protocol", "venue", "mode", "requirement", "policy_digest", "market_digest", "as_of",
    "threshold", "challenge", "circuit_digest", "gates", "slots",
)
#: Statement keys only some proofs have: ``zone`` (a margin-call zone proof, zkmargin.zone_proofs).
OPTIONAL_STATEMENT_KEYS = ("zone",)
MAX_BUNDLE_BYTES = 1 << 20
MIN_CHALLENGE_BYTES = 16
MAX_CHALLENGE_BYTES = 64


def canonical_statement_bytes(statement: JSONDict) -> bytes:
    return json.dumps(statement, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def hex_field(value: Any, what: str, source: str | None, size: int | None = None, *,
              lowercase: bool = False) -> bytes:
    """Bytes from a hex string field of a document, with a one-line FormatError naming the field
    (``lowercase=True`` also refuses upper-case digits, for signed documents whose bytes must be
    canonical)."""
    if not isinstance(value, str) or (lowercase and value != value.lower()):
        raise FormatError(f"{what} must be a {'lowercase ' if lowercase else ''}hex string", source=source)
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise FormatError(f"{what} is not valid hex", source=source) from None
    if size is not None and len(raw) != size:
        raise FormatError(f"{what} must be {size} bytes, got {len(raw)}", source=source)
    return raw


@dataclass
class ProofBundle:
    statement: JSONDict
    commitments: list[bytes]
    proof: bytes
    attestations: list[SignedCommitments] = field(default_factory=list)  # [] = self-declared values

    def __post_init__(self) -> None:
        if self.attestations is None:  # an untyped caller's None: no attestations
            self.attestations = []

    def to_json_dict(self) -> JSONDict:
        return {
            "format": BUNDLE_FORMAT,
            "statement": self.statement,
            "commitments": [c.hex() for c in self.commitments],
            "proof": self.proof.hex(),
            "attestations": [a.to_json_dict() for a in self.attestations],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict(), indent=2, sort_keys=False) + "\n"

    @property
    def size(self) -> int:
        """Bytes of binary content: proof plus commitments."""
        return len(self.proof) + sum(len(c) for c in self.commitments)

    def save(self, path: str | os.PathLike[str]) -> None:
        write_atomic(path, self.to_json().encode())

    @classmethod
    def from_json_dict(cls, data: Any, source: str | None = None) -> ProofBundle:
        if not isinstance(data, dict):
            raise FormatError("a proof bundle is a JSON object", source=source)
        if data.get("format") in OLD_BUNDLE_FORMATS:
            raise FormatError(f"a {data['format']} bundle was made by an older zkmargin (it carries no "
                              f"attestations); prove again to get a {BUNDLE_FORMAT} bundle",
                              source=source, field="format")
        if data.get("format") != BUNDLE_FORMAT:
            raise FormatError(f"not a proof bundle (format must be {BUNDLE_FORMAT!r})", source=source, field="format")
        extra = set(data) - {"format", "statement", "commitments", "proof", "attestations"}
        if extra:
            raise FormatError(f"unknown key(s) {sorted(extra)}", source=source)
        st = data.get("statement")
        if not isinstance(st, dict) or not set(STATEMENT_KEYS) <= set(st) <= set(STATEMENT_KEYS) | set(OPTIONAL_STATEMENT_KEYS):
            raise FormatError(f"the statement must have exactly the keys {list(STATEMENT_KEYS)}", source=source, field="statement")
        _check_statement_types(st, source)
        comms = data.get("commitments")
        if not isinstance(comms, list):
            raise FormatError("commitments must be a list", source=source, field="commitments")
        commitments = [hex_field(c, f"commitments[{i}]", source, 48) for i, c in enumerate(comms)]
        proof = hex_field(data.get("proof"), "proof", source)
        atts = data.get("attestations")
        if not isinstance(atts, list):
            raise FormatError("must be a list of attestations ([] for self-declared values)", source=source,
                              field="attestations")
        if len(atts) > MAX_ATTESTATIONS:
            raise FormatError(f"at most {MAX_ATTESTATIONS} attestations", source=source, field="attestations")
        from .attestation import SignedCommitments  # on first use: `import zkmargin` stays light

        attestations = [SignedCommitments.from_json_dict(a, source, f"attestations[{i}].")
                        for i, a in enumerate(atts)]
        return cls(statement=dict(st), commitments=commitments, proof=proof, attestations=attestations)

    @classmethod
    def from_json(cls, text: str | bytes, source: str | None = None) -> ProofBundle:
        # the input layer (zkmargin.files.inputs): size cap, depth, digits, no duplicate keys
        data = parse_json(text, kind="proof", source=source, numbers="plain")
        return cls.from_json_dict(data, source)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ProofBundle:
        raw, name = read_input(path, "proof")  # "-": standard input
        return cls.from_json(raw, source=name)


def _check_statement_types(st: JSONDict, source: str | None) -> None:
    """Every statement value has its type (issue 11: a number where the statement holds a decimal
    string, ``2.5e1`` for ``"25"``, is a malformed bundle, not a proof for another threshold)."""
    for key in STATEMENT_KEYS:
        value = st[key]
        if key == "gates":
            ok = isinstance(value, int) and not isinstance(value, bool)
            want = "a whole number"
        elif key == "slots":
            ok = isinstance(value, list) and all(isinstance(s, str) for s in value)
            want = "a list of slot names"
        elif key == "challenge":
            ok = value is None or isinstance(value, str)
            want = "a hex string or null"
        else:
            ok = isinstance(value, str)
            want = "a string"
        if not ok:
            raise FormatError(f"must be {want}", source=source, field=f"statement.{key}")


def load_bundle(bundle: object) -> ProofBundle:
    """A parsed bundle from a :class:`ProofBundle`, its JSON object, JSON text or bytes, or a path."""
    if isinstance(bundle, ProofBundle):
        return bundle
    if isinstance(bundle, dict):
        return ProofBundle.from_json_dict(bundle)
    if isinstance(bundle, (bytes, bytearray)):
        return ProofBundle.from_json(bytes(bundle))
    if isinstance(bundle, (str, Path)):
        text = str(bundle)
        if text.lstrip().startswith("{"):
            return ProofBundle.from_json(text)
        return ProofBundle.load(bundle)
    raise InputError(f"cannot read a proof bundle from {type(bundle).__name__}")


def check_challenge(challenge: object) -> bytes | None:
    """The venue's challenge a proof answers: None, or bytes of :data:`MIN_CHALLENGE_BYTES` to
    :data:`MAX_CHALLENGE_BYTES` (an :class:`InputError` otherwise)."""
    if challenge is None:
        return None
    if not isinstance(challenge, (bytes, bytearray)):
        raise InputError("the challenge must be bytes (hex on the command line)", field="challenge")
    if not MIN_CHALLENGE_BYTES <= len(challenge) <= MAX_CHALLENGE_BYTES:
        raise InputError(
            f"the challenge must be {MIN_CHALLENGE_BYTES} to {MAX_CHALLENGE_BYTES} bytes, got {len(challenge)}",
            field="challenge",
        )
    return bytes(challenge)
