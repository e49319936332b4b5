"""Portfolio (scenario) margin: the scenario losses and the requirement over them.

``loss_s = −Σ_i q_i·pnl_{i,s}`` for every scenario s of the policy's table, and the requirement
``round(factor·measure)`` at ``SR`` with the table's risk measure (:mod:`.risk_measures`: the worst
loss ``M ≥ max(0, max_s loss_s)`` by default, expected shortfall or VaR). May import
:mod:`..cs`, :mod:`.plan` and :mod:`.risk_measures`. Used by :mod:`.circuit`.
"""

from __future__ import annotations

from ..cs import ConstraintSystem, LinearCombination, Variable
from .plan import MarginPlan
from .risk_measures import measure_requirement


def portfolio_requirement(cs: ConstraintSystem, plan: MarginPlan, var: dict[str, Variable]) -> LinearCombination:
    """The rounded portfolio requirement at ``SR``: a venue's rule when the plan has one
    (:mod:`.span`, :mod:`.deribit_pme`: they replace the whole requirement), else the policy's risk
    measure over the scenario losses (:func:`.risk_measures.measure_requirement`; the worst loss by
    default)."""
    if plan.span is not None:
        from .span import span_requirement

        return span_requirement(cs, plan, var)
    if plan.pme is not None:
        from .deribit_pme import pme_requirement

        return pme_requirement(cs, plan, var)
    losses = []
    for s in range(plan.n_scenarios):
        loss = LinearCombination()
        for ip in plan.instruments:
            loss = loss - var[f"size:{ip.symbol}"] * ip.pnl[s]
        losses.append(loss)
    return measure_requirement(cs, plan, losses)
