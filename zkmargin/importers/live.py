"""Live exchange data through ccxt (the optional ``ccxt`` extra: ``pip install 'zkmargin[ccxt]'``).

:class:`LiveData` calls the same ccxt methods whose saved results the offline path reads and passes
each result through :func:`~zkmargin.importers.source.exact_copy` — exactly what ``json.dump`` and
the exact loader do to a saved file — so the live and offline paths share every conversion.

Credentials come from the environment only, never from the command line or a file:

==============  ==================================  ====================================
exchange        API key                             API secret
==============  ==================================  ====================================
binanceusdm     ``ZKMARGIN_BINANCE_API_KEY``        ``ZKMARGIN_BINANCE_API_SECRET``
bybit           ``ZKMARGIN_BYBIT_API_KEY``          ``ZKMARGIN_BYBIT_API_SECRET``
==============  ==================================  ====================================

Private calls (positions, balance; Binance's leverage brackets, Bybit's collateral info) need them;
public calls (markets, marks, Bybit's risk limits) do not. A ticker without a time (Bybit's) is
stamped with the ``time`` of the exchange's response when ccxt kept it, else the local clock when
the answer arrived.

May import the importers beside it and ``ccxt`` (the optional extra, on first use). Used by
:mod:`.workflows`.
"""

from __future__ import annotations

import os
import time
from typing import Any

from zkmargin.errors import InputError, MissingExtraError

from .exchanges import Profile
from .source import ExchangeData, exact_copy

__all__ = ["credentials", "connect", "LiveData"]


def credentials(profile: Profile, environ=None) -> tuple[str, str]:
    """(key, secret) from the environment; :class:`InputError` naming the variables if unset."""
    env = os.environ if environ is None else environ
    key = env.get(profile.env_key, "").strip()
    secret = env.get(profile.env_secret, "").strip()
    if not key or not secret:
        missing = [n for n, v in ((profile.env_key, key), (profile.env_secret, secret)) if not v]
        raise InputError(f"live {profile.id} needs API credentials in the environment: set "
                         + " and ".join(missing) + " (read-only keys are enough; never pass them "
                         "on the command line)", field="credentials")
    return key, secret


def connect(profile: Profile, *, private: bool, environ=None):
    """A ccxt client for ``profile``'s exchange (credentials from the environment if ``private``)."""
    config: dict[str, Any] = {"enableRateLimit": True}
    if private:
        config["apiKey"], config["secret"] = credentials(profile, environ)
    try:
        import ccxt  # noqa: PLC0415 - optional extra
    except ImportError:
        raise MissingExtraError("live exchange data needs ccxt: pip install 'zkmargin[ccxt]'",
                                field="live") from None
    if profile.id == "bybit":
        config["options"] = {"defaultType": "swap", "defaultSubType": "linear"}
    return getattr(ccxt, profile.id)(config)


class LiveData(ExchangeData):
    """Exchange data fetched now. ``exchange`` is a ccxt client (or anything with the same
    methods); by default one is made by :func:`connect` when first needed (public calls first
    use a public client; private calls need credentials)."""

    def __init__(self, profile: Profile, *, exchange=None, private: bool = True, environ=None):
        self.profile = profile
        self._exchange = exchange
        self._private = private
        self._environ = environ
        self._cache: dict[str, Any] = {}

    @property
    def exchange(self):
        if self._exchange is None:
            self._exchange = connect(self.profile, private=self._private, environ=self._environ)
        return self._exchange

    def name(self, kind: str) -> str:
        return f"{self.profile.id} live {kind}"

    def _call(self, kind: str, fn, *args):
        if kind not in self._cache:
            try:
                result = fn(*args)
            except Exception as e:  # noqa: BLE001 - ccxt's network and exchange errors
                if isinstance(e, InputError):
                    raise
                raise InputError(f"the exchange call failed: {type(e).__name__}: {e}",
                                 source=self.name(kind)) from None
            self._cache[kind] = exact_copy(result, source=self.name(kind))
        return self._cache[kind]

    def markets(self):
        return self._call("markets", self.exchange.load_markets)

    def tiers(self, symbols):
        return self._call("tiers", self.exchange.fetch_leverage_tiers, symbols or None)

    def marks(self, symbols):
        def fetch():
            got = getattr(self.exchange, self.profile.marks_method)(symbols or None)
            stamp = _response_time(self.exchange)
            if isinstance(got, dict):
                for t in got.values():
                    if isinstance(t, dict) and t.get("timestamp") is None:
                        t["timestamp"] = stamp
            return got
        return self._call("marks", fetch)

    def collateral(self):
        if self.profile.id != "bybit":
            return None
        return self._call("collateral", self.exchange.privateGetV5AccountCollateralInfo)

    def positions(self):
        return self._call("positions", self.exchange.fetch_positions)

    def balance(self):
        return self._call("balance", self.exchange.fetch_balance)


def _response_time(exchange) -> int:
    last = getattr(exchange, "last_json_response", None)
    if isinstance(last, dict) and isinstance(last.get("time"), int) and last["time"] > 0:
        return last["time"]
    return int(time.time() * 1000)
