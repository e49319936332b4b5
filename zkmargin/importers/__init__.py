"""Importers: exchange data (ccxt's unified structures, saved as JSON or fetched live) → zkmargin's
policy, market snapshot and account files.

Modules, one concern each:

* :mod:`.fields` — reading exchange numbers exactly (decimal strings, never a float);
* :mod:`.exchanges` — which raw fields each exchange uses (Binance USDⓈ-M, Bybit linear);
* :mod:`.source` — a recording of ccxt results on disk; :mod:`.live` — the same, fetched live;
* :mod:`.markets` — ccxt markets → contracts (ids, contract sizes, steps and ticks);
* :mod:`.account` — balances and positions → ``zkmargin.account/1``;
* :mod:`.policy` — leverage tiers and haircuts → ``zkmargin.policy/1`` (provable);
* :mod:`.marks` — mark and index prices → ``zkmargin.market/1``;
* :mod:`.roundtrip` — the imported account's maintenance margin against the exchange's figures;
* :mod:`.workflows` — what the ``import-*`` and ``reconcile`` commands call.

The field-by-field mapping is in ``docs/formats.md`` ("From exchange data").

May import the API and everything below it (the importers sit at the workflows' level). Used by
the CLI (``cli/commands_import.py``) and the tests.
"""

from .account import ImportedAccount, account_from_exchange
from .exchanges import PROFILES, profile
from .live import LiveData
from .marks import market_from_exchange
from .policy import ImportedPolicy, check_provable, policy_from_exchange
from .roundtrip import PositionCheck, RoundTrip, round_trip
from .source import ExchangeData, SavedData
from .workflows import (
    ACCOUNT_MODE,
    VenueImport,
    check_round_trip,
    import_account,
    import_market,
    import_venue,
    open_data,
    write_account,
)

__all__ = [
    "ACCOUNT_MODE",
    "PROFILES",
    "ExchangeData",
    "ImportedAccount",
    "ImportedPolicy",
    "LiveData",
    "PositionCheck",
    "RoundTrip",
    "SavedData",
    "VenueImport",
    "account_from_exchange",
    "check_provable",
    "check_round_trip",
    "import_account",
    "import_market",
    "import_venue",
    "market_from_exchange",
    "open_data",
    "policy_from_exchange",
    "profile",
    "round_trip",
    "write_account",
]
