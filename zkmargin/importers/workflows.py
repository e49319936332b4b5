"""The import workflows the command line calls (one call per command): open the exchange data
(a recording folder and/or files, or live), convert, check, write.

Nothing is written unless every check passed: the venue's policy and market snapshot are both
validated (and the policy's circuit built) before either file is written; the account is
validated against the policy, when one is given, before it is written — atomically, with mode
0600 (it is private). Summaries hold names and counts, never a private value.

May import :mod:`zkmargin.files` and the importers beside it. Used by the CLI
(``import-venue``, ``import-market``, ``import-account``, ``reconcile``) and the tests.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from zkmargin.errors import InputError
from zkmargin.files.atomic import write_atomic
from zkmargin.rules.models import (
    MARKET_FORMAT,
    Account,
    Market,
    Policy,
    dump_document,
    load_account,
    load_market,
    load_policy,
    write_document,
)

from .account import ImportedAccount, account_from_exchange
from .exchanges import profile as get_profile
from .live import LiveData
from .markets import Contracts
from .marks import market_from_exchange, snapshot_prices
from .policy import check_provable, policy_from_exchange
from .roundtrip import RoundTrip, round_trip
from .source import ExchangeData, SavedData

__all__ = [
    "ACCOUNT_MODE",
    "open_data",
    "VenueImport",
    "import_venue",
    "import_market",
    "import_account",
    "check_round_trip",
    "write_account",
]

#: permissions of an imported account file: the owner's only
ACCOUNT_MODE = 0o600


def open_data(exchange: str, *, data=None, live: bool = False, client=None,
              private: bool = True, environ=None, **files) -> ExchangeData:
    """The exchange data to import from: a recording (``data`` folder and/or ``files``: markets,
    tiers, marks, collateral, positions, balance) or, with ``live``, the exchange itself through
    ccxt (``client``: a ccxt client to use instead of making one)."""
    prof = get_profile(exchange)
    if live:
        if data is not None or any(v is not None for v in files.values()):
            raise InputError("--live fetches everything from the exchange; give no recording "
                             "files with it", field="live")
        return LiveData(prof, exchange=client, private=private, environ=environ)
    if data is None and not any(v is not None for v in files.values()):
        raise InputError("no exchange data: give --data FOLDER (a recording of ccxt results) or "
                         "--live", field="data")
    return SavedData(prof, data, **files)


def _source(source, *, private: bool) -> ExchangeData:
    """``source`` as exchange data: an :class:`ExchangeData`, or the keyword arguments of
    :func:`open_data` as a dict (the workflow decides whether live calls need credentials)."""
    if isinstance(source, ExchangeData):
        return source
    if isinstance(source, dict):
        return open_data(**{"private": private, **source})
    raise InputError(f"expected exchange data or its description, got {type(source).__name__}")


@dataclass
class VenueImport:
    policy: Policy
    market: Market
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        p = self.policy
        return {
            "venue": p.venue,
            "mode": p.mode,
            "requirement": p.requirement,
            "quote": p.quote,
            "instruments": p.symbols,
            "collateral": [c.asset for c in p.collateral],
            "decimals": p.decimals.model_dump(),
            "bits": p.bits.model_dump(),
            "as_of": self.market.as_of,
            "notes": list(self.notes),
        }


def _out_ok(path) -> None:
    p = os.fspath(path)
    if os.path.isdir(p):
        raise InputError("is a folder; name the file to write", source=p)
    parent = os.path.dirname(p) or "."
    if not os.path.isdir(parent):
        raise InputError(f"the folder {parent} does not exist", source=p)


def import_venue(source, *, policy_out=None, market_out=None,
                 symbols: Iterable[str] | None = None, mode: str = "cross",
                 requirement: str = "maintenance", buffer="0", collateral: Iterable[str] = (),
                 venue: str | None = None, price_decimals: int | None = None,
                 amount_decimals: int | None = None, as_of: str | None = None) -> VenueImport:
    """The venue's policy (from tiers, haircuts, markets) and market snapshot (from marks) for
    ``symbols``, checked provable at the snapshot and at the widths' extremes; written to
    ``policy_out`` and ``market_out`` when given (both or neither)."""
    for p in (policy_out, market_out):
        if p is not None:
            _out_ok(p)
    names = list(symbols) if symbols is not None else None
    collateral = list(collateral)
    spec_exchange = source.profile.id if isinstance(source, ExchangeData) else source.get("exchange")
    # Binance's leverage brackets and Bybit's collateral info are private calls
    source = _source(source, private=spec_exchange == "binanceusdm" or bool(collateral))
    contracts = Contracts(source.markets(), source.profile, source.name("markets"))
    if names is None:
        universe = contracts.select(None, list(source.tiers([])))
    else:
        universe = contracts.select(names, [])
    quote = universe[0].quote
    prices, when = snapshot_prices(source, contracts, universe, collateral, quote, as_of)
    imported = policy_from_exchange(
        source, symbols=[c.id for c in universe], mode=mode, requirement=requirement,
        buffer=buffer, collateral=collateral, venue=venue, price_decimals=price_decimals,
        amount_decimals=amount_decimals, prices=prices)
    market = load_market({"format": MARKET_FORMAT, "as_of": when, "prices": prices},
                         imported.policy, source=source.name("marks"))
    check_provable(imported.policy, market)
    if policy_out is not None:
        write_document(imported.policy, policy_out)
    if market_out is not None:
        write_document(market, market_out)
    return VenueImport(imported.policy, market, imported.notes)


def import_market(source, policy, *, out=None, as_of: str | None = None) -> Market:
    """A fresh market snapshot for an existing ``policy`` (path, dict or model)."""
    if out is not None:
        _out_ok(out)
    source = _source(source, private=False)
    pol = load_policy(policy)
    market = market_from_exchange(source, pol, as_of=as_of)
    check_provable(pol, market)
    if out is not None:
        write_document(market, out)
    return market


def write_account(account: Account, path) -> None:
    """Write a private account atomically with mode 0600."""
    doc = dump_document(account)
    if not doc.get("isolated_margin"):
        doc.pop("isolated_margin", None)
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    write_atomic(path, text.encode("utf-8"), mode=ACCOUNT_MODE)


def import_account(source, *, out=None, policy=None,
                   symbols: Iterable[str] | None = None) -> ImportedAccount:
    """The trader's account from positions and balance, validated against ``policy`` if given,
    written (mode 0600) to ``out`` if given."""
    if out is not None:
        _out_ok(out)
    source = _source(source, private=True)
    pol = load_policy(policy) if policy is not None else None
    imported = account_from_exchange(source, policy=pol,
                                     symbols=list(symbols) if symbols is not None else None)
    if out is not None:
        write_account(imported.account, out)
    return imported


def check_round_trip(source, account, policy, *, tolerance=None) -> RoundTrip:
    """The round-trip report of an imported ``account`` under ``policy`` against the exchange's
    own maintenance figures (:func:`~zkmargin.importers.roundtrip.round_trip`)."""
    source = _source(source, private=True)
    pol = load_policy(policy)
    acct = load_account(account, pol)
    return round_trip(acct, pol, source, tolerance=tolerance)
