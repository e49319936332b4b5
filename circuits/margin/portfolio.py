"""Portfolio (scenario) margin and, later, the risk measures over scenario losses.

``loss_s = −Σ_i q_i·pnl_{i,s}`` for every scenario s of the policy's table; a private ``M`` with
``M ≥ loss_s`` for every s and ``M ≥ 0`` (so ``M ≥ max(0, max_s loss_s)``: overstating only hurts
the prover), and the requirement ``round(factor·M)`` at ``SR``. May import :mod:`..cs`,
:mod:`..gadgets`, :mod:`.plan` and :mod:`.rounding`. Used by :mod:`.circuit`.
"""

from __future__ import annotations

from ..cs import ConstraintSystem, LinearCombination, Variable
from ..gadgets import bits_for, range_check, upper_bound
from .plan import MarginPlan, p10
from .rounding import round_requirement


def portfolio_requirement(cs: ConstraintSystem, plan: MarginPlan, var: dict[str, Variable]) -> LinearCombination:
    """The rounded portfolio requirement at ``SR`` (a venue's rule when the plan has one:
    :mod:`.span`, :mod:`.deribit_pme`)."""
    if plan.span is not None:
        from .span import span_requirement

        return span_requirement(cs, plan, var)
    if plan.pme is not None:
        from .deribit_pme import pme_requirement

        return pme_requirement(cs, plan, var)
    SR = plan.SR
    ds, dp, dr = plan.ds, plan.dp, plan.dr
    losses = []
    for s in range(plan.n_scenarios):
        loss = LinearCombination()
        for ip in plan.instruments:
            loss = loss - var[f"size:{ip.symbol}"] * ip.pnl[s]
        losses.append(loss)
    worst_hi = max([0] + [upper_bound(cs, loss, "portfolio: a scenario loss") for loss in losses])
    m_bits = bits_for(worst_hi)

    def worst() -> int:
        return max([0] + [cs.eval_signed(loss) for loss in losses])

    M = cs.allocate(worst if cs.is_prover else None)
    range_check(cs, M, m_bits, "portfolio: worst scenario loss")
    for s, loss in enumerate(losses):
        gap = LinearCombination.of(M) - loss
        range_check(cs, gap, bits_for(upper_bound(cs, gap, f"portfolio: scenario {s}")), f"portfolio: scenario {s} loss covered")
    return round_requirement(cs, LinearCombination.of(M) * (plan.factor * p10(SR - (ds + dp + dr))), plan, "portfolio requirement")
