"""The public statement a proof is about: what prover and verifier must agree on, bound into the
transcript as the proof's only public input, and the verifier's comparison of a bundle's claimed
statement with its own (each difference named, an older protocol told to prove again).

May import :mod:`zkmargin.crypto` (the protocol version), :mod:`zkmargin.circuits` (the plan and
the circuit whose digest and size it names), :mod:`zkmargin.rules` (digests, canonical decimals)
and :mod:`zkmargin.documents.bundle` (the statement's canonical bytes). Used by :mod:`zkmargin.api`
(which re-exports ``statement_for`` and ``public_inputs``), :mod:`zkmargin.prepared` and
:mod:`zkmargin.zone_proofs` (through the API).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .circuits.cs import ConstraintSystem
from .circuits.margin import MarginPlan
from .crypto.r1cs_transcript import OLD_PROTOCOLS, PROTOCOL
from .documents.bundle import canonical_statement_bytes
from .errors import StatementMismatchError
from .rules.decimals import canonical
from .rules.digests import market_digest, policy_digest
from .rules.models import Market, Policy


def statement_for(policy: Policy, market: Market, threshold: Decimal, challenge: bytes | None,
                  plan: MarginPlan, cs: ConstraintSystem) -> dict[str, Any]:
    """The public statement a proof is about (what both sides must agree on)."""
    return {
        "protocol": PROTOCOL.decode(),
        "venue": policy.venue,
        "mode": policy.mode,
        "requirement": policy.requirement,
        "policy_digest": policy_digest(policy),
        "market_digest": market_digest(market),
        "as_of": market.as_of,
        "threshold": canonical(threshold),
        "challenge": challenge.hex() if challenge is not None else None,
        "circuit_digest": cs.digest().hex(),
        "gates": cs.total_gates,
        "slots": plan.slot_names(),
    }


def public_inputs(statement: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    return [(b"statement", canonical_statement_bytes(statement))]


_MISMATCH = {
    "protocol": "the proof uses another protocol version",
    "policy_digest": "the proof is for another policy",
    "market_digest": "the proof is for another market snapshot",
    "threshold": "the proof is for another threshold",
    "challenge": "the proof answers another challenge",
    "circuit_digest": "the proof is for another circuit",
}


def _check_statement(claimed: dict[str, Any], expected: dict[str, Any], index: int | None = None) -> None:
    where = "" if index is None else f"bundle {index}: "
    if claimed.get("protocol") in {p.decode() for p in OLD_PROTOCOLS}:
        raise StatementMismatchError(
            f"{where}the proof was made by an older zkmargin ({claimed['protocol']}); this version verifies "
            f"{PROTOCOL.decode()} proofs only: prove again"
        )
    for key in ("protocol", "policy_digest", "market_digest", "threshold", "challenge", "circuit_digest"):
        if claimed.get(key) != expected[key]:
            raise StatementMismatchError(f"{where}{_MISMATCH[key]} ({key} differs)")
    for key, value in expected.items():
        if claimed.get(key) != value:
            raise StatementMismatchError(f"{where}the statement's {key!r} differs from the verifier's")
    for key in set(claimed) - set(expected):
        raise StatementMismatchError(f"{where}the statement claims {key!r}, which this verification does not ask about")
