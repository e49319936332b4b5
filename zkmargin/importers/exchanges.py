"""What each supported exchange calls things: the raw ``info`` fields the importers read.

The importers read ccxt's unified structures for identity only (symbols, market type, contract
size) and every number from the exchange's own answer in ``info``:

========================  ========================================  =====================================
what                      Binance USDⓈ-M (``binanceusdm``)            Bybit linear, v5 (``bybit``)
========================  ========================================  =====================================
positions                 ``/fapi/v3/positionRisk``                 ``/v5/position/list``
signed size               ``positionAmt`` (signed)                  ``size`` and ``side`` (Buy/Sell)
entry price               ``entryPrice``                            ``avgPrice``
mark price                ``markPrice``                             ``markPrice``
margin mode               ``marginType`` (v2) or ccxt marginMode   ``tradeMode`` (0 cross, 1 isolated)
isolated margin           ``isolatedWallet`` (without PnL)          (refused: not reported without PnL)
hedge-mode leg            ``positionSide`` LONG/SHORT/BOTH          ``positionIdx`` 1/2/0
maintenance margin        ``maintMargin`` (at the mark)             ``positionMMByMp`` (at the mark), else
                                                                    ``positionMM`` (at the entry price)
balances                  ``/fapi/v3/account`` assets[].            ``/v5/account/wallet-balance``
                          ``crossWalletBalance``                    coin[].``walletBalance``
tiers                     ``/fapi/v1/leverageBracket``: notional-   ``/v5/market/risk-limit``:
                          Floor, notionalCap, maintMarginRatio,     riskLimitValue, maintenanceMargin,
                          cum, initialLeverage (JSON numbers)       mmDeduction, initialMargin
haircuts                  (none published through the API)          ``/v5/account/collateral-info``
                                                                    collateralRatio (haircut = 1 − it)
marks                     ``/fapi/v1/premiumIndex`` markPrice,      ``/v5/market/tickers`` markPrice,
                          indexPrice, time (fetch_mark_prices)      indexPrice (fetch_tickers; no time)
size step, price tick     filters LOT_SIZE.stepSize,                lotSizeFilter.qtyStep,
                          PRICE_FILTER.tickSize                     priceFilter.tickSize
========================  ========================================  =====================================

May import :mod:`zkmargin.errors` and :mod:`.fields`. Used by the other importers.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from zkmargin.errors import InputError

from .fields import Where, decimal_number, decimal_string, integer, mapping, sequence, text

__all__ = ["PositionRow", "TierRow", "Profile", "PROFILES", "profile"]


@dataclass
class PositionRow:
    """One position leg as the exchange reports it (private)."""

    market_id: str
    size: Decimal  # signed, in contracts (long > 0)
    entry_price: Decimal
    mark: Decimal
    margin_mode: str  # cross | isolated
    isolated_margin: Decimal | None
    leg: str  # one-way | long | short
    mm_field: str | None  # the exchange's maintenance-margin field, and its basis
    mm_text: str | None
    mm_basis: str  # "mark" | "entry"


@dataclass
class TierRow:
    """One row of a venue's tier table, exact."""

    floor: Decimal
    cap: Decimal | None
    rate: Decimal
    amount: Decimal
    initial_rate: Decimal | None  # Bybit publishes it
    max_leverage: Decimal | None  # Binance publishes this instead


class Profile:
    """Base: one exchange's field names. Subclasses implement the readers."""

    id = ""
    title = ""
    marks_file = "mark_prices.json"
    marks_method = "fetch_mark_prices"
    #: the raw names of a tier's floor and maintenance amount (for error messages)
    floor_field = "floor"
    amount_field = "amount"
    #: environment variables holding the API key and secret (live mode)
    env_key = ""
    env_secret = ""

    def steps(self, info: dict, where: Where) -> tuple[Decimal, Decimal]:
        """(size step, price tick) of a market, from its raw ``info``."""
        raise NotImplementedError

    def position(self, p: dict, where: Where) -> PositionRow:
        raise NotImplementedError

    def balances(self, doc: dict, where: Where) -> dict[str, Decimal]:
        raise NotImplementedError

    def tiers(self, rows: list, where: Where) -> list[TierRow]:
        raise NotImplementedError

    def haircuts(self, doc: dict | None, where: Where) -> dict[str, Decimal]:
        return {}


def _positive(d: Decimal, where: Where, key: str) -> Decimal:
    if d <= 0:
        raise where.error("must be > 0", key)
    return d


