"""CME SPAN in the circuit: scanning risk per combined commodity, intra-commodity spread charges,
inter-commodity spread credits and the short option minimum — the same definitions as the engine
(:mod:`zkmargin.rules.engine.span`), integers at declared scales (``docs/notes/span.md``):

    δ, ratios, credit rates at dr; charges, price scan ranges, SOM at dp; sizes at ds
    loss_{c,s} = −Σ_{i∈c} q_i·pnl_{i,s}               at ds+dp
    D_t = Σ δ_i·q_i, |D_t| by abs_value               at ds+dr; magnitudes carried at ds+2dr
    N (spreads) = opp·min(⌊A_a/r_a⌋, ⌊A_b/r_b⌋)         at ds+dr
    T_c ≥ scan_c + intra_c − credit_c, T_c ≥ SOM_c, T_c ≥ 0      at S = ds+dp+3dr
    requirement = round(factor · Σ_c T_c)              at plan.SR

The scan ``M_c`` and the commodity total ``T_c`` are maxima, proved by inequalities the prover can
only overstate; the spread counts (a minimum of floors, signs) are pinned exactly
(:mod:`.exact_ops`), because the charge enters with a + sign and the credit with a − sign.

May import :mod:`..cs`, :mod:`..gadgets`, :mod:`.exact_ops`, :mod:`.plan` and :mod:`.rounding`;
:mod:`zkmargin.rules` for the plan. Used by :mod:`.plan` (:func:`plan_span`) and
:mod:`.portfolio` (:func:`span_requirement`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from zkmargin.rules.decimals import to_fixed

from ..cs import ConstraintSystem, LinearCombination, Variable
from ..gadgets import abs_value, bits_for, range_check
from .constants import coefficient
from .exact_ops import bounds, exact_min, floor_div, worst_loss
from .plan import MarginPlan, p10
from .rounding import round_requirement

if TYPE_CHECKING:
    from zkmargin.rules.models import Policy

LC = LinearCombination


@dataclass
class SpanCommodityPlan:
    name: str
    members: list[tuple[str, int, int]]  # (symbol, delta at dr, tier)
    psr: int  # price scan range per unit delta, at dp
    som: int  # short option minimum per short unit, at dp
    intra: list[tuple[int, int, int, int, int]]  # (tier_a, tier_b, ratio_a dr, ratio_b dr, charge dp)
    calls: list[str] = field(default_factory=list)
    puts: list[str] = field(default_factory=list)


@dataclass
class SpanPlan:
    commodities: list[SpanCommodityPlan]
    inter: list[tuple[int, int, int, int, int]]  # (cc index a, cc index b, ratio_a, ratio_b, rate), dr
    scale: int  # S = ds + dp + 3·dr, the scale of a commodity's total


def plan_span(policy: Policy, ds: int, dp: int, dr: int) -> SpanPlan:
    """The ``span`` section as integers at the policy's scales."""
    sp = policy.span
    assert sp is not None
    ccs = []
    for cc in sp.combined_commodities:
        members = [(sym, to_fixed(m.delta, dr), m.tier) for sym, m in cc.instruments.items()]
        intra = [(s.tier_a, s.tier_b, to_fixed(s.ratio_a, dr), to_fixed(s.ratio_b, dr), to_fixed(s.charge, dp))
                 for s in cc.intra_spreads]
        plan = SpanCommodityPlan(cc.name, members, to_fixed(cc.price_scan_range, dp),
                                 to_fixed(cc.short_option_minimum, dp), intra)
        for sym in cc.instruments:
            ins = policy.instrument(sym)
            if ins.kind == "option":
                (plan.calls if ins.right == "call" else plan.puts).append(sym)
        ccs.append(plan)
    index = {cc.name: k for k, cc in enumerate(sp.combined_commodities)}
    inter = [(index[s.cc_a], index[s.cc_b], to_fixed(s.ratio_a, dr), to_fixed(s.ratio_b, dr), to_fixed(s.credit_rate, dr))
             for s in sp.inter_spreads]
    return SpanPlan(ccs, inter, ds + dp + 3 * dr)


class _Deltas:
    """Remaining delta magnitudes of a set of legs (tiers or commodities) with their sign bits.

    A magnitude is kept at ``ds+dr`` while every spread that consumed it had ratio 1 (then the
    floor ⌊A/1⌋ is A itself, no gates), and at ``ds+2dr`` once a ratio ≠ 1 consumed part of it."""

    def __init__(self, unit: int):
        self.unit = unit  # 10^dr: ratio 1 at the rate scale
        self.mag: dict[int, LC] = {}
        self.lifted: dict[int, bool] = {}
        self.sign: dict[int, Variable] = {}

    def add(self, cs: ConstraintSystem, key: int, delta: LC, label: str) -> None:
        lo, hi = bounds(cs, delta, label)
        mag, sign = abs_value(cs, delta, bits_for(max(1, hi, -lo)), label)
        self.mag[key], self.lifted[key], self.sign[key] = LC.of(mag), False, sign

    def count(self, cs: ConstraintSystem, key: int, ratio: int, label: str) -> LC:
        """⌊A / ratio⌋ at ds+dr."""
        if ratio == self.unit and not self.lifted[key]:
            return self.mag[key]
        if not self.lifted[key]:
            self.mag[key], self.lifted[key] = self.mag[key] * self.unit, True
        return floor_div(cs, self.mag[key], ratio, label)

    def consume(self, key: int, n: LC, ratio: int) -> None:
        if self.lifted[key]:
            self.mag[key] = self.mag[key] - n * ratio
        else:  # ratio is 1 (count() lifted every other case)
            self.mag[key] = self.mag[key] - n

    def spread(self, cs: ConstraintSystem, a: int, b: int, ra: int, rb: int, label: str) -> LC:
        """Form the spreads between legs a and b (opposite signs only); returns their number N at
        ds+dr, pinned exactly: N = opp·min(⌊A_a/r_a⌋, ⌊A_b/r_b⌋), opp = s_a XOR s_b."""
        na = self.count(cs, a, ra, f"{label}: first leg")
        nb = self.count(cs, b, rb, f"{label}: second leg")
        m = exact_min(cs, na, nb, f"{label}: spreads")
        _, _, both = cs.multiply(self.sign[a], self.sign[b])
        opposite = LC.of(self.sign[a]) + self.sign[b] - both * 2
        _, _, n = cs.multiply(opposite, m)
        # opposite is 0 or 1 (boolean signs), so N is 0 or m
        lo, hi = bounds(cs, LC.of(m), label)
        cs.set_bound(n, min(0, lo), max(0, hi))
        self.consume(a, LC.of(n), ra)
        self.consume(b, LC.of(n), rb)
        return LC.of(n)


