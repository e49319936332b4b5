"""ccxt markets (``load_markets()``) → the contracts the importers need, exactly.

zkmargin names an instrument by the exchange's own market id (``BTCUSDT``), which is also the
``symbol`` of every raw ``info`` record; ccxt's unified symbol (``BTC/USDT:USDT``) is accepted on
the command line too. A position's zkmargin size is ``contracts × contractSize`` in the base asset,
so a contract must be linear (margined and settled in the quote): inverse contracts are refused.

May import :mod:`zkmargin.errors` and the importers beside it. Used by the other importers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from zkmargin.errors import ExchangeDataError, UnknownSymbolError
from zkmargin.rules.decimals import decimals_of

from .exchanges import Profile
from .fields import Where, decimal_number, mapping, text

__all__ = ["Contract", "Contracts"]


@dataclass(frozen=True)
class Contract:
    id: str  # the exchange's market id: zkmargin's instrument symbol
    symbol: str  # ccxt's unified symbol
    base: str
    quote: str
    settle: str
    kind: str  # perpetual | future
    contract_size: Decimal
    size_step: Decimal  # in zkmargin size units (base asset): step × contract size
    price_tick: Decimal
    expiry: str | None

    @property
    def size_decimals(self) -> int:
        return decimals_of(self.size_step)

    @property
    def price_decimals(self) -> int:
        return decimals_of(self.price_tick)


class Contracts:
    """The contracts of one ccxt markets dict, looked up by market id or unified symbol; each
    market is read (and checked) only when asked for."""

    def __init__(self, markets: dict, profile: Profile, source: str):
        self.profile = profile
        self.source = source
        self._raw = markets
        self._by_id: dict[str, str] = {}
        for key, m in markets.items():
            if isinstance(m, dict) and isinstance(m.get("id"), str):
                self._by_id.setdefault(m["id"], key)
        self._done: dict[str, Contract] = {}

    def unified(self, name: str) -> str | None:
        """The unified symbol for a market id or unified symbol, or None."""
        if name in self._raw:
            return name
        return self._by_id.get(name)

    def __contains__(self, name: str) -> bool:
        return self.unified(name) is not None

    def get(self, name: str, where: Where | None = None) -> Contract:
        key = self.unified(name)
        if key is None:
            w = where or Where(self.source, "")
            raise UnknownSymbolError(f"{name!r} is not a market of {self.profile.id} "
                                     f"(not in {self.source})", source=w.source,
                                     field=w.path or None)
        if key not in self._done:
            self._done[key] = self._read(key)
        return self._done[key]

    def ids(self) -> list[str]:
        return list(self._by_id)

    def find_perpetual(self, base: str, settle: str) -> Contract | None:
        """The linear perpetual of ``base`` settled in ``settle`` (for a collateral's index)."""
        for key, m in self._raw.items():
            if (isinstance(m, dict) and m.get("base") == base and m.get("settle") == settle
                    and m.get("swap") is True and m.get("linear") is True):
                return self.get(key)
        return None

    def _read(self, key: str) -> Contract:
        m = self._raw[key]
        w = Where(self.source, f"markets[{key}]")
        if not isinstance(m, dict):
            raise w.error("expected a JSON object (a ccxt market)")
        mid = text(m, "id", w)
        if m.get("contract") is not True:
            raise w.error(f"{mid} is not a derivatives contract (spot markets hold no positions)",
                          "contract")
        if m.get("inverse") is True or m.get("linear") is not True:
            raise w.error(f"{mid} is an inverse contract (margined in the base coin); zkmargin's "
                          "positions are linear in the quote asset", "linear")
        if m.get("option") is True:
            raise w.error(f"{mid} is an option; importers take perpetuals and futures", "option")
        kind = "perpetual" if m.get("swap") is True else "future" if m.get("future") is True else None
        if kind is None:
            raise w.error(f"{mid} is neither a swap nor a future", "type")
        cs = decimal_number(m, "contractSize", w, optional=True)
        if cs is None:
            raise w.error(f"unknown contract size for {mid}: zkmargin will not guess how many "
                          "base units one contract holds", "contractSize")
        if cs <= 0:
            raise w.error("must be > 0", "contractSize")
        info = mapping(m, "info", w)
        step, tick = self.profile.steps(info, w.at("info"))
        expiry = None
        if kind == "future":
            expiry = text(m, "expiryDatetime", w)
        settle = text(m, "settle", w)
        quote = text(m, "quote", w)
        if settle != quote:
            raise w.error(f"{mid} settles in {settle} but is quoted in {quote}; zkmargin needs one "
                          "quote currency for marks and margin", "settle")
        return Contract(id=mid, symbol=key, base=text(m, "base", w), quote=quote, settle=settle,
                        kind=kind, contract_size=cs, size_step=step * cs, price_tick=tick,
                        expiry=expiry)

    def select(self, names: Iterable[str] | None, default: Iterable[str]) -> list[Contract]:
        """The contracts named (ids or unified symbols), or all of ``default``; in order, once."""
        out: list[Contract] = []
        seen = set()
        for n in (names if names is not None else default):
            c = self.get(n, Where(None, "symbols") if names is not None else None)
            if c.id not in seen:
                seen.add(c.id)
                out.append(c)
        if not out:
            raise ExchangeDataError("no instruments to import", field="symbols")
        return out
