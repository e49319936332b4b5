"""Account-level requirements: the policy's rounding, scenario losses and the portfolio requirement.

May import :mod:`zkmargin.rules.decimals` and :mod:`zkmargin.rules.models`. Used by :mod:`.report` and
the tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, localcontext

from ..decimals import EXACT, Number, quantize
from ..models import Policy, Rounding, Scenarios
from .deribit_pme import pme_requirement
from .exact import _ZERO, _d
from .span import span_requirement


def apply_rounding(value: Number, rounding: Rounding | None) -> Decimal:
    """Round ``value`` per the policy's ``rounding`` (``None``: unchanged).

    ``up`` rounds toward +infinity, ``down`` toward -infinity, ``half_even`` to nearest with ties
    to even, at ``rounding.decimals`` digits after the point."""
    value = _d(value)
    if rounding is None:
        return value
    return quantize(value, rounding.decimals, rounding.mode)


def scenario_losses(scenarios: Scenarios, sizes: Mapping[str, Decimal]) -> list[Decimal]:
    """``loss_s = -sum_i q_i * pnl_{i,s}`` for every scenario ``s`` (exact; symbols not in
    ``sizes`` hold zero)."""
    with localcontext(EXACT):
        out = []
        for s in range(len(scenarios.names)):
            total = _ZERO
            for sym, q in sizes.items():
                q = _d(q)
                if q != 0:
                    total += q * scenarios.pnl[sym][s]
            out.append(-total)
        return out


def portfolio_requirement(policy: Policy, sizes: Mapping[str, Decimal]) -> Decimal:
    """``round(factor * max(0, measure(loss_s)))`` with the factor for the policy's requirement
    (``initial_factor`` for initial margin) and the table's risk measure (the worst loss by
    default; expected shortfall or VaR, :mod:`.risk_measures`); with a ``span`` or ``deribit_pme``
    section, that venue's rule instead (:mod:`.span`, :mod:`.deribit_pme`)."""
    from .risk_measures import measure_requirement

    if policy.span is not None:
        return span_requirement(policy, sizes)
    if policy.deribit_pme is not None:
        return pme_requirement(policy, sizes)
    assert policy.scenarios is not None  # a validated portfolio policy has its table
    return measure_requirement(policy, scenario_losses(policy.scenarios, sizes))


def standalone_scenario_requirement(policy: Policy, symbol: str, size: Number) -> Decimal:
    """The portfolio rule applied to one position alone (unrounded; informative only)."""
    from .risk_measures import measure_requirement

    assert policy.scenarios is not None  # a validated portfolio policy has its table
    return measure_requirement(policy, scenario_losses(policy.scenarios, {symbol: _d(size)}),
                               rounding=None)
