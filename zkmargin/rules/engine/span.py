"""CME SPAN in clear text: scanning risk per combined commodity, intra-commodity (calendar) spread
charges, inter-commodity spread credits and the short option minimum — the oracle of
:mod:`zkmargin.circuits.margin.span` (``docs/notes/span.md`` has the definitions and the sources).

For a combined commodity ``c`` with instruments ``i ∈ c`` (sizes ``q_i``, scenario P&L per unit
``pnl_{i,s}``, composite deltas ``δ_i``):

* scanning risk ``scan_c = max(0, max_s −Σ_{i∈c} q_i·pnl_{i,s})``;
* tier deltas ``D_t = Σ_{i∈c, tier t} δ_i·q_i``; intra spreads in priority order: when the
  remaining deltas of tiers A and B have opposite signs, ``N = min(⌊|D_A|/ratio_A⌋,
  ⌊|D_B|/ratio_B⌋)`` spreads (floors at the scale ``ds + dr`` of a delta), each leg's remaining
  delta moves ``N·ratio`` toward zero, and the charge grows by ``N·charge``;
* inter spreads in priority order likewise on the commodities' net deltas ``D_c = Σ_t D_t``; each
  leg ``c`` is credited ``credit_rate·N·ratio_c·price_scan_range_c`` (the weighted price risk of the
  scan-range method);
* short option minimum ``som_c = short_option_minimum_c · max(short calls, short puts)`` (units);
* ``total_c = max(scan_c + intra_c − credit_c, som_c, 0)``, and the requirement is
  ``round(factor · Σ_c total_c)``.

May import :mod:`zkmargin.rules.decimals`, :mod:`zkmargin.rules.models` and :mod:`.exact`. Used by
:mod:`.requirements` (the portfolio requirement), the circuits' plan and the tests.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import TypeVar

from ..decimals import EXACT, quantize
from ..models import Policy
from .exact import _ZERO, _d


def rounded(policy: Policy, value: Decimal) -> Decimal:
    """``value`` rounded as the policy's ``rounding`` says (unchanged without one)."""
    r = policy.rounding
    return value if r is None else quantize(value, r.decimals, r.mode)


@dataclass
class SpanCommodity:
    """One combined commodity's figures (amounts in the quote currency, before the factor)."""

    name: str
    scan: Decimal
    intra: Decimal
    credit: Decimal
    som: Decimal
    total: Decimal


@dataclass
class SpanBreakdown:
    """SPAN for one account: per combined commodity, their sum, and the rounded requirement
    ``round(factor · total)``."""

    commodities: list[SpanCommodity]
    total: Decimal
    requirement: Decimal


def floor_count(magnitude: Decimal, ratio: Decimal, scale: int) -> Decimal:
    """``⌊magnitude / ratio⌋`` at ``scale`` decimals (exact: rational arithmetic)."""
    q = Fraction(magnitude) * 10**scale / Fraction(ratio)
    return Decimal(math.floor(q)).scaleb(-scale)


_Key = TypeVar("_Key")  # a tier's number (intra-commodity) or a combined commodity (inter)


def _sign(x: Decimal) -> int:
    return (x > 0) - (x < 0)


def form_spread(rem: dict[_Key, Decimal], a: _Key, b: _Key, ratio_a: Decimal, ratio_b: Decimal,
                scale: int) -> Decimal:
    """Form as many spreads as the remaining signed deltas ``rem[a]`` and ``rem[b]`` allow (they
    must have opposite signs), move both toward zero, and return the number formed."""
    da, db = rem[a], rem[b]
    if _sign(da) * _sign(db) >= 0:
        return _ZERO
    n = min(floor_count(abs(da), ratio_a, scale), floor_count(abs(db), ratio_b, scale))
    rem[a] = da - _sign(da) * n * ratio_a
    rem[b] = db - _sign(db) * n * ratio_b
    return n


def span_breakdown(policy: Policy, sizes: Mapping[str, Decimal]) -> SpanBreakdown:
    """SPAN for ``sizes`` (symbol → signed size; absent symbols hold zero) under the policy's
    ``span`` section and scenario table (see the module docstring)."""
    sp, table = policy.span, policy.scenarios
    assert sp is not None and table is not None  # a validated SPAN policy has both
    scale = policy.decimals.size + policy.decimals.rate
    q = {sym: _d(sizes.get(sym, _ZERO)) for sym in policy.symbols}
    rows: list[tuple[str, Decimal, Decimal, Decimal]] = []
    with localcontext(EXACT):
        net: dict[str, Decimal] = {}
        for cc in sp.combined_commodities:
            worst = _ZERO
            for s in range(len(table.names)):
                loss = -sum((q[i] * table.pnl[i][s] for i in cc.instruments), _ZERO)
                worst = max(worst, loss)
            tiers: dict[int, Decimal] = {}
            for sym, mem in cc.instruments.items():
                tiers[mem.tier] = tiers.get(mem.tier, _ZERO) + mem.delta * q[sym]
            net[cc.name] = sum(tiers.values(), _ZERO)
            intra = _ZERO
            for spread in cc.intra_spreads:
                n = form_spread(tiers, spread.tier_a, spread.tier_b, spread.ratio_a,
                                spread.ratio_b, scale)
                intra += n * spread.charge
            calls = puts = _ZERO
            for sym in cc.instruments:
                ins = policy.instrument(sym)
                if ins.kind == "option" and q[sym] < 0:
                    if ins.right == "call":
                        calls -= q[sym]
                    else:
                        puts -= q[sym]
            som = cc.short_option_minimum * max(calls, puts)
            rows.append((cc.name, worst, intra, som))
        psr = {cc.name: cc.price_scan_range for cc in sp.combined_commodities}
        credit = {cc.name: _ZERO for cc in sp.combined_commodities}
        for inter in sp.inter_spreads:
            n = form_spread(net, inter.cc_a, inter.cc_b, inter.ratio_a, inter.ratio_b, scale)
            credit[inter.cc_a] += inter.credit_rate * n * inter.ratio_a * psr[inter.cc_a]
            credit[inter.cc_b] += inter.credit_rate * n * inter.ratio_b * psr[inter.cc_b]
        out = []
        for name, scan, intra, som in rows:
            c = credit[name]
            out.append(SpanCommodity(name, scan, intra, c, som, max(scan + intra - c, som, _ZERO)))
        total = sum((r.total for r in out), _ZERO)
        return SpanBreakdown(out, total, rounded(policy, policy.factor * total))


def span_requirement(policy: Policy, sizes: Mapping[str, Decimal]) -> Decimal:
    """The rounded SPAN requirement (:func:`span_breakdown`)."""
    return span_breakdown(policy, sizes).requirement
