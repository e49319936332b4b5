"""Dynamic margin: scale a policy's rates by realized volatility.

For each instrument with a price history:

1. ``vol`` = standard deviation (``ddof=1``) of the log returns ``ln(p_t / p_{t-1})``, annualized by
   ``sqrt(periods_per_year)`` (numpy floats — the only floats in this module); or, with
   ``method="ewma"``, RiskMetrics' exponentially weighted volatility (:func:`ewma_vol`, decay
   ``lam``, 0.94 for daily data), which follows a regime change within days where the sample
   standard deviation lags by the window;
2. ``multiplier`` = ``vol / reference_vol`` clipped to ``[min_mult, max_mult]`` and rounded **up**
   to ``digits`` decimals (default 4); ``vol`` enters as its float value rounded half-even to 12
   decimals (so float noise such as ``0.8000000000000000444`` cannot tip a ceiling), and everything
   after that is exact ``Decimal``;
3. every rate of the instrument's maintenance and initial rules (flat ``rate``, Deribit ``rate`` and
   ``per_size``, every bracket ``rate``) becomes ``rate * multiplier`` rounded **up** at the
   policy's rate scale (so scaled rates never undercut the exact product, and non-decreasing bracket
   rates stay non-decreasing);
4. bracket amounts are recomputed by the recursion ``cum_n = floor_n * (rate_n - rate_{n-1}) +
   cum_{n-1}`` so the requirement stays continuous and convex.

The result is a new, validated policy (instruments without a history are unchanged), optionally
written atomically (temp file + ``os.replace``).

Imports numpy, :mod:`zkmargin.rules.decimals`, :mod:`zkmargin.errors` and :mod:`zkmargin.rules.models`.
Used by the command line (``dynamic-margin``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from decimal import ROUND_CEILING, Context, Decimal, localcontext
from typing import Any

import numpy as np

from ..errors import InputError, PolicyError, UnknownSymbolError
from .decimals import EXACT, Number, canonical, parse_decimal, quantize
from .models import (
    Bracket,
    DocumentSource,
    Policy,
    Rule,
    dump_document,
    load_policy,
    write_document,
)

__all__ = ["realized_vol", "ewma_vol", "METHODS", "vol_multiplier", "scale_rate", "scale_rule", "multipliers",
           "dynamic_policy", "write_dynamic_policy"]

#: A price series, oldest first: exact decimals as read from JSON, or floats.
PriceHistory = Sequence[Decimal | float]


def realized_vol(prices: PriceHistory, periods_per_year: float = 365.0) -> float:
    """Annualized realized volatility of a price series (log returns, sample std)."""
    p = np.asarray([str(x) if isinstance(x, Decimal) else x for x in prices], dtype=float)
    if p.ndim != 1 or p.size < 3:
        raise InputError("a price history needs at least 3 prices")
    if not np.all(np.isfinite(p)) or np.any(p <= 0):
        raise InputError("a price history must be finite and > 0")
    r = np.diff(np.log(p))
    return float(np.std(r, ddof=1) * np.sqrt(periods_per_year))


#: Volatility estimators of :func:`multipliers`.
METHODS = ("realized", "ewma")


def ewma_vol(prices: PriceHistory, lam: float = 0.94, periods_per_year: float = 365.0) -> float:
    """Annualized EWMA volatility of a price series, RiskMetrics style (J.P. Morgan/Reuters,
    *RiskMetrics — Technical Document*, 4th ed., 1996, §5.2.1: zero-mean returns, decay λ, 0.94
    for daily data)::

        r_t = ln(p_t / p_{t-1}),   σ²_1 = r_1²,   σ²_t = λ·σ²_{t-1} + (1 − λ)·r_t²

    and ``sqrt(σ²_n · periods_per_year)``: the estimate after the last return."""
    if not 0 < lam < 1:
        raise InputError("the EWMA decay must be between 0 and 1 (RiskMetrics: 0.94 daily)", field="lambda")
    p = np.asarray([str(x) if isinstance(x, Decimal) else x for x in prices], dtype=float)
    if p.ndim != 1 or p.size < 3:
        raise InputError("a price history needs at least 3 prices")
    if not np.all(np.isfinite(p)) or np.any(p <= 0):
        raise InputError("a price history must be finite and > 0")
    r = np.diff(np.log(p))
    var = r[0] ** 2
    for x in r[1:]:
        var = lam * var + (1.0 - lam) * x * x
    return float(np.sqrt(var * periods_per_year))


def vol_multiplier(vol: float, reference_vol: Number, min_mult: Number = "1",
                   max_mult: Number = "3", digits: int = 4) -> Decimal:
    """``clip(vol / reference_vol, min_mult, max_mult)`` rounded up to ``digits`` decimals."""
    ref = parse_decimal(reference_vol, field="reference_vol")
    lo = parse_decimal(min_mult, field="min_mult")
    hi = parse_decimal(max_mult, field="max_mult")
    if ref <= 0:
        raise InputError("must be > 0", field="reference_vol")
    if lo <= 0 or hi < lo:
        raise InputError("need 0 < min_mult <= max_mult", field="min_mult")
    if not np.isfinite(vol) or vol < 0:
        raise InputError("a volatility must be finite and >= 0")
    raw = quantize(Decimal(vol), 12, "half_even")  # the float to 12 decimals: drops float noise
    ratio = quantize(_div(raw, ref), digits, "up")
    return quantize(min(max(ratio, lo), hi), digits, "up")


def _div(a: Decimal, b: Decimal) -> Decimal:
    """``a / b`` to 80 digits, rounded toward +infinity."""
    return Context(prec=80, rounding=ROUND_CEILING).divide(a, b)


def scale_rate(rate: Decimal, mult: Decimal, rate_scale: int) -> Decimal:
    """``rate * mult`` rounded up at ``rate_scale`` decimals."""
    with localcontext(EXACT):
        return Decimal(canonical(quantize(rate * mult, rate_scale, "up")))


def scale_rule(rule: Rule, mult: Decimal, rate_scale: int) -> Rule:
    """A rule with every rate scaled (brackets: amounts dropped, the loader recomputes them)."""
    # a validated rule has the fields of its kind; the venue rules of issue 15 (whole-position
    # tiers, bracket multiplier, fee to close, open-interest caps) are kept as they are
    if rule.kind == "leverage":
        raise PolicyError("a leverage rule (initial margin = notional / leverage) has no rate to "
                          "scale")
    if rule.kind == "brackets":
        assert rule.brackets is not None
        return rule.model_copy(update={"brackets": [
            Bracket(floor=b.floor, cap=b.cap, rate=scale_rate(b.rate, mult, rate_scale))
            for b in rule.brackets]})
    if rule.kind == "linear":
        assert rule.rate is not None and rule.per_size is not None
        return rule.model_copy(update={"rate": scale_rate(rule.rate, mult, rate_scale),
                                       "per_size": scale_rate(rule.per_size, mult, rate_scale)})
    assert rule.rate is not None
    return rule.model_copy(update={"rate": scale_rate(rule.rate, mult, rate_scale)})


def multipliers(policy: Policy, histories: Mapping[str, PriceHistory], *, reference_vol: Number,
                min_mult: Number = "1", max_mult: Number = "3", periods_per_year: float = 365.0,
                digits: int = 4, method: str = "realized", lam: float = 0.94) -> dict[str, Decimal]:
    """The multiplier per instrument symbol with a history (``method``: ``realized`` or
    ``ewma`` with decay ``lam``), clipped to the venue's caps ``[min_mult, max_mult]``."""
    if method not in METHODS:
        raise InputError(f"unknown volatility method {method!r} ({', '.join(METHODS)})", field="method")
    out = {}
    for sym, hist in histories.items():
        if not policy.has_instrument(sym):
            raise UnknownSymbolError(f"the policy lists no instrument {sym!r}",
                                     field=f"histories.{sym}")
        vol = realized_vol(hist, periods_per_year) if method == "realized" else ewma_vol(hist, lam, periods_per_year)
        out[sym] = vol_multiplier(vol, reference_vol, min_mult, max_mult, digits)
    return out


