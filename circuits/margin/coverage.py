"""Issue 15 (A) in the circuit: hedge-mode legs, inverse contracts, option standard margin and open
orders, each written once for prover and verifier (docs/notes/coverage.md has the encodings and
why the prover cannot understate).

* A hedge leg's size has a *public* sign: the long leg is range-checked as ``q ∈ [0, 2^b)``, the
  short leg as ``−q ∈ [0, 2^b)``; each leg has its own bracket and requirement, so the legs of one
  symbol are never netted (``R(|q_L|) + R(|q_S|) ≥ R(|q_L + q_S|)``: netting would understate).
* Inverse: the plan's ``mark`` is the coin unit ``cs·ρ↑(mark)`` (public, ``dp + dρ`` digits); the
  requirement is the instrument's rule at the coin notional ``|q|·unit`` (:func:`.positions.
  position_requirement` on a plan with ``dp + dρ`` price digits), times the settle coin's price.
  The coin cost basis ``B = Σ q·cs·ρ(entry)`` is one committed slot per settle coin, bound to what
  entry prices within the width give: ``ρ(entry) ∈ [ρ_lo, ρ_hi]`` with ``ρ_lo = ⌊10^(dp+dρ)/P⌋``
  (entry ``P = 2^price_bits − 1`` ticks) and ``ρ_hi = 10^(dp+dρ)`` (entry one tick).
* Option: ``R = max(q, 0)·long + max(−q, 0)·short`` with the public per-contract figures; the
  split uses ``s = min(q, 0) = q·sign`` (one product gate).
* Open orders: committed totals ``B_buy, B_sell ≥ 0``; ``M ≥ R(|q + B_buy|)``, ``M ≥ R(|q − B_sell|)``
  (the prover may only overstate ``M``), and ``M`` replaces ``R(|q|)``.

May import :mod:`..cs`, :mod:`..gadgets`, :mod:`.plan`, :mod:`.positions` and
:mod:`.coverage_plan`. Used by :mod:`.circuit`.
"""

from __future__ import annotations

from dataclasses import replace

from zkmargin.crypto.field import signed

from ..cs import ConstraintSystem, LCLike, LinearCombination, Variable
from ..gadgets import abs_value, bits_for, range_check, upper_bound
from .coverage_plan import (
    inverse_cost_bits,
    inverse_cost_key,
    inverse_rho_bounds,
    inverse_short_rho_min,
)
from .plan import InstrumentPlan, MarginPlan, p10
from .positions import position_requirement
from .public_numbers import coefficient


def leg_size(cs: ConstraintSystem, plan: MarginPlan, ip: InstrumentPlan, q: Variable) -> tuple[LinearCombination, list[Variable], LinearCombination]:
    """``(|q|, bits of |q|, min(q, 0))`` of a hedge leg, whose sign is public."""
    if ip.leg == "long":
        bits = range_check(cs, q, plan.size_bits, f"size {ip.key}")
        return LinearCombination.of(q), bits, LinearCombination()
    neg = -LinearCombination.of(q)
    bits = range_check(cs, neg, plan.size_bits, f"size {ip.key}")
    return neg, bits, LinearCombination.of(q)


def requirement(cs: ConstraintSystem, plan: MarginPlan, ip: InstrumentPlan, q: LCLike, qabs: LCLike, q_bits: list[Variable], short: LCLike) -> LinearCombination:
    """One position's (or leg's) requirement at ``SR``, before rounding, for every rule."""
    SR = plan.SR
    if ip.opt is not None:
        long_u, short_u = ip.opt
        lift = p10(SR - (plan.ds + plan.dp + plan.dr))
        longs = LinearCombination.of(q) - LinearCombination.of(short)
        r: LinearCombination = (longs * coefficient(long_u * lift, f"instruments.{ip.key}.opt")
                                - LinearCombination.of(short) * coefficient(short_u * lift, f"instruments.{ip.key}.opt"))
        return r
    if ip.inv is None:
        return position_requirement(cs, plan, ip, qabs, q_bits)
    # inverse: the rule at the coin notional |q|·(cs·ρ↑), on a plan whose prices carry dp + dρ digits
    vplan = replace(plan, dp=plan.dp + plan.drho, instruments=[replace(ip, inv=None)])
    coin = position_requirement(cs, vplan, vplan.instruments[0], qabs, q_bits)  # at vplan.SR
    vSR = plan.inverse_SR(ip)
    lift = ip.inv.x * p10(SR - vSR - ip.inv.dx)
    for c in coin.terms.values():  # the coin requirement's coefficients, converted and lifted
        coefficient(signed(c) * lift, f"instruments.{ip.key}.inverse")
    lifted: LinearCombination = coin * lift
    return lifted


