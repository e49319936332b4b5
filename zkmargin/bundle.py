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
checked against the commitments (:mod:`zkmargin.trust`), so leaving one out or adding a foreign
one only gets the bundle rejected. ``zkmargin.proof/1`` bundles (no attestations) are refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from .files.atomic import write_atomic  # noqa: F401  (re-exported: zkmargin.bundle.write_atomic)
from .errors import FormatError

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


def canonical_statement_bytes(statement: dict) -> bytes:
    return json.dumps(statement, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def hex_field(value: Any, what: str, source, size: int | None = None, *, lowercase: bool = False) -> bytes:
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
    statement: dict
    commitments: list[bytes]
    proof: bytes
    attestations: Optional[list] = None  # zkmargin.attest.SignedCommitments; None or [] = none

    def __post_init__(self):
        if self.attestations is None:
            self.attestations = []

    def to_json_dict(self) -> dict:
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

    def save(self, path) -> None:
        write_atomic(path, self.to_json().encode())

    @classmethod
    def from_json_dict(cls, data: Any, source: str | None = None) -> "ProofBundle":
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
        from .attest import SignedCommitments  # attest imports this module

        attestations = [SignedCommitments.from_json_dict(a, source, f"attestations[{i}].")
                        for i, a in enumerate(atts)]
        return cls(statement=dict(st), commitments=commitments, proof=proof, attestations=attestations)

    @classmethod
    def from_json(cls, text: str | bytes, source: str | None = None) -> "ProofBundle":
        if len(text) > MAX_BUNDLE_BYTES:
            raise FormatError(f"a proof bundle is at most {MAX_BUNDLE_BYTES} bytes", source=source)
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise FormatError(f"not valid JSON ({exc.__class__.__name__})", source=source) from None
        return cls.from_json_dict(data, source)

    @classmethod
    def load(cls, path) -> "ProofBundle":
        p = Path(path)
        try:
            with open(p, "rb") as fh:
                raw = fh.read(MAX_BUNDLE_BYTES + 1)
        except OSError as exc:
            raise FormatError(f"cannot read ({exc.strerror})", source=str(p)) from None
        return cls.from_json(raw, source=str(p))
