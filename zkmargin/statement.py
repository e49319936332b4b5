"""The public statement a proof is about: what prover and verifier must agree on, bound into the
transcript as the proof's only public input, and the verifier's comparison of a bundle's claimed
statement with its own — that comparison and the public inputs are :mod:`zkmargin.verification`'s
(``check_statement``, ``public_inputs``), which need no document models.

May import :mod:`zkmargin.crypto` (the protocol version), :mod:`zkmargin.circuits` (the plan and
the circuit whose digest and size it names) and :mod:`zkmargin.rules` (digests, canonical
decimals). Used by :mod:`zkmargin.api`
(which re-exports ``statement_for``), :mod:`zkmargin.prepared` and
:mod:`zkmargin.zone_proofs` (through the API).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .circuits.cs import ConstraintSystem
from .circuits.margin import MarginPlan
from .crypto.r1cs_transcript import PROTOCOL
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
