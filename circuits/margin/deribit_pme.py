"""Deribit's portfolio margin add-ons in the circuit — the same definitions as the engine
(:mod:`zkmargin.rules.engine.deribit_pme`), integers at declared scales (``docs/notes/span.md``):

    worst case     M ≥ 0, M ≥ loss_s (overstate only); W = round(M) pinned exactly     at ds+dp
    roll shock     Σ_g rate_g·|D_g|, D_g = Σ_{i∈g} δ_i·q_i, |·| by abs_value            at ds+2dr
    delta shock    A = |Σ δ_i·q_i|; e = max(0, A − thr); m = min(cap, slope·e); A·m     at 2ds+3dr
    option cont.   c_k ≥ 0, c_k ≥ −Σ_{i∈k} q_i (overstate only); rate·Σ c_k            at ds+dp
    futures cont.  rate·min(L, S), L = Σ v_i·max(q_i,0), S = Σ v_i·max(−q_i,0) (exact)  at ds+dp+dr
    requirement    round(factor · Σ)                                                    at plan.SR

May import :mod:`..cs`, :mod:`..gadgets`, :mod:`.exact_ops`, :mod:`.plan` and :mod:`.rounding`;
:mod:`zkmargin.rules` for the plan. Used by :mod:`.plan` (:func:`plan_pme`) and
:mod:`.portfolio` (:func:`pme_requirement`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from zkmargin.rules.decimals import to_fixed

from ..cs import ConstraintSystem, LinearCombination, Variable
from ..gadgets import abs_value, bits_for, range_check
from .constants import coefficient
from .exact_ops import bounds, exact_max0, exact_min, round_exact, worst_loss
from .plan import MarginPlan, p10
from .rounding import round_requirement

if TYPE_CHECKING:
    from zkmargin.rules.models import Policy

LC = LinearCombination


@dataclass
class PmePlan:
    deltas: dict[str, int]  # per unit, at dr
    rounding: tuple[str, int] | None  # the worst case's (mode, decimals)
    roll: list[tuple[str, int, list[str]]]  # (name, rate at dr, instruments)
    delta_shock: tuple[int, int, int] | None  # (threshold at ds, slope at dr, cap at dr)
    option_contingency: tuple[int, list[list[str]]] | None  # (rate per unit at dp, strikes)
    futures_contingency: tuple[int, list[tuple[str, int]]] | None  # (rate at dr, [(symbol, value at dp)])
    scale: int  # the scale of the risk matrix margin


def plan_pme(policy: Policy, ds: int, dp: int, dr: int) -> PmePlan:
    """The ``deribit_pme`` section as integers at the policy's scales."""
    pm = policy.deribit_pme
    assert pm is not None
    rounding = None
    scales = [ds + dp]
    if pm.worst_case_rounding is not None:
        rounding = (pm.worst_case_rounding.mode, pm.worst_case_rounding.decimals)
    if pm.roll_shock:
        scales.append(ds + 2 * dr)
    ds_plan = None
    if pm.delta_shock is not None:
        d = pm.delta_shock
        ds_plan = (to_fixed(d.threshold, ds), to_fixed(d.slope, dr), to_fixed(d.cap, dr))
        scales.append(2 * ds + 3 * dr)
    oc = None
    if pm.option_contingency is not None:
        oc = (to_fixed(pm.option_contingency.rate, dp), [list(k) for k in pm.option_contingency.strikes])
    fc = None
    if pm.futures_contingency is not None:
        f = pm.futures_contingency
        fc = (to_fixed(f.rate, dr), [(sym, to_fixed(v, dp)) for sym, v in f.instruments.items()])
        scales.append(ds + dp + dr)
    return PmePlan(
        deltas={sym: to_fixed(d, dr) for sym, d in pm.deltas.items()},
        rounding=rounding,
        roll=[(g.name, to_fixed(g.rate, dr), list(g.instruments)) for g in pm.roll_shock],
        delta_shock=ds_plan,
        option_contingency=oc,
        futures_contingency=fc,
        scale=max(scales),
    )


def _abs(cs: ConstraintSystem, x: LC, label: str) -> Variable:
    lo, hi = bounds(cs, x, label)
    return abs_value(cs, x, bits_for(max(1, hi, -lo)), label)[0]


