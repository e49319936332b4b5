"""The market snapshot (``zkmargin.market/1``, public, the venue's): marks of instruments and quote
prices of collateral assets; its checks against a policy and its loaders.

May import :mod:`.fields`, :mod:`.documents` and :mod:`.policy`. Used through
:mod:`zkmargin.rules.models`.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Literal

from ...errors import (
    InputError,
    MissingPriceError,
)
from ...files.inputs import display_name
from ..decimals import check_scale, to_fixed
from .documents import DocumentSource, _build, _iso8601, _read
from .fields import _M, MARKET_FORMAT, Dec, Str
from .policy import Policy


class Market(_M):
    format: Literal["zkmargin.market/1"]
    as_of: Str
    prices: dict[str, Dec]
    open_interest: dict[str, Dec] | None = None


def parse_market(src: Market | DocumentSource, *, source: str | None = None) -> Market:
    """Load a market snapshot and check what needs no policy (timestamp, numbers)."""
    if isinstance(src, Market):
        return src
    data, source = _read(src, MARKET_FORMAT, source)
    m = _build(Market, data, source)
    for key, v in m.prices.items():
        if v < 0:
            raise InputError("a price must be >= 0", source=source, field=f"prices.{key}")
    return m.model_copy(update={"as_of": _iso8601(m.as_of, field="as_of", source=source)})


def price_of(market: Market, policy: Policy, key: str) -> Decimal:
    """The market price of an instrument or asset; the policy's quote asset defaults to 1."""
    v = market.prices.get(key)
    if v is None:
        if key == policy.quote:
            return Decimal(1)
        raise MissingPriceError(f"the market snapshot has no price for {key!r}",
                                field=f"prices.{key}")
    return v


def _within_width(v: Decimal, policy: Policy, field: str, source: str | None) -> None:
    """A price no circuit could carry (its fixed-point integer alone is wider than the widest
    range check, ``RANGE_LIMIT_BITS``) is this file's error, named by its field, not a
    position's (issue 11: a 10^80 mark was blamed on ``positions[0]``). Prices beyond the
    policy's price width but below that are judged when the circuit is built
    (:mod:`zkmargin.circuits.provable`)."""
    from .provability import RANGE_LIMIT_BITS

    if abs(to_fixed(v, policy.decimals.price)).bit_length() > RANGE_LIMIT_BITS:
        raise InputError(f"is far beyond any price a proof can carry (the policy's price width is "
                         f"{policy.bits.price} bits at {policy.decimals.price} decimals)",
                         source=source, field=field)


def validate_market(m: Market, policy: Policy, *, source: str | None = None) -> Market:
    """Check a snapshot against a policy: every price at the price scale, a price for every
    instrument and collateral asset, marks of perpetuals and futures > 0, quote price 1."""
    for key, v in m.prices.items():
        check_scale(v, policy.decimals.price, field=f"prices.{key}", kind="price", source=source)
        _within_width(v, policy, f"prices.{key}", source)
    for ins in policy.instruments:
        mark = m.prices.get(ins.symbol)
        if mark is None:
            raise MissingPriceError(f"no mark for instrument {ins.symbol!r}", source=source,
                                    field=f"prices.{ins.symbol}")
        if ins.kind != "option" and mark <= 0:
            raise InputError(f"the mark of a {ins.kind} must be > 0", source=source,
                             field=f"prices.{ins.symbol}")
    for c in policy.collateral:
        if c.asset == policy.quote:
            continue
        if c.asset not in m.prices:
            raise MissingPriceError(f"no price for collateral asset {c.asset!r}", source=source,
                                    field=f"prices.{c.asset}")
    for key, v in (m.open_interest or {}).items():
        check_scale(v, policy.decimals.amount, field=f"open_interest.{key}", kind="amount",
                    source=source)
        if v < 0:
            raise InputError("an open interest must be >= 0", source=source,
                             field=f"open_interest.{key}")
    for ins in policy.instruments:
        for rule in (ins.maintenance, ins.initial):
            if rule is not None and rule.kind == "open_interest" and \
                    ins.symbol not in (m.open_interest or {}):
                raise MissingPriceError(f"no open interest for {ins.symbol!r}, whose margin "
                                        "scales with it", source=source,
                                        field=f"open_interest.{ins.symbol}")
    q = m.prices.get(policy.quote)
    if q is not None and q != 1:
        raise InputError(f"the quote asset {policy.quote!r} has price 1 by definition",
                         source=source, field=f"prices.{policy.quote}")
    return m


def load_market(src: Market | DocumentSource, policy: Policy | None = None, *,
                source: str | None = None) -> Market:
    """Load a market snapshot; with ``policy``, also :func:`validate_market`."""
    if isinstance(src, (str, os.PathLike)):
        source = source or display_name(src)
    m = parse_market(src, source=source)
    if policy is not None:
        validate_market(m, policy, source=source)
    return m