class Binance(Profile):
    id = "binanceusdm"
    title = "Binance USDⓈ-M futures"
    marks_file = "mark_prices.json"
    marks_method = "fetch_mark_prices"
    floor_field = "notionalFloor"
    amount_field = "cum"
    env_key = "ZKMARGIN_BINANCE_API_KEY"
    env_secret = "ZKMARGIN_BINANCE_API_SECRET"

    def steps(self, info, where):
        filters = sequence(info, "filters", where)
        found = {}
        for k, f in enumerate(filters):
            if isinstance(f, dict) and f.get("filterType") in ("PRICE_FILTER", "LOT_SIZE"):
                found[f["filterType"]] = (f, where.at(f"filters[{k}]"))
        if "LOT_SIZE" not in found:
            raise where.error("no LOT_SIZE filter (the size step is unknown)", "filters")
        if "PRICE_FILTER" not in found:
            raise where.error("no PRICE_FILTER filter (the price tick is unknown)", "filters")
        f, w = found["LOT_SIZE"]
        step = _positive(decimal_string(f, "stepSize", w), w, "stepSize")
        f, w = found["PRICE_FILTER"]
        tick = _positive(decimal_string(f, "tickSize", w), w, "tickSize")
        return step, tick

    def position(self, p, where):
        info = mapping(p, "info", where)
        w = where.at("info")
        mid = text(info, "symbol", w)
        size = decimal_string(info, "positionAmt", w, private=True)
        entry = decimal_string(info, "entryPrice", w, private=True)
        mark = decimal_string(info, "markPrice", w)
        side = text(info, "positionSide", w, optional=True) or "BOTH"
        legs = {"BOTH": "one-way", "LONG": "long", "SHORT": "short"}
        if side not in legs:
            raise w.error(f"unknown positionSide {side!r} (BOTH, LONG or SHORT)", "positionSide")
        mode = text(info, "marginType", w, optional=True)
        where_mode = w.at("marginType")
        if mode is None:
            mode = text(p, "marginMode", where, optional=True)
            where_mode = where.at("marginMode")
        if mode is None:
            raise w.error("missing: neither info.marginType nor ccxt's marginMode says whether the "
                          "position is cross or isolated", "marginType")
        mode = mode.lower()
        if mode not in ("cross", "isolated"):
            raise where_mode.error(f"unknown margin mode {mode!r} (cross or isolated)")
        iso = None
        if mode == "isolated" and size != 0:
            iso = decimal_string(info, "isolatedWallet", w, private=True)
        mm = info.get("maintMargin")
        return PositionRow(mid, size, entry, mark, mode, iso, legs[side],
                           "maintMargin" if mm is not None else None,
                           mm if isinstance(mm, str) else None, "mark")

    def balances(self, doc, where):
        info = mapping(doc, "info", where)
        w = where.at("info")
        out = {}
        for k, row in enumerate(sequence(info, "assets", w)):
            rw = w.at(f"assets[{k}]")
            asset = text(row, "asset", rw)
            out[asset] = decimal_string(row, "crossWalletBalance", w.at(f"assets[{asset}]"),
                                        private=True)
        return out

    def tiers(self, rows, where):
        out = []
        for k, t in enumerate(rows):
            w = where.at(f"[{k}]")
            info = mapping(t, "info", w)
            wi = w.at("info")
            out.append(TierRow(
                floor=decimal_number(info, "notionalFloor", wi),
                cap=decimal_number(info, "notionalCap", wi),
                rate=decimal_number(info, "maintMarginRatio", wi),
                amount=decimal_number(info, "cum", wi),
                initial_rate=None,
                max_leverage=_positive(decimal_number(info, "initialLeverage", wi), wi,
                                       "initialLeverage"),
            ))
        return out