def _short_units(cs: ConstraintSystem, var: dict[str, Variable], symbols: list[str]) -> LC:
    """Σ max(−q_i, 0) = −Σ q_i·s_i with the sign bits the size range checks pinned (exact)."""
    total = LC()
    for sym in symbols:
        _, _, qs = cs.multiply(var[f"size:{sym}"], var[f"sign:{sym}"])
        total = total - qs
    return total


def span_requirement(cs: ConstraintSystem, plan: MarginPlan, var: dict[str, Variable]) -> LC:
    """The rounded SPAN requirement at ``plan.SR`` (see the module docstring)."""
    sp = plan.span
    assert sp is not None
    dr = plan.dr
    S = sp.scale
    pnl = {ip.symbol: ip.pnl for ip in plan.instruments}
    unit = p10(dr)
    nets = _Deltas(unit)
    rows = []
    for c, cc in enumerate(sp.commodities):
        label = f"span {cc.name}"
        losses = []
        for s in range(plan.n_scenarios):
            loss = LC()
            for sym, _, _ in cc.members:
                loss = loss - var[f"size:{sym}"] * pnl[sym][s]
            losses.append(loss)
        scan = worst_loss(cs, losses, f"{label}: scan")
        cf = f"span.combined_commodities[{c}]"
        tier_delta: dict[int, LC] = {}
        for sym, delta, tier in cc.members:
            delta = coefficient(delta, f"{cf}.instruments.{sym}.delta", f"the delta of {sym}")
            tier_delta[tier] = tier_delta.get(tier, LC()) + var[f"size:{sym}"] * delta
        intra = LC()
        if cc.intra:
            tiers = _Deltas(unit)
            used = {t for ta, tb, *_ in cc.intra for t in (ta, tb)}
            for t, d in sorted(tier_delta.items()):
                if t in used:
                    tiers.add(cs, t, d, f"{label}: tier {t} delta")
            for k, (ta, tb, ra, rb, charge) in enumerate(cc.intra):
                sf = f"{cf}.intra_spreads[{k}]"
                coefficient(ra, f"{sf}.ratio_a", "a spread ratio")
                coefficient(rb, f"{sf}.ratio_b", "a spread ratio")
                n = tiers.spread(cs, ta, tb, ra, rb, f"{label}: intra spread {k}")
                intra = intra + n * coefficient(charge * p10(2 * dr), f"{sf}.charge", "a spread charge")
        if any(c in (a, b) for a, b, *_ in sp.inter):
            nets.add(cs, c, sum(tier_delta.values(), LC()), f"{label}: net delta")
        som = coefficient(cc.som * p10(3 * dr), f"{cf}.short_option_minimum", "the short option minimum")
        soms = [_short_units(cs, var, side) * som for side in (cc.calls, cc.puts) if side and cc.som]
        rows.append((cc, scan, intra, soms))
    credit = [LC() for _ in sp.commodities]
    for k, (a, b, ra, rb, rate) in enumerate(sp.inter):
        sf = f"span.inter_spreads[{k}]"
        coefficient(ra, f"{sf}.ratio_a", "a spread ratio")
        coefficient(rb, f"{sf}.ratio_b", "a spread ratio")
        n = nets.spread(cs, a, b, ra, rb, f"span inter spread {k}")
        credit[a] = credit[a] + n * coefficient(rate * ra * sp.commodities[a].psr, f"{sf}.credit_rate", "a spread credit")
        credit[b] = credit[b] + n * coefficient(rate * rb * sp.commodities[b].psr, f"{sf}.credit_rate", "a spread credit")
    total = LC()
    for c, (cc, scan, intra, soms) in enumerate(rows):
        label = f"span {cc.name}"
        x = LC.of(scan) * p10(3 * dr) + intra - credit[c]
        floors = [x] + soms
        hi = max([1] + [bounds(cs, f, label)[1] for f in floors])

        def value(floors: list[LC] = floors) -> int:
            return max([0] + [cs.eval_signed(f) for f in floors])

        T = cs.allocate(value if cs.is_prover else None)
        range_check(cs, T, bits_for(hi), f"{label}: total")
        for j, f in enumerate(floors):
            gap = LC.of(T) - f
            range_check(cs, gap, bits_for(max(1, bounds(cs, gap, label)[1])), f"{label}: total covers term {j}")
        total = total + T
    req = total * coefficient(plan.factor * p10(plan.SR - S - dr), "scenarios.factor", "the scenario factor")
    return round_requirement(cs, req, plan, "span requirement")
