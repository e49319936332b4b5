"""Requirement rules venues use beyond flat rates and cumulative brackets, checked after a rule's
shape:

* ``whole_position: true`` on a bracket table — the whole notional is charged at the rate of the
  bracket that holds it (OKX position tiers, Bybit's initial margin): no maintenance amounts, so the
  cumulative-amount recursion does not apply (the requirement jumps at each cap);
* ``basis: "size"`` on a whole-position table — the tiers count contracts, not notional (OKX's
  position tiers: "Min. amount (Cont) 5,001, Max. amount 7,500"): floors and caps are sizes;
* ``notional_coef`` — Binance's per-account bracket multiplier (``notionalCoef`` of
  ``GET /fapi/v1/leverageBracket``): every floor and cap of the venue's default table times the
  coefficient, amounts by the recursion over the scaled floors;
* ``fee_to_close`` — a fee rate on the notional added to the requirement (Bybit adds the estimated
  fee to close to maintenance margin);
* ``{"leverage": L}`` — Hyperliquid's initial margin from the account's chosen leverage, ``N / L``;
* ``open_interest: {lower_cap, upper_cap}`` beside a ``rate`` — dYdX's open-interest-scaled
  initial margin fraction (the open notional per symbol is the market snapshot's
  ``open_interest``).

May import :mod:`.fields`, :mod:`zkmargin.rules.decimals` and :mod:`zkmargin.errors`. Used by
:mod:`.policy_checks`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from ...errors import PolicyError
from ..decimals import canonical as _c
from ..decimals import check_scale

if TYPE_CHECKING:
    from .policy import Policy, Rule

#: The largest leverage a rule may name (the requirement N / L is rounded up at the requirement's
#: scale; a larger L is a venue typo).
MAX_LEVERAGE = Decimal(10000)


def validate_rule_extras(rule: Rule, p: Policy, field: str, source: str | None) -> None:
    """Check the fields of the rules above (scales, signs, which rule kinds they refine)."""
    dr = p.decimals.rate
    if rule.whole_position is not None and rule.brackets is None:
        raise PolicyError("'whole_position' refines a bracket table", source=source,
                          field=f"{field}.whole_position")
    if rule.basis is not None:
        if rule.brackets is None or (rule.basis == "size" and not rule.whole_position):
            raise PolicyError("'basis' qualifies a bracket table; tiers by size need "
                              "'whole_position': true (a maintenance amount is a notional)",
                              source=source, field=f"{field}.basis")
        if rule.basis == "size" and rule.notional_coef is not None:
            raise PolicyError("'notional_coef' scales notional tiers, not tiers by size",
                              source=source, field=f"{field}.notional_coef")
    if rule.notional_coef is not None:
        if rule.brackets is None:
            raise PolicyError("'notional_coef' scales a bracket table", source=source,
                              field=f"{field}.notional_coef")
        check_scale(rule.notional_coef, dr, field=f"{field}.notional_coef", kind="rate",
                    source=source)
        if rule.notional_coef <= 0:
            raise PolicyError("must be > 0", source=source, field=f"{field}.notional_coef")
    if rule.fee_to_close is not None:
        check_scale(rule.fee_to_close, dr, field=f"{field}.fee_to_close", kind="rate",
                    source=source)
        if rule.fee_to_close < 0:
            raise PolicyError("must be >= 0", source=source, field=f"{field}.fee_to_close")
    if rule.kind in ("leverage", "open_interest") and p.slots:
        raise PolicyError("leverage and open-interest rules are not supported with position slots "
                          "(the slot table holds a rate per row)", source=source, field=field)
    if rule.leverage is not None:
        lev = rule.leverage
        check_scale(lev, dr, field=f"{field}.leverage", kind="rate", source=source)
        if not 1 <= lev <= MAX_LEVERAGE:
            raise PolicyError(f"must be between 1 and {_c(MAX_LEVERAGE)}", source=source,
                              field=f"{field}.leverage")
    oi = rule.open_interest
    if oi is not None:
        if rule.kind != "open_interest" or rule.per_size is not None:
            raise PolicyError("'open_interest' scales a flat rate ({'rate', 'open_interest'})",
                              source=source, field=f"{field}.open_interest")
        assert rule.rate is not None  # a flat rule has its rate
        if rule.rate > 1:
            raise PolicyError("an open-interest-scaled rate must be <= 1", source=source,
                              field=f"{field}.rate")
        for name in ("lower_cap", "upper_cap"):
            v = getattr(oi, name)
            check_scale(v, p.decimals.amount, field=f"{field}.open_interest.{name}", kind="amount",
                        source=source)
            if v < 0:
                raise PolicyError("must be >= 0", source=source,
                                  field=f"{field}.open_interest.{name}")
        if oi.upper_cap <= oi.lower_cap:
            raise PolicyError(f"upper_cap {_c(oi.upper_cap)} must be above lower_cap "
                              f"{_c(oi.lower_cap)}", source=source,
                              field=f"{field}.open_interest.upper_cap")
