"""Collateral: the haircut value of the committed balances, flat or value-tiered.

Each balance ``b_j`` is range-checked to the amount width. A flat haircut is linear,
``value_j = b_j·price_j·(1−h_j)``; tiers select the slice that holds ``b_j`` (:mod:`.pieces`) and
use its slope and intercept, the concave form ``value = min_k (slope_k·V + intercept_k)`` of
:func:`zkmargin.rules.engine.collateral_pieces`. May import :mod:`..cs`, :mod:`..gadgets`,
:mod:`.plan` and :mod:`.pieces`. Used by :mod:`.circuit`.
"""

from __future__ import annotations

from ..cs import ConstraintSystem, LinearCombination, Variable
from ..gadgets import range_check
from .pieces import select_piece
from .plan import MarginPlan, p10


def collateral_value(cs: ConstraintSystem, plan: MarginPlan, var: dict[str, Variable]) -> LinearCombination:
    """``Σ_j value_j`` at ``da+dp+dr``, with every balance range-checked."""
    dp = plan.dp
    collateral_value = LinearCombination()
    for cp in plan.collateral:
        b = var[f"balance:{cp.asset}"]
        b_bits = range_check(cs, b, plan.amount_bits, f"balance {cp.asset}")
        if len(cp.tiers) == 1 and cp.tiers[0][1] >= (1 << plan.amount_bits) - 1:
            _, _, slope, icpt = cp.tiers[0]
            collateral_value = collateral_value + b * (cp.price * slope) + icpt * p10(dp)
        else:
            es = select_piece(cs, LinearCombination.of(b), plan.amount_bits, b_bits, [(lo, hi) for lo, hi, _, _ in cp.tiers], f"collateral {cp.asset} tier")
            slope_sel = sum((e * t[2] for e, t in zip(es, cp.tiers)), LinearCombination())
            icpt_sel = sum((e * t[3] for e, t in zip(es, cp.tiers)), LinearCombination())
            _, _, o = cs.multiply(b, slope_sel)
            collateral_value = collateral_value + o * cp.price + icpt_sel * p10(dp)
    return collateral_value
