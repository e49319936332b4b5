"""The requirement rules of :mod:`zkmargin.rules.engine.tier_rules` in the circuit: their public
numbers in the plan, and the one new constraint they need (ratio rules).

* whole-position tiers, the bracket multiplier and the fee to close change only public numbers: the
  bracket ends (the multiplier scales them), the amounts (zero for a whole-position table, whose
  bracket :mod:`.pieces` pins exactly, so no continuity is needed), the rates (plus the fee);
* a ratio rule ``N·num/den`` (Hyperliquid's ``N / leverage``, dYdX's open-interest-scaled fraction)
  becomes a private ``im`` with ``im·den − N·10^dr·num ∈ [0, 2^bits(den))``: ``im`` is at least the
  exact ratio, so it is at least its rounding up at ``ds+dp+dr`` (an integer), which is what the
  engine charges; a larger ``im`` only raises the requirement (margin-call zones pin it from above
  too: ``exact``).

May import :mod:`zkmargin.rules`, :mod:`..cs`, :mod:`..gadgets` and :mod:`.plan`. Used by the plan
and :mod:`.positions`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from zkmargin.rules.decimals import to_fixed

from ..cs import ConstraintSystem, LCLike, LinearCombination
from ..gadgets import bits_for, range_check, upper_bound
from .constants import coefficient
from .plan import InstrumentPlan, MarginPlan, _interval_bounds, p10

if TYPE_CHECKING:
    from zkmargin.rules.models import Instrument, Market, Rule


def plan_tier_rule(ins: Instrument, rule: Rule, mark: int, market: Market, ds: int, dp: int, dr: int, da: int, size_max: int) -> InstrumentPlan | None:
    """The instrument's plan when its rule uses a rule of this family (else ``None``)."""
    from zkmargin.rules.engine.tier_rules import has_tier_rules, rule_ratio
    from zkmargin.rules.models.policy_checks import scaled_brackets

    if not has_tier_rules(rule):
        return None
    fee = to_fixed(rule.fee_to_close if rule.fee_to_close is not None else Decimal(0), dr)
    kind = rule.kind
    if kind in ("leverage", "open_interest"):
        oi = (market.open_interest or {}).get(ins.symbol)
        num, den = rule_ratio(rule, oi)
        return InstrumentPlan(ins.symbol, ins.kind, mark, "ratio", ratio=(num, den), fee=fee)
    if kind == "flat":
        assert rule.rate is not None
        return InstrumentPlan(ins.symbol, ins.kind, mark, "flat", rate=to_fixed(rule.rate, dr) + fee)
    if kind == "linear":
        assert rule.rate is not None and rule.per_size is not None
        return InstrumentPlan(ins.symbol, ins.kind, mark, "linear", rate=to_fixed(rule.rate, dr) + fee, per_size=to_fixed(rule.per_size, dr))
    bs = scaled_brackets(rule)
    if rule.basis == "size":  # tiers by contracts: the ends are |q| itself
        S, unit = ds, 1
    else:
        S = max(ds + dp, da + dr)
        unit = mark * p10(S - ds - dp)
    caps = [None if b.cap is None else to_fixed(b.cap, S) for b in bs]
    intervals = _interval_bounds(caps, unit, size_max)
    brackets = [
        (lo, hi, to_fixed(b.rate, dr) + fee, to_fixed(b.amount if b.amount is not None else Decimal(0), da + dr)) for (lo, hi), b in zip(intervals, bs)
    ]
    return InstrumentPlan(ins.symbol, ins.kind, mark, "brackets", brackets=brackets)


def ratio_requirement(cs: ConstraintSystem, plan: MarginPlan, ip: InstrumentPlan, qabs: LCLike, *,
                      exact: bool = False) -> LinearCombination:
    """``im + N·fee`` at ``SR`` with ``im ≥ N·num/den`` at ``ds+dp+dr``; with ``exact`` (margin-call
    zones, whose thresholds must not be overstated) also ``im·den − N·10^dr·num ≤ den − 1``, so
    ``im = ⌈N·num/den⌉``. The fraction's numbers are checked as integers (:mod:`.constants`): a
    venue's open-interest fraction can have any number of digits."""
    ds, dp, dr = plan.ds, plan.dp, plan.dr
    num, den = ip.ratio
    what = f"the margin fraction {num}/{den} of {ip.symbol}"
    field = f"open_interest.{ip.symbol}"
    coefficient(den, field, what, market=True)
    x = LinearCombination.of(qabs) * coefficient(ip.mark * p10(dr) * num, field, what, market=True)
    hi = upper_bound(cs, x, f"requirement {ip.symbol}")

    def honest() -> int:
        return -((-cs.eval_signed(x)) // den)

    im = cs.allocate(honest if cs.is_prover else None)
    range_check(cs, im, bits_for(-((-hi) // den)), f"requirement {ip.symbol}: ratio within its width")
    range_check(cs, LinearCombination.of(im) * den - x, bits_for(den), f"requirement {ip.symbol}: at least N·{num}/{den}")
    if exact:
        range_check(cs, x + (den - 1) - LinearCombination.of(im) * den, bits_for(den),
                    f"requirement {ip.symbol}: at most N·{num}/{den} rounded up")
    fee = LinearCombination.of(qabs) * coefficient(ip.mark * ip.fee, f"instruments.{ip.symbol}", f"the fee to close of {ip.symbol}")
    return (LinearCombination.of(im) + fee) * p10(plan.SR - (ds + dp + dr))
