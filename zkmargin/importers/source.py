"""Where exchange data comes from: ccxt results saved as JSON files (the offline path), or the same
results fetched live (:mod:`zkmargin.importers.live`). Both hand the converters the same thing —
JSON read by the exact loader — so every conversion is shared.

A recording is a folder with one file per ccxt call (names fixed; each can be given separately):

===================  =====================================================  =========
file                 ccxt call, saved with ``json.dump``                    private
===================  =====================================================  =========
markets.json         ``load_markets()``                                     no
leverage_tiers.json  ``fetch_leverage_tiers(symbols)``                      no
mark_prices.json     ``fetch_mark_prices(symbols)`` (Binance)               no
tickers.json         ``fetch_tickers(symbols)`` (Bybit: markPrice, index)   no
collateral_info.json Bybit ``privateGetV5AccountCollateralInfo()`` (raw)    no
positions.json       ``fetch_positions()``                                  yes
balance.json         ``fetch_balance()``                                    yes
===================  =====================================================  =========

May import :mod:`zkmargin.errors`, :mod:`zkmargin.rules.decimals` and :mod:`.fields`. Used by
:mod:`.live` and :mod:`.workflows`.
"""

from __future__ import annotations

import json
import math
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

from zkmargin.errors import FormatError, InputError
from zkmargin.rules.decimals import load_json_file, loads_json

from .exchanges import Profile

__all__ = ["FILES", "ExchangeData", "SavedData", "exact_copy"]

#: kind -> default file name in a recording folder (``marks`` depends on the exchange)
FILES = {
    "markets": "markets.json",
    "tiers": "leverage_tiers.json",
    "collateral": "collateral_info.json",
    "positions": "positions.json",
    "balance": "balance.json",
}


def _plain(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def exact_copy(obj: Any, *, source: str) -> Any:
    """``obj`` (a ccxt result) as the exact JSON reader sees it after ``json.dump``: strings stay
    strings, numbers become ``Decimal`` of their JSON text, non-finite floats become null.
    This is what makes the live path read exactly what a saved file would hold."""
    def default(x):
        if isinstance(x, Decimal):
            return str(x)
        raise TypeError(f"cannot serialize {type(x).__name__}")

    try:
        text = json.dumps(_plain(obj), default=default, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise FormatError(f"the exchange's answer is not JSON data ({e})", source=source) from None
    return loads_json(text, source=source, kind="recording")


class ExchangeData:
    """What the converters read. ``name(kind)`` names the source in error messages."""

    profile: Profile

    def name(self, kind: str) -> str:
        raise NotImplementedError

    def markets(self) -> dict:
        raise NotImplementedError

    def tiers(self, symbols: list[str]) -> dict:
        raise NotImplementedError

    def marks(self, symbols: list[str]) -> dict:
        raise NotImplementedError

    def collateral(self) -> dict | None:
        raise NotImplementedError

    def positions(self) -> list:
        raise NotImplementedError

    def balance(self) -> dict:
        raise NotImplementedError


class SavedData(ExchangeData):
    """A recording on disk: ``folder`` with the default names, each overridable by ``files``
    (kind -> path; kinds: markets, tiers, marks, collateral, positions, balance)."""

    def __init__(self, profile: Profile, folder=None, **files):
        self.profile = profile
        self.folder = Path(folder) if folder is not None else None
        self.files = {k: v for k, v in files.items() if v is not None}
        unknown = set(self.files) - set(FILES) - {"marks"}
        if unknown:
            raise InputError(f"unknown exchange data kind(s): {', '.join(sorted(unknown))}")
        if self.folder is not None and not self.folder.is_dir():
            raise InputError("not a folder", source=str(self.folder))
        self._cache: dict[str, Any] = {}

    def path(self, kind: str) -> str | None:
        if kind in self.files:
            return os.fspath(self.files[kind])
        if self.folder is None:
            return None
        name = self.profile.marks_file if kind == "marks" else FILES[kind]
        return os.fspath(self.folder / name)

    def name(self, kind: str) -> str:
        return self.path(kind) or kind

    def _load(self, kind: str, expected: type, *, optional: bool = False):
        if kind in self._cache:
            return self._cache[kind]
        p = self.path(kind)
        if p is None or (optional and not os.path.exists(p)):
            if optional:
                self._cache[kind] = None
                return None
            raise InputError(f"no {kind} data: give --data FOLDER or the file itself")
        data = load_json_file(p, "recording")
        if not isinstance(data, expected):
            raise FormatError(f"expected a JSON {'object' if expected is dict else 'array'} "
                              f"(ccxt's {kind} result)", source=p)
        self._cache[kind] = data
        return data

    def markets(self):
        return self._load("markets", dict)

    def tiers(self, symbols):
        return self._load("tiers", dict)

    def marks(self, symbols):
        return self._load("marks", dict)

    def collateral(self):
        return self._load("collateral", dict, optional=True)

    def positions(self):
        return self._load("positions", list)

    def balance(self):
        return self._load("balance", dict)
