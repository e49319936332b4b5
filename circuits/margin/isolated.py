"""Isolated margin: each position's own equity ``e_i = iso_i + q_i·(mark_i − entry_i)`` and its own
inequality ``e_i ≥ (1 + buffer)·R_i``.

In isolated mode the entry price and the isolated margin of every instrument are committed slots,
range-checked here to the price and amount widths. May import :mod:`..cs`, :mod:`..gadgets` and
:mod:`.plan`. Used by :mod:`.circuit`.
"""

from __future__ import annotations

from ..cs import ConstraintSystem, LinearCombination, Variable
from ..gadgets import bits_for, range_check, upper_bound
from .plan import InstrumentPlan, MarginPlan, p10


def isolated_equity(cs: ConstraintSystem, plan: MarginPlan, ip: InstrumentPlan, q: Variable, entry: Variable, iso: Variable) -> LinearCombination:
    """``e_i`` at ``Z``, with ``entry_i`` and ``iso_i`` range-checked."""
    Z, ds, dp, da = plan.Z, plan.ds, plan.dp, plan.da
    range_check(cs, entry, plan.price_bits, f"entry price {ip.symbol}")
    range_check(cs, iso, plan.amount_bits, f"isolated margin {ip.symbol}")
    _, _, qe = cs.multiply(q, entry)
    e_i: LinearCombination = iso * p10(Z - da) + (q * ip.mark - qe) * p10(Z - (ds + dp))
    return e_i


def isolated_meets(cs: ConstraintSystem, plan: MarginPlan, symbol: str, e_i: LinearCombination, mm: LinearCombination) -> None:
    """``e_i − (1 + buffer)·R_i ≥ 0`` (``mm`` = the rounded ``R_i`` at ``SR``)."""
    one_b = p10(plan.dr) + plan.buffer
    gap = e_i - mm * (one_b * p10(plan.Z - plan.SR - plan.dr))
    range_check(cs, gap, bits_for(max(1, upper_bound(cs, gap, f"isolated position {symbol}"))), f"isolated position {symbol} meets its requirement")