def pme_requirement(cs: ConstraintSystem, plan: MarginPlan, var: dict[str, Variable]) -> LC:
    """The rounded Deribit requirement at ``plan.SR`` (see the module docstring)."""
    pm = plan.pme
    assert pm is not None
    ds, dp, dr = plan.ds, plan.dp, plan.dr
    S = pm.scale
    q = {ip.symbol: var[f"size:{ip.symbol}"] for ip in plan.instruments}
    delta = {sym: coefficient(d, f"deribit_pme.deltas.{sym}", f"the delta of {sym}") for sym, d in pm.deltas.items()}
    losses = []
    for s in range(plan.n_scenarios):
        loss = LC()
        for ip in plan.instruments:
            loss = loss - q[ip.symbol] * ip.pnl[s]
        losses.append(loss)
    M = LC.of(worst_loss(cs, losses, "deribit: worst case"))
    rmm = M * p10(S - (ds + dp))
    if pm.rounding is not None:
        mode, decimals = pm.rounding
        if decimals < ds + dp:
            # W = q·10^k at ds+dp, with q the worst case rounded to `decimals`
            rmm = round_exact(cs, M, p10(ds + dp - decimals), mode, "deribit: worst case rounded") * p10(S - (ds + dp))
    for g, (name, rate, members) in enumerate(pm.roll):
        a = _abs(cs, sum((q[i] * delta[i] for i in members), LC()), f"deribit: roll shock {name}")
        rmm = rmm + a * coefficient(rate * p10(S - (ds + 2 * dr)), f"deribit_pme.roll_shock[{g}].rate", "a roll shock rate")
    if pm.delta_shock is not None:
        thr, slope, cap = pm.delta_shock
        thr = coefficient(thr * p10(dr), "deribit_pme.delta_shock.threshold", "the delta shock threshold")
        cap = coefficient(cap * p10(ds + dr), "deribit_pme.delta_shock.cap", "the delta shock cap")
        slope = coefficient(slope, "deribit_pme.delta_shock.slope", "the delta shock slope")
        a = _abs(cs, sum((q[i] * delta[i] for i in q), LC()), "deribit: delta")
        e = exact_max0(cs, a - thr, "deribit: delta above the threshold")
        m = exact_min(cs, LC.of(cap), e * slope, "deribit: delta shock rate")
        _, _, shock = cs.multiply(a, m)
        rmm = rmm + shock * p10(S - (2 * ds + 3 * dr))
    if pm.option_contingency is not None:
        rate, strikes = pm.option_contingency
        rate = coefficient(rate * p10(S - (ds + dp)), "deribit_pme.option_contingency.rate", "the option contingency rate")
        for k, members in enumerate(strikes):
            net = sum((LC.of(q[i]) for i in members), LC())
            lo, hi = bounds(cs, net, "deribit: net options at a strike")

            def short(net: LC = net) -> int:
                return max(0, -cs.eval_signed(net))

            c = cs.allocate(short if cs.is_prover else None)
            range_check(cs, c, bits_for(max(1, -lo)), f"deribit: strike {k} net short")
            range_check(cs, c + net, bits_for(max(1, hi - lo)), f"deribit: strike {k} covers the net short")
            rmm = rmm + c * rate
    if pm.futures_contingency is not None:
        rate, members2 = pm.futures_contingency
        longs, shorts = LC(), LC()
        for sym, value in members2:
            value = coefficient(value, f"deribit_pme.futures_contingency.instruments.{sym}", f"the contingency value of {sym}")
            _, _, qs = cs.multiply(q[sym], var[f"sign:{sym}"])  # min(q, 0), exact
            longs = longs + (q[sym] - qs) * value
            shorts = shorts - qs * value
        m2 = exact_min(cs, longs, shorts, "deribit: offsetting futures")
        rmm = rmm + m2 * coefficient(rate * p10(S - (ds + dp + dr)), "deribit_pme.futures_contingency.rate",
                                     "the futures contingency rate")
    req = rmm * coefficient(plan.factor * p10(plan.SR - S - dr), "scenarios.factor", "the scenario factor")
    return round_requirement(cs, req, plan, "deribit requirement")
