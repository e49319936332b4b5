"""Deribit's portfolio margin add-ons in clear text — the oracle of
:mod:`zkmargin.circuits.margin.deribit_pme` (``docs/notes/span.md`` has the sources):

* worst case ``W = max(0, max_s loss_s)``, ``loss_s = −Σ_i q_i·pnl_{i,s}`` (the risk matrix),
  rounded as ``worst_case_rounding`` says (Deribit: to 1e-9, to nearest) **before** anything is
  added to it;
* roll shock ``Σ_g rate_g · |Σ_{i∈g} δ_i·q_i|`` over the expiry groups;
* delta shock ``|Δ| · min(cap, slope · max(0, |Δ| − threshold))`` with ``Δ = Σ_i δ_i·q_i``;
* option contingency ``rate · Σ_k max(0, −Σ_{i∈k} q_i)`` over the strikes ``k``;
* futures contingency ``rate · min(L, S)``, ``L = Σ v_i·max(q_i, 0)``, ``S = Σ v_i·max(−q_i, 0)``;
* risk matrix margin = the sum; requirement ``round(factor · risk matrix margin)`` with the
  policy's factor (Deribit's ``mm_factor`` for maintenance) and rounding.

May import :mod:`zkmargin.rules.decimals`, :mod:`zkmargin.rules.models`, :mod:`.exact` and
:mod:`.span` (the policy's rounding). Used by :mod:`.requirements` and the tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext

from ..decimals import EXACT, quantize
from ..models import Policy
from .exact import _ZERO, _d
from .span import rounded


@dataclass
class PmeBreakdown:
    """The Deribit figures for one account (Deribit's names where it has them)."""

    worst_case: Decimal
    worst_case_rounded: Decimal
    roll_shock: Decimal
    delta_shock: Decimal
    option_contingency: Decimal
    futures_contingency: Decimal
    risk_matrix_margin: Decimal
    requirement: Decimal


def pme_breakdown(policy: Policy, sizes: Mapping[str, Decimal]) -> PmeBreakdown:
    """Deribit's portfolio margin for ``sizes`` (symbol → signed size; absent symbols hold zero)
    under the policy's ``deribit_pme`` section and scenario table (see the module docstring)."""
    pm, table = policy.deribit_pme, policy.scenarios
    assert pm is not None and table is not None  # a validated PME policy has both
    q = {sym: _d(sizes.get(sym, _ZERO)) for sym in policy.symbols}
    with localcontext(EXACT):
        worst = _ZERO
        for s in range(len(table.names)):
            worst = max(worst, -sum((q[i] * table.pnl[i][s] for i in q), _ZERO))
        r = pm.worst_case_rounding
        worst_r = worst if r is None else quantize(worst, r.decimals, r.mode)
        roll = _ZERO
        for g in pm.roll_shock:
            roll += g.rate * abs(sum((pm.deltas[i] * q[i] for i in g.instruments), _ZERO))
        delta_shock = _ZERO
        if pm.delta_shock is not None:
            ds = pm.delta_shock
            a = abs(sum((pm.deltas[i] * q[i] for i in q), _ZERO))
            delta_shock = a * min(ds.cap, ds.slope * max(_ZERO, a - ds.threshold))
        option_c = _ZERO
        if pm.option_contingency is not None:
            oc = pm.option_contingency
            option_c = oc.rate * sum((max(_ZERO, -sum((q[i] for i in k), _ZERO))
                                      for k in oc.strikes), _ZERO)
        futures_c = _ZERO
        if pm.futures_contingency is not None:
            fc = pm.futures_contingency
            longs = sum((v * max(q[i], _ZERO) for i, v in fc.instruments.items()), _ZERO)
            shorts = sum((v * max(-q[i], _ZERO) for i, v in fc.instruments.items()), _ZERO)
            futures_c = fc.rate * min(longs, shorts)
        rmm = worst_r + roll + delta_shock + option_c + futures_c
        return PmeBreakdown(worst, worst_r, roll, delta_shock, option_c, futures_c, rmm,
                            rounded(policy, policy.factor * rmm))


def pme_requirement(policy: Policy, sizes: Mapping[str, Decimal]) -> Decimal:
    """The rounded Deribit requirement (:func:`pme_breakdown`)."""
    return pme_breakdown(policy, sizes).requirement