def dynamic_policy(policy: Policy | DocumentSource, histories: Mapping[str, PriceHistory], *,
                   reference_vol: Number, min_mult: Number = "1", max_mult: Number = "3",
                   periods_per_year: float = 365.0, digits: int = 4,
                   venue: str | None = None, method: str = "realized", lam: float = 0.94) -> Policy:
    """A new policy whose rule rates are scaled by each instrument's volatility multiplier."""
    policy = load_policy(policy)
    if policy.mode == "portfolio":
        raise PolicyError("dynamic rates apply to rule-based policies; a portfolio policy scales "
                          "through the shocks of its scenario table", field="mode")
    mults = multipliers(policy, histories, reference_vol=reference_vol, min_mult=min_mult,
                        max_mult=max_mult, periods_per_year=periods_per_year, digits=digits,
                        method=method, lam=lam)
    rs = policy.decimals.rate
    doc = dump_document(policy)
    for i, ins in enumerate(policy.instruments):
        m = mults.get(ins.symbol)
        if m is None:
            continue
        doc["instruments"][i]["maintenance"] = dump_document(scale_rule(ins.rule("maintenance"), m, rs))
        doc["instruments"][i]["initial"] = dump_document(scale_rule(ins.rule("initial"), m, rs))
    if venue is not None:
        doc["venue"] = venue
    return load_policy(doc)


def write_dynamic_policy(policy: Policy | DocumentSource, histories: Mapping[str, PriceHistory],
                         out_path: str | os.PathLike[str], **kwargs: Any) -> Policy:
    """:func:`dynamic_policy` written to ``out_path`` atomically. Returns the new policy."""
    new = dynamic_policy(policy, histories, **kwargs)
    write_document(new, out_path)
    return new