class Bybit(Profile):
    id = "bybit"
    title = "Bybit linear (v5, unified account)"
    marks_file = "tickers.json"
    marks_method = "fetch_tickers"
    floor_field = "riskLimitValue"
    amount_field = "mmDeduction"
    env_key = "ZKMARGIN_BYBIT_API_KEY"
    env_secret = "ZKMARGIN_BYBIT_API_SECRET"

    def steps(self, info, where):
        lot = mapping(info, "lotSizeFilter", where)
        price = mapping(info, "priceFilter", where)
        step = _positive(decimal_string(lot, "qtyStep", where.at("lotSizeFilter")),
                         where.at("lotSizeFilter"), "qtyStep")
        tick = _positive(decimal_string(price, "tickSize", where.at("priceFilter")),
                         where.at("priceFilter"), "tickSize")
        return step, tick

    def position(self, p, where):
        info = mapping(p, "info", where)
        w = where.at("info")
        mid = text(info, "symbol", w)
        size = decimal_string(info, "size", w, private=True)
        if size < 0:
            raise w.error("Bybit reports sizes >= 0 with a side; got a negative size", "size")
        side = text(info, "side", w, optional=True)
        if size != 0:
            if side not in ("Buy", "Sell"):
                raise w.error("an open position needs side 'Buy' or 'Sell'", "side")
            if side == "Sell":
                size = -size
        entry = decimal_string(info, "avgPrice", w, private=True) if size != 0 else Decimal(0)
        mark = decimal_string(info, "markPrice", w)
        idx = integer(info, "positionIdx", w)
        legs = {0: "one-way", 1: "long", 2: "short"}
        if idx not in legs:
            raise w.error(f"unknown positionIdx {idx} (0 one-way, 1 buy side, 2 sell side)",
                          "positionIdx")
        trade_mode = integer(info, "tradeMode", w, optional=True)
        mode = "isolated" if trade_mode == 1 else "cross"
        if mode == "isolated" and size != 0:
            raise w.error("an isolated Bybit position: Bybit's unified account reports no isolated "
                          "margin without its PnL (positionBalance), so the importer cannot fill "
                          "isolated_margin without a guess", "tradeMode")
        if isinstance(info.get("positionMMByMp"), str) and info["positionMMByMp"].strip():
            fld, basis = "positionMMByMp", "mark"
        else:
            fld, basis = "positionMM", "entry"
        mm = info.get(fld)
        return PositionRow(mid, size, entry, mark, mode, None, legs[idx], fld,
                           mm if isinstance(mm, str) else None, basis)

    def balances(self, doc, where):
        info = mapping(doc, "info", where)
        w = where.at("info")
        result = mapping(info, "result", w)
        w = w.at("result")
        out = {}
        accounts = sequence(result, "list", w)
        for a, acct in enumerate(accounts):
            wa = w.at(f"list[{a}]")
            kind = text(acct, "accountType", wa, optional=True)
            if kind not in ("UNIFIED", "CONTRACT"):
                continue
            for k, coin in enumerate(sequence(acct, "coin", wa)):
                asset = text(coin, "coin", wa.at(f"coin[{k}]"))
                out[asset] = decimal_string(coin, "walletBalance", wa.at(f"coin[{asset}]"),
                                            private=True)
        if not out:
            raise w.error("no UNIFIED or CONTRACT account with coins", "list")
        return out

    def tiers(self, rows, where):
        out = []
        prev_cap = Decimal(0)
        for k, t in enumerate(rows):
            w = where.at(f"[{k}]")
            info = mapping(t, "info", w)
            wi = w.at("info")
            cap = decimal_string(info, "riskLimitValue", wi)
            ded = info.get("mmDeduction")
            if ded is None or (isinstance(ded, str) and not ded.strip()):
                raise wi.error("missing: without the deduction the requirement would jump at each "
                               "tier (Bybit's older risk-limit tables); zkmargin will not guess it",
                               "mmDeduction")
            out.append(TierRow(
                floor=prev_cap,
                cap=cap,
                rate=decimal_string(info, "maintenanceMargin", wi),
                amount=decimal_string(info, "mmDeduction", wi),
                initial_rate=decimal_string(info, "initialMargin", wi),
                max_leverage=None,
            ))
            prev_cap = cap
        return out

    def haircuts(self, doc, where):
        if doc is None:
            return {}
        w = where
        result = mapping(doc, "result", w)
        w = w.at("result")
        out = {}
        for k, row in enumerate(sequence(result, "list", w)):
            cur = text(row, "currency", w.at(f"list[{k}]"))
            wr = w.at(f"list[{cur}]")
            ratio = decimal_string(row, "collateralRatio", wr)
            if not 0 <= ratio <= 1:
                raise wr.error("must be between 0 and 1", "collateralRatio")
            if row.get("marginCollateral") is False:
                continue
            out[cur] = Decimal(1) - ratio
        return out


PROFILES: dict[str, Profile] = {p.id: p for p in (Binance(), Bybit())}


def profile(exchange: str) -> Profile:
    """The profile of ``exchange`` (``binanceusdm`` or ``bybit``)."""
    try:
        return PROFILES[exchange]
    except KeyError:
        raise InputError(f"unsupported exchange {exchange!r}; supported: "
                         + ", ".join(sorted(PROFILES)), field="exchange") from None
