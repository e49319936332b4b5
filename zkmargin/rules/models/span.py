"""The policy's ``span`` section (portfolio mode): CME SPAN's combined commodities, tiers and
composite deltas, intra-commodity (calendar) spread charges, inter-commodity spread credits and the
short option minimum, as pydantic models, and their validation (``docs/notes/span.md``).

The scanning risk itself comes from the policy's scenario table (the SPAN risk arrays, one row per
instrument): SPAN takes the worst scenario per combined commodity instead of over the whole
portfolio. Numbers use the policy's scales: composite deltas, spread ratios and credit rates at the
rate scale; spread charges, price scan ranges and the short option minimum (money per unit of size,
like the scenario P&L) at the price scale.

May import :mod:`.fields`. Used by :mod:`.policy` (the field) and :mod:`.policy_checks` (the
validator).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from ...errors import PolicyError
from ..decimals import check_scale
from .fields import _M, Dec, Int, Str

if TYPE_CHECKING:
    from .policy import Policy

#: The ``span`` section's version this code reads.
SPAN_VERSION = 1


class SpanMember(_M):
    """One instrument of a combined commodity: its composite delta per unit of size and its
    intra-commodity spreading tier."""

    delta: Dec = Decimal(1)
    tier: Int = 1


class IntraSpread(_M):
    """An intra-commodity spread between tiers ``tier_a`` and ``tier_b``: ``ratio_a`` delta of tier
    A against ``ratio_b`` delta of tier B, on opposite sides; ``charge`` per spread formed."""

    tier_a: Int
    tier_b: Int
    ratio_a: Dec = Decimal(1)
    ratio_b: Dec = Decimal(1)
    charge: Dec


class CombinedCommodity(_M):
    """A SPAN combined commodity: the instruments scanned together, the price scan range per unit
    of delta (the weighted price risk of the scan-range method, for inter-commodity credits), the
    short option minimum per short option and the intra-commodity spreads in priority order."""

    name: Str
    instruments: dict[str, SpanMember]
    price_scan_range: Dec = Decimal(0)
    short_option_minimum: Dec = Decimal(0)
    intra_spreads: list[IntraSpread] = []


class InterSpread(_M):
    """An inter-commodity spread: ``ratio_a`` delta of ``cc_a`` against ``ratio_b`` delta of
    ``cc_b`` on opposite sides; each leg is credited ``credit_rate`` of its weighted price risk."""

    cc_a: Str
    cc_b: Str
    ratio_a: Dec = Decimal(1)
    ratio_b: Dec = Decimal(1)
    credit_rate: Dec


class Span(_M):
    """The ``span`` section: ``version`` (1), the combined commodities and the inter-commodity
    spreads in priority order."""

    version: Int
    combined_commodities: list[CombinedCommodity]
    inter_spreads: list[InterSpread] = []


def _rate(p: Policy, d: Decimal, field: str, source: str | None, *, positive: bool = False,
          upper: Decimal | None = None) -> None:
    check_scale(d, p.decimals.rate, field=field, kind="rate", source=source)
    if d < 0 or (positive and d == 0):
        raise PolicyError("must be > 0" if positive else "must be >= 0", source=source, field=field)
    if upper is not None and d > upper:
        raise PolicyError(f"must be <= {upper}", source=source, field=field)


def _money(p: Policy, d: Decimal, field: str, source: str | None) -> None:
    check_scale(d, p.decimals.price, field=field, kind="price", source=source)
    if d < 0:
        raise PolicyError("must be >= 0", source=source, field=field)


def validate_span(p: Policy, source: str | None) -> Span | None:
    """Check the ``span`` section against the policy (portfolio mode, every instrument in exactly
    one combined commodity, known tiers and commodities, scales) and return it unchanged."""
    sp = p.span
    if sp is None:
        return None
    if sp.version != SPAN_VERSION:
        raise PolicyError(f"this version reads span version {SPAN_VERSION}", source=source,
                          field="span.version")
    if p.mode != "portfolio":
        raise PolicyError(f"SPAN is a portfolio-mode rule (this policy is {p.mode})", source=source,
                          field="span")
    if p.slots is not None:
        raise PolicyError("SPAN is not available in the K-slot circuit; remove 'slots'",
                          source=source, field="span")
    symbols = {i.symbol for i in p.instruments}
    if not sp.combined_commodities:
        raise PolicyError("needs at least one combined commodity", source=source,
                          field="span.combined_commodities")
    owner: dict[str, str] = {}
    names: set[str] = set()
    for c, cc in enumerate(sp.combined_commodities):
        f = f"span.combined_commodities[{c}]"
        if cc.name in names:
            raise PolicyError(f"combined commodity {cc.name!r} is listed twice", source=source,
                              field=f"{f}.name")
        names.add(cc.name)
        if not cc.instruments:
            raise PolicyError("needs at least one instrument", source=source,
                              field=f"{f}.instruments")
        tiers = set()
        for sym, mem in cc.instruments.items():
            mf = f"{f}.instruments.{sym}"
            if sym not in symbols:
                raise PolicyError(f"{sym!r} is not an instrument of the policy", source=source,
                                  field=mf)
            if sym in owner:
                raise PolicyError(f"{sym!r} is already in combined commodity {owner[sym]!r}",
                                  source=source, field=mf)
            owner[sym] = cc.name
            check_scale(mem.delta, p.decimals.rate, field=f"{mf}.delta", kind="rate",
                        source=source)
            if mem.tier < 1:
                raise PolicyError("tiers are numbered from 1", source=source, field=f"{mf}.tier")
            tiers.add(mem.tier)
        _money(p, cc.price_scan_range, f"{f}.price_scan_range", source)
        _money(p, cc.short_option_minimum, f"{f}.short_option_minimum", source)
        for k, s in enumerate(cc.intra_spreads):
            sf = f"{f}.intra_spreads[{k}]"
            for side in ("tier_a", "tier_b"):
                if getattr(s, side) not in tiers:
                    raise PolicyError(f"no instrument of {cc.name!r} is in tier "
                                      f"{getattr(s, side)}", source=source, field=f"{sf}.{side}")
            if s.tier_a == s.tier_b:
                raise PolicyError("a spread is between two different tiers", source=source,
                                  field=f"{sf}.tier_b")
            _rate(p, s.ratio_a, f"{sf}.ratio_a", source, positive=True)
            _rate(p, s.ratio_b, f"{sf}.ratio_b", source, positive=True)
            _money(p, s.charge, f"{sf}.charge", source)
    missing = sorted(symbols - set(owner))
    if missing:
        raise PolicyError(f"instrument {missing[0]!r} is in no combined commodity", source=source,
                          field="span.combined_commodities")
    for k, xs in enumerate(sp.inter_spreads):
        sf = f"span.inter_spreads[{k}]"
        for side in ("cc_a", "cc_b"):
            if getattr(xs, side) not in names:
                raise PolicyError(f"no combined commodity {getattr(xs, side)!r}", source=source,
                                  field=f"{sf}.{side}")
        if xs.cc_a == xs.cc_b:
            raise PolicyError("an inter-commodity spread is between two different combined "
                              "commodities", source=source, field=f"{sf}.cc_b")
        _rate(p, xs.ratio_a, f"{sf}.ratio_a", source, positive=True)
        _rate(p, xs.ratio_b, f"{sf}.ratio_b", source, positive=True)
        _rate(p, xs.credit_rate, f"{sf}.credit_rate", source, upper=Decimal(1))
    return sp
