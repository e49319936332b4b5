"""The public numbers of issue 15 (A)'s rules, for the margin plan: inverse contracts (the
reciprocal marks at ``decimals.reciprocal`` digits, the coin unit ``cs·ρ↑(mark)``, coin brackets in
contracts), option standard margin (a long and a short contract's requirement), hedge-mode legs and
open-order slots.

Symbols as in docs/notes/coverage.md. May import :mod:`zkmargin.rules` (the engine's reciprocal and
option figures, so prover, verifier and engine share each number), :mod:`zkmargin.rules.models`,
:mod:`zkmargin.errors` and :mod:`.plan`. Used by :mod:`.plan` (``plan_margin``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from zkmargin.rules.decimals import to_fixed

from ..gadgets import bits_for
from .plan import InstrumentPlan, MarginPlan, _interval_bounds, p10

if TYPE_CHECKING:
    from zkmargin.rules.models import Instrument, Market, Policy


@dataclass
class InversePlan:
    """An inverse instrument's public integers."""

    settle: str  # the settle coin (its cost slot is ``cost:inverse/<settle>``)
    cs: int  # contract size at dp
    rho_up: int  # ρ↑(mark) at dρ
    rho_down: int  # ρ↓(mark) at dρ
    x: int  # settle coin's price at dp (1 when not converted)
    dx: int  # dp when the settle coin is not the quote, else 0


def inverse_cost_key(settle: str) -> str:
    return f"inverse/{settle}"


def inverse_instrument(policy: Policy, market: Market, ins: Instrument, base: InstrumentPlan) -> InstrumentPlan:
    """The plan of an inverse instrument: ``mark`` is the coin unit ``cs·ρ↑(mark)`` at ``dp + dρ``
    and the brackets' intervals are in contracts of coin notional."""
    from zkmargin.rules.engine.inverse import mark_reciprocals
    from zkmargin.rules.models import price_of

    assert ins.inverse is not None
    d = policy.decimals
    ds, dp, da = d.size, d.price, d.amount
    drho = d.reciprocal
    assert drho is not None
    mark = market.prices[ins.symbol]
    up, down = mark_reciprocals(policy, mark)
    cs = to_fixed(ins.inverse.contract_size, dp)
    converted = ins.inverse.settle != policy.quote
    x = to_fixed(price_of(market, policy, ins.inverse.settle), dp) if converted else 1
    inv = InversePlan(ins.inverse.settle, cs, to_fixed(up, drho), to_fixed(down, drho), x, dp if converted else 0)
    unit = cs * inv.rho_up  # at dp + dρ
    out = replace(base, mark=unit, inv=inv)
    if base.rule == "brackets":
        from zkmargin.rules.models.policy_checks import scaled_brackets

        rule = ins.rule(policy.requirement)
        assert rule.brackets is not None
        if rule.basis == "size":  # tiers by contracts: the base plan's ends are |q| itself
            return out
        # the ends as the engine reads them: times notional_coef (tier_rules.py), in coin notional
        S = max(ds + dp + drho, da + d.rate)
        caps = [None if b.cap is None else to_fixed(b.cap, S) for b in scaled_brackets(rule)]
        intervals = _interval_bounds(caps, unit * p10(S - ds - dp - drho), (1 << policy.bits.size) - 1)
        out.brackets = [(lo, hi, r, c) for (lo, hi), (_, _, r, c) in zip(intervals, base.brackets)]
    return out


def option_instrument(policy: Policy, market: Market, ins: Instrument, mark: int) -> InstrumentPlan:
    """An option under standard margin: a long and a short contract's requirement at ``dp + dr``
    (the engine's figures, rounded up)."""
    from zkmargin.rules.engine.options import unit_requirements

    rule = ins.rule(policy.requirement)
    long, short = unit_requirements(rule, policy, market, ins)
    scale = policy.decimals.price + policy.decimals.rate
    return InstrumentPlan(ins.symbol, ins.kind, mark, "option", opt=(to_fixed(long, scale), to_fixed(short, scale)))


def legs(ip: InstrumentPlan) -> list[InstrumentPlan]:
    """Hedge mode: the instrument's long and short legs (same public numbers, own slots)."""
    return [replace(ip, leg="long"), replace(ip, leg="short")]


def inverse_rho_bounds(plan: MarginPlan) -> tuple[int, int]:
    """``(ρ_lo, ρ_hi)`` at ``dρ``: the reciprocal of an entry price within the width."""
    P = (1 << plan.price_bits) - 1
    return p10(plan.dp + plan.drho) // P, p10(plan.dp + plan.drho)


def inverse_cost_bits(plan: MarginPlan) -> int:
    """Width of ``B − L`` and ``U − B`` for one settle coin's cost basis."""
    _, hi = inverse_rho_bounds(plan)
    cs_max = max([ip.inv.cs for ip in plan.instruments if ip.inv is not None] + [1])
    return bits_for(hi * cs_max * len(plan.instruments) * ((1 << plan.size_bits) - 1))
