"""The live path: a stand-in for the network (an object with ccxt's method names that returns the
recorded responses the way ccxt does — floats in the unified fields, strings in ``info``) goes
through exactly the conversions the offline path uses, and gives byte-identical files. Missing
credentials and a missing ccxt extra are clear input errors; credentials are never options."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from zkmargin import importers as imp
from zkmargin.cli.main import cli
from zkmargin.errors import InputError, MissingExtraError
from zkmargin.importers.live import LiveData, connect, credentials

FIX = Path(__file__).resolve().parent / "fixtures" / "ccxt"
BYBIT_TIME = 1717401605421


class RecordedExchange:
    """Stands in for a ccxt client: returns the recorded responses as ccxt returns them (parsed
    by the json module: unified numbers are Python floats)."""

    def __init__(self, exchange: str, marks_file: str):
        self.folder = FIX / exchange
        self.marks_file = marks_file
        self.calls: list[str] = []
        self.last_json_response = None

    def _load(self, name):
        self.calls.append(name)
        return json.loads((self.folder / name).read_text())

    def load_markets(self):
        return self._load("markets.json")

    def fetch_leverage_tiers(self, symbols=None):
        tiers = self._load("leverage_tiers.json")
        return {k: v for k, v in tiers.items() if symbols is None or k in symbols}

    def _marks(self, symbols):
        got = self._load(self.marks_file)
        self.last_json_response = {"retCode": 0, "time": BYBIT_TIME}
        return {k: v for k, v in got.items() if symbols is None or k in symbols}

    fetch_mark_prices = _marks
    fetch_tickers = _marks

    def fetch_positions(self, symbols=None):
        return self._load("positions.json")

    def fetch_balance(self, params=None):
        return self._load("balance.json")

    def privateGetV5AccountCollateralInfo(self, params=None):  # noqa: N802 - ccxt's name
        return self._load("collateral_info.json")


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("exchange,symbols,collateral", [
    ("binanceusdm", ["BTCUSDT", "ETHUSDT", "SOLUSDT"], []),
    ("bybit", ["BTCUSDT", "ETHUSDT"], ["BTC"]),
])
def test_live_and_offline_paths_write_the_same_files(tmp_path, exchange, symbols, collateral):
    prof = imp.profile(exchange)
    live_dir, saved_dir = tmp_path / "live", tmp_path / "saved"
    live_dir.mkdir()
    saved_dir.mkdir()
    as_of = "2024-06-03T08:00:05.421Z" if exchange == "bybit" else None
    fake = RecordedExchange(exchange, prof.marks_file)
    live = LiveData(prof, exchange=fake)
    imp.import_venue(live, symbols=symbols, collateral=collateral,
                     policy_out=live_dir / "policy.json", market_out=live_dir / "market.json")
    imp.import_account(live, policy=live_dir / "policy.json", out=live_dir / "account.json")
    saved = {"exchange": exchange, "data": FIX / exchange}
    imp.import_venue(saved, symbols=symbols, collateral=collateral, as_of=as_of,
                     policy_out=saved_dir / "policy.json", market_out=saved_dir / "market.json")
    imp.import_account(saved, policy=saved_dir / "policy.json", out=saved_dir / "account.json")
    live_files = _files(live_dir)
    saved_files = _files(saved_dir)
    # the policy names its source; everything else is byte for byte the same
    live_files["policy.json"] = live_files["policy.json"].replace(
        f"{exchange} live tiers".encode(), str(FIX / exchange / "leverage_tiers.json").encode())
    assert live_files == saved_files
    # each ccxt call was made once (results are cached per import)
    assert len(fake.calls) == len(set(fake.calls))
    assert imp.check_round_trip(live, live_dir / "account.json", live_dir / "policy.json").agrees


def test_live_bybit_tickers_are_stamped_with_the_response_time(tmp_path):
    prof = imp.profile("bybit")
    live = LiveData(prof, exchange=RecordedExchange("bybit", prof.marks_file))
    res = imp.import_venue(live, symbols=["BTCUSDT"])
    assert res.market.as_of == "2024-06-03T08:00:05.421Z"
    # twin: the same recording offline, where the time is unknown, asks for it
    with pytest.raises(InputError, match="--as-of"):
        imp.import_venue({"exchange": "bybit", "data": FIX / "bybit"}, symbols=["BTCUSDT"])


def test_a_float_a_live_client_hands_over_in_info_is_refused():
    class Floaty(RecordedExchange):
        def fetch_positions(self, symbols=None):
            rows = super().fetch_positions()
            rows[0]["info"]["positionAmt"] = 1.25  # as if a client had parsed the strings
            return rows

    prof = imp.profile("binanceusdm")
    live = LiveData(prof, exchange=Floaty("binanceusdm", prof.marks_file))
    with pytest.raises(InputError, match=r"positions\[BTCUSDT\]\.info\.positionAmt.*binary float"):
        imp.import_account(live)


def test_missing_credentials_name_the_environment_variables():
    prof = imp.profile("binanceusdm")
    with pytest.raises(InputError) as e:
        credentials(prof, environ={"ZKMARGIN_BINANCE_API_KEY": "k"})
    assert "ZKMARGIN_BINANCE_API_SECRET" in str(e.value)
    assert "ZKMARGIN_BINANCE_API_KEY" not in str(e.value).split("set ")[1].split(" (")[0]
    assert credentials(prof, environ={"ZKMARGIN_BINANCE_API_KEY": "k",
                                      "ZKMARGIN_BINANCE_API_SECRET": "s"}) == ("k", "s")
    with pytest.raises(InputError, match="ZKMARGIN_BYBIT_API_KEY and ZKMARGIN_BYBIT_API_SECRET"):
        connect(imp.profile("bybit"), private=True, environ={})


def test_a_missing_ccxt_extra_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ccxt", None)  # import ccxt raises ImportError
    with pytest.raises(MissingExtraError, match=r"pip install 'zkmargin\[ccxt\]'"):
        connect(imp.profile("bybit"), private=False)


def test_cli_live_without_credentials_exits_2_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("ZKMARGIN_BINANCE_API_KEY", raising=False)
    monkeypatch.delenv("ZKMARGIN_BINANCE_API_SECRET", raising=False)
    out = tmp_path / "account.json"
    r = CliRunner().invoke(cli, ["import-account", "binanceusdm", "--live", "-o", str(out)])
    assert r.exit_code == 2, r.output
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "ZKMARGIN_BINANCE_API_KEY" in lines[0]
    assert not out.exists()


def test_cli_takes_no_credentials_on_the_command_line(tmp_path):
    for flag in ("--api-key", "--secret", "--apiKey"):
        r = CliRunner().invoke(cli, ["import-account", "binanceusdm", "--live", flag, "x",
                                     "-o", str(tmp_path / "a.json")])
        assert r.exit_code == 2 and "No such option" in r.stderr
    assert not (tmp_path / "a.json").exists()


def test_live_and_recording_are_exclusive():
    with pytest.raises(InputError, match="--live fetches everything"):
        imp.open_data("bybit", data=FIX / "bybit", live=True)
    with pytest.raises(InputError, match="no exchange data"):
        imp.open_data("bybit")


def test_live_fetches_the_index_of_a_collateral_outside_the_universe():
    prof = imp.profile("bybit")
    fake = RecordedExchange("bybit", prof.marks_file)
    res = imp.import_venue(LiveData(prof, exchange=fake), symbols=["ETHUSDT"], collateral=["BTC"])
    assert str(res.market.prices["BTC"]) == json.loads(
        (FIX / "bybit" / "tickers.json").read_text())["BTC/USDT:USDT"]["info"]["indexPrice"]

    # twin: without a BTC perpetual in the markets there is no index to value BTC at
    class NoBtc(RecordedExchange):
        def load_markets(self):
            m = super().load_markets()
            del m["BTC/USDT:USDT"]
            return m

    with pytest.raises(InputError, match="no BTC/USDT perpetual"):
        imp.import_venue(LiveData(prof, exchange=NoBtc("bybit", prof.marks_file)),
                         symbols=["ETHUSDT"], collateral=["BTC"])
