"""The clear-text margin engine: the oracle the circuits mirror.

Everything here is exact ``Decimal`` arithmetic under :data:`zkmargin.rules.decimals.EXACT` (400 digits,
any rounding raises), with three documented exceptions: the rounding the policy asks for
(:func:`apply_rounding`), the liquidation price (a division, reported rounded half-even at the
price scale) and the health ratio (a division, reported with :data:`HEALTH_DIGITS` digits, rounded
toward -infinity so it never overstates).

Definitions (``docs/formats.md`` has the full text):

* ``N_i = |q_i| * mark_i`` (notional), ``UPnL_i = q_i * (mark_i - entry_i)``.
* collateral ``value_j = (1 - h_j) * amount_j * price_j`` (flat), or with tiers the quote value
  ``V = amount * price`` cut into slices ``(up_to_{k-1}, up_to_k]``, each slice valued at
  ``(1 - h_k)`` (:func:`collateral_value`). The quote asset's price is 1.
* rules at ``N`` (zero for a zero position): flat ``N * rate``; Deribit size-scaled
  ``N * (rate + per_size * |q|)``; brackets ``N * rate_k - amount_k`` for the bracket with
  ``floor_k < N <= cap_k`` (the first bracket also takes ``N = 0``). With the amounts of the
  recursion this equals ``max_k (N * rate_k - amount_k)`` (:func:`bracket_pieces`), a continuous
  convex function of ``N``.
* cross: ``equity = sum value_j + sum UPnL_i``; ``requirement = sum round(R_i)``.
* isolated: ``e_i = iso_i + UPnL_i`` must be ``>= (1 + buffer) * round(R_i)`` for every position,
  and ``equity = sum value_j + sum e_i`` must be ``>= required``.
* portfolio: ``loss_s = -sum_i q_i * pnl_{i,s}``;
  ``requirement = round(factor * max(0, max_s loss_s))``; equity as in cross. With a ``span``
  section CME SPAN instead (:mod:`.span`), with ``deribit_pme`` Deribit's add-ons
  (:mod:`.deribit_pme`).
* portfolio risk measures (:mod:`.risk_measures`): the table may ask for expected shortfall (the
  mean of the k largest losses) or VaR (the k-th largest) instead of the largest loss.
* margin-call zones (:mod:`.zones`): ``θ_z = ratio_z * REQ_{kind_z} + threshold``, the account is in
  the first zone whose threshold its equity meets.
* ``required = (1 + buffer) * requirement + threshold``; ``excess = equity - required``;
  ``meets = excess >= 0`` (and, in isolated mode, every position's own inequality).

Modules, one concern each: :mod:`.positions` (notional, PnL, brackets, one position's requirement),
:mod:`.collateral` (haircut values), :mod:`.requirements` (rounding, scenario and portfolio
requirements), :mod:`.span` and :mod:`.deribit_pme` (the venues' portfolio rules),
:mod:`.liquidation` (liquidation price), :mod:`.report` (:func:`check` and the
report); :mod:`.exact` holds the conventions they share. They may import
:mod:`zkmargin.rules.decimals`, :mod:`zkmargin.rules.digests`, :mod:`zkmargin.rules.models` and
:mod:`zkmargin.errors`. Used by the API (``check``), the circuits' plan (``bracket_pieces``,
``collateral_pieces``), the workflows and the tests; every public name is re-exported here.
"""

from __future__ import annotations

from .collateral import collateral_pieces, collateral_value
from .deribit_pme import PmeBreakdown, pme_breakdown, pme_requirement
from .liquidation import liquidation_price
from .positions import bracket_for, bracket_pieces, notional, position_requirement, unrealized_pnl
from .report import HEALTH_DIGITS, MarginReport, PositionReport, check
from .requirements import (
    apply_rounding,
    portfolio_requirement,
    scenario_losses,
    standalone_scenario_requirement,
)
from .risk_measures import measure_requirement, risk_measure, round_fraction
from .span import SpanBreakdown, SpanCommodity, span_breakdown, span_requirement
from .zones import ZoneReport, zone_report

__all__ = [
    "HEALTH_DIGITS",
    "notional",
    "unrealized_pnl",
    "bracket_for",
    "bracket_pieces",
    "position_requirement",
    "collateral_value",
    "collateral_pieces",
    "apply_rounding",
    "scenario_losses",
    "portfolio_requirement",
    "standalone_scenario_requirement",
    "liquidation_price",
    "PositionReport",
    "MarginReport",
    "check",
    "SpanCommodity",
    "SpanBreakdown",
    "span_breakdown",
    "span_requirement",
    "PmeBreakdown",
    "pme_breakdown",
    "pme_requirement",
    "risk_measure",
    "round_fraction",
    "measure_requirement",
    "ZoneReport",
    "zone_report",
]