def order_requirement(cs: ConstraintSystem, plan: MarginPlan, ip: InstrumentPlan, q: Variable, var: dict[str, Variable]) -> LinearCombination:
    """``M ≥ R(|q + buys|)`` and ``M ≥ R(|q − sells|)`` at ``SR``: the worse side of the orders."""
    buy = var[f"size:{ip.symbol}#buy"]
    sell = var[f"size:{ip.symbol}#sell"]
    range_check(cs, buy, plan.size_bits, f"buy orders {ip.symbol}")
    range_check(cs, sell, plan.size_bits, f"sell orders {ip.symbol}")
    sides = []
    for name, x in (("buy", LinearCombination.of(q) + buy), ("sell", LinearCombination.of(q) - sell)):
        x_bits: list[Variable] = []
        xabs, _ = abs_value(cs, x, plan.size_bits, f"{ip.symbol} with {name} orders", bits_out=x_bits)
        sides.append(position_requirement(cs, plan, ip, xabs, x_bits))
    hi = max(upper_bound(cs, r, f"orders {ip.symbol}") for r in sides)

    def worst() -> int:
        return max(0, *(cs.eval_signed(r) for r in sides))

    M = cs.allocate(worst if cs.is_prover else None)
    range_check(cs, M, bits_for(max(1, hi)), f"orders {ip.symbol}: requirement")
    for name, r in zip(("buy", "sell"), sides):
        gap = LinearCombination.of(M) - r
        range_check(cs, gap, bits_for(max(1, upper_bound(cs, gap, f"orders {ip.symbol}"))), f"orders {ip.symbol}: covers the {name} side")
    return LinearCombination.of(M)


def inverse_equity(cs: ConstraintSystem, plan: MarginPlan, var: dict[str, Variable], terms: list[tuple[InstrumentPlan, LinearCombination, LinearCombination]]) -> LinearCombination:
    """The inverse contracts' PnL at ``Z``, per settle coin::

        B − Σ [(q − s)·cs·ρ↑ + s·cs·ρ↓]    (coin, at ds+dp+dρ), times the coin's price

    with ``B`` bound by ``Σ (q−s)·cs·ρ_lo + s·cs·ρ_hi ≤ B ≤ Σ (q−s)·cs·ρ_hi + s·cs·ρ_lo'``, where
    ``ρ_lo = ⌊10^(dp+dρ)/P⌋`` (a long's least reciprocal, rounded down) and ``ρ_lo' = ⌈10^(dp+dρ)/P⌉``
    (a short's, rounded up: with ``ρ_lo`` a short could claim more than any entry gives).
    ``terms`` are ``(plan, q, s = min(q, 0))`` per inverse instrument."""
    lo, hi = inverse_rho_bounds(plan)
    lo_short = inverse_short_rho_min(plan)
    k = inverse_cost_bits(plan)
    out = LinearCombination()
    for settle in dict.fromkeys(ip.inv.settle for ip, _, _ in terms):
        B = var[f"cost:{inverse_cost_key(settle)}"]
        mine = [(ip, q, s) for ip, q, s in terms if ip.inv.settle == settle]
        L = sum(((q - s) * (ip.inv.cs * lo) + s * (ip.inv.cs * hi) for ip, q, s in mine), LinearCombination())
        U = sum(((q - s) * (ip.inv.cs * hi) + s * (ip.inv.cs * lo_short) for ip, q, s in mine), LinearCombination())
        range_check(cs, B - L, k, f"inverse cost basis {settle}: at least what entry prices within the width give")
        range_check(cs, U - B, k, f"inverse cost basis {settle}: at most what entry prices within the width give")
        marked = sum(((q - s) * (ip.inv.cs * ip.inv.rho_up) + s * (ip.inv.cs * ip.inv.rho_down) for ip, q, s in mine), LinearCombination())
        ip0 = mine[0][0]
        scale = plan.ds + plan.dp + plan.drho + ip0.inv.dx
        lift = ip0.inv.x * p10(plan.Z - scale)
        for ip, _, _ in mine:  # the largest coefficient of B − marked, at Z (ρ_hi ≥ every reciprocal)
            coefficient(ip.inv.cs * hi * lift, f"instruments.{ip.key}.inverse")
        out = out + (LinearCombination.of(B) - marked) * lift
    return out
