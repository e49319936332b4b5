"""ccxt mark prices (``fetch_mark_prices`` / ``fetch_tickers``) → a ``zkmargin.market/1``.

* instrument ``S``: ``prices[S]`` is the exchange's ``info.markPrice`` string for that market;
* collateral asset ``A`` (not the quote): ``prices[A]`` is the ``info.indexPrice`` of the linear
  perpetual ``A``/quote (the exchange's spot index, what venues value collateral at);
* ``as_of``: the oldest time among the prices used (the snapshot is no newer than its oldest price),
  from each ticker's ``timestamp``; a ticker without one (Bybit's tickers carry no time) needs an
  explicit ``as_of`` — the importer does not guess when a price was taken.

Prices are never rounded: a price with more decimals than the policy's price scale is an error.

May import the rules and the importers beside it. Used by :mod:`.workflows`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal

from zkmargin.errors import ExchangeDataError, MissingPriceError
from zkmargin.rules.models import MARKET_FORMAT, Market, Policy, load_market

from .fields import Where, decimal_string, integer, mapping
from .markets import Contract, Contracts
from .source import ExchangeData

__all__ = ["snapshot_prices", "market_from_exchange", "iso_from_ms"]


def iso_from_ms(ms: int) -> str:
    t = datetime.fromtimestamp(ms / 1000, tz=UTC)
    s = t.strftime("%Y-%m-%dT%H:%M:%S")
    if ms % 1000:
        s += f".{ms % 1000:03d}".rstrip("0")
    return s + "Z"


def _ticker(tickers: dict, c: Contract, src: str) -> tuple[dict, Where]:
    t = tickers.get(c.symbol)
    if t is None:
        t = next((v for v in tickers.values() if isinstance(v, dict)
                  and isinstance(v.get("info"), dict) and v["info"].get("symbol") == c.id), None)
    w = Where(src, f"marks[{c.id}]")
    if not isinstance(t, dict):
        raise MissingPriceError(f"no mark price for {c.id}", source=src, field=w.path)
    return t, w


def snapshot_prices(data: ExchangeData, contracts: Contracts, instruments: Iterable[Contract],
                    collateral: Iterable[str], quote: str,
                    as_of: str | None = None) -> tuple[dict[str, Decimal], str | None]:
    """``(prices, as_of)`` for the instruments' marks and the collateral assets' index prices."""
    src = data.name("marks")
    instruments = list(instruments)
    indexes: list[tuple[str, Contract]] = []
    for asset in collateral:
        if asset == quote:
            continue
        perp = contracts.find_perpetual(asset, quote)
        if perp is None:
            raise MissingPriceError(f"no {asset}/{quote} perpetual in the markets whose index "
                                    f"could price collateral {asset}", source=src,
                                    field=f"prices.{asset}")
        indexes.append((asset, perp))
    wanted = list(dict.fromkeys([c.symbol for c in instruments] + [p.symbol for _, p in indexes]))
    tickers = data.marks(wanted)
    prices: dict[str, Decimal] = {}
    times: list[tuple[int | None, str]] = []
    for c in instruments:
        t, w = _ticker(tickers, c, src)
        info = mapping(t, "info", w)
        prices[c.id] = decimal_string(info, "markPrice", w.at("info"))
        times.append((integer(t, "timestamp", w, optional=True), c.id))
    for asset, perp in indexes:
        t, w = _ticker(tickers, perp, src)
        info = mapping(t, "info", w)
        prices[asset] = decimal_string(info, "indexPrice", w.at("info"))
        times.append((integer(t, "timestamp", w, optional=True), perp.id))
    if as_of is None:
        missing = [sym for ts, sym in times if ts is None]
        if missing:
            raise ExchangeDataError(
                f"the ticker of {missing[0]} has no time (Bybit's tickers carry none); give the "
                "time the prices were taken (--as-of, ISO 8601 with a time zone)", source=src,
                field=f"marks[{missing[0]}].timestamp")
        as_of = iso_from_ms(min(ts for ts, _ in times if ts is not None))  # none is missing here
    return prices, as_of


def market_from_exchange(data: ExchangeData, policy: Policy, *,
                         as_of: str | None = None) -> Market:
    """The market snapshot for ``policy``'s instruments and collateral from the recording's marks,
    checked against the policy (scales, every price present)."""
    contracts = Contracts(data.markets(), data.profile, data.name("markets"))
    instruments = [contracts.get(s, Where(None, f"instruments[{s}]")) for s in policy.symbols]
    prices, when = snapshot_prices(data, contracts, instruments,
                                   [c.asset for c in policy.collateral], policy.quote, as_of)
    doc = {"format": MARKET_FORMAT, "as_of": when, "prices": prices}
    return load_market(doc, policy, source=data.name("marks"))
