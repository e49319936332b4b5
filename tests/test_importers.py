"""Importers from recorded ccxt responses (tests/fixtures/ccxt: Binance USDⓈ-M and Bybit linear,
anonymised, in ccxt's exact structures): the imported files prove and verify, the round trip
agrees with the exchange's own maintenance margin, and every malformed or partial response is
refused with an error naming the symbol and field — with nothing written.

Every "it works" test has a twin showing the failure it guards against."""

from __future__ import annotations

import json
import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

import zkmargin
from zkmargin import importers as imp
from zkmargin.errors import (
    BelowRequirementError,
    ExchangeDataError,
    InputError,
    MissingPriceError,
    PolicyError,
    PrecisionError,
    RoundTripMismatchError,
    StatementMismatchError,
    UnknownSymbolError,
)
from zkmargin.rules.models import load_policy

FIX = Path(__file__).resolve().parent / "fixtures" / "ccxt"
BYBIT_AS_OF = "2024-06-03T08:00:05.421Z"


def recording(tmp_path: Path, exchange: str) -> Path:
    """A private copy of a recording (tests edit it)."""
    dst = tmp_path / exchange
    shutil.copytree(FIX / exchange, dst)
    return dst


def edit(path: Path, fn) -> None:
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc, indent=2))


def venue(tmp_path, exchange, data, **kw):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    p, m = out / "policy.json", out / "market.json"
    imp.import_venue({"exchange": exchange, "data": data}, policy_out=p, market_out=m, **kw)
    return p, m


def nothing_written(tmp_path):
    out = tmp_path / "out"
    assert not out.exists() or sorted(os.listdir(out)) == [], os.listdir(out)


def prove_and_verify(account, market, policy):
    challenge = os.urandom(32)
    bundle = zkmargin.prove(account, market, policy, "0", challenge)
    result = zkmargin.verify(bundle, market, policy, "0", challenge)
    assert result.valid
    return bundle, challenge


# --- end to end: recorded responses -> files that prove and verify --------------------------------


def test_binance_cross_imports_prove_verify_and_round_trip(tmp_path):
    data = FIX / "binanceusdm"
    p, m = venue(tmp_path, "binanceusdm", data, symbols=["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    a = tmp_path / "out" / "account.json"
    got = imp.import_account({"exchange": "binanceusdm", "data": data}, policy=p, out=a)
    assert got.summary() == {"mode": "cross", "positions": 3, "balances": ["USDT"],
                             "ignored_assets": ["BNB"]}
    assert (os.stat(a).st_mode & 0o777) == 0o600
    pol = load_policy(p)
    assert pol.decimals.model_dump(exclude_none=True) == {"size": 3, "price": 8, "rate": 6, "amount": 8}
    # the exchange's cum is carried over and obeys the recursion
    btc = pol.instrument("BTCUSDT").maintenance.brackets
    assert [b.amount for b in btc[:3]] == [Decimal(0), Decimal(50), Decimal(3050)]

    report = zkmargin.check(a, m, p)
    assert report.meets
    assert [str(r.requirement.normalize()) for r in report.positions] == [
        "370.315", "267.7621875", "75.118"]
    rt = imp.check_round_trip({"exchange": "binanceusdm", "data": data}, a, p)
    assert rt.agrees and len(rt.rows) == 3
    bundle, challenge = prove_and_verify(a, m, p)
    # twin: the same proof against another challenge is refused
    with pytest.raises(StatementMismatchError):
        zkmargin.verify(bundle, m, p, "0", os.urandom(32))


def test_round_trip_names_the_position_that_differs_and_by_how_much(tmp_path):
    data = recording(tmp_path, "binanceusdm")
    p, m = venue(tmp_path, "binanceusdm", data, symbols=["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    a = tmp_path / "out" / "account.json"
    imp.import_account({"exchange": "binanceusdm", "data": data}, policy=p, out=a)

    def bump(doc):
        doc[1]["info"]["maintMargin"] = "267.77218750"  # ETHUSDT, 0.01 above the rule
    edit(data / "positions.json", bump)
    rt = imp.check_round_trip({"exchange": "binanceusdm", "data": data}, a, p)
    assert not rt.agrees
    assert [r.symbol for r in rt.differing] == ["ETHUSDT"]
    assert rt.differing[0].difference == Decimal("-0.01")
    with pytest.raises(RoundTripMismatchError, match=r"ETHUSDT differs by -0\.01"):
        rt.raise_if_differs()
    # within an explicit tolerance it agrees again
    assert imp.check_round_trip({"exchange": "binanceusdm", "data": data}, a, p,
                                tolerance="0.01").agrees


def test_round_trip_uses_the_exchange_figure_not_ccxts_unified_one():
    """ccxt 4.5 fills Binance's unified maintenanceMargin as rate x notional, without the bracket's
    cum; the recording keeps that, and the round trip reads the exchange's maintMargin instead."""
    rows = json.loads((FIX / "binanceusdm" / "positions.json").read_text())
    btc = rows[0]
    assert btc["maintenanceMargin"] == 420.315  # ccxt's figure: 84063 x 0.005
    assert btc["info"]["maintMargin"] == "370.31500000"  # the exchange's: minus cum 50


def test_bybit_hedge_mode_with_collateral_imports_prove_verify_and_round_trip(tmp_path):
    data = FIX / "bybit"
    p, m = venue(tmp_path, "bybit", data, symbols=["BTCUSDT", "ETHUSDT", "XRPUSDT"],
                 collateral=["BTC"], as_of=BYBIT_AS_OF)
    pol = load_policy(p)
    assert [(c.asset, c.haircut) for c in pol.collateral] == [("USDT", Decimal(0)),
                                                             ("BTC", Decimal("0.05"))]
    market = json.loads(m.read_text())
    assert market["prices"]["BTC"] == "67231.87"  # the BTCUSDT index, not its mark
    assert market["as_of"] == BYBIT_AS_OF
    a = tmp_path / "out" / "account.json"
    got = imp.import_account({"exchange": "bybit", "data": data}, policy=p, out=a)
    acct = json.loads(a.read_text())
    assert [(x["symbol"], x["size"]) for x in acct["positions"]] == [("BTCUSDT", "3.5"),
                                                                    ("ETHUSDT", "-20")]
    assert got.summary()["balances"] == ["BTC", "USDT"]
    rt = imp.check_round_trip({"exchange": "bybit", "data": data}, a, p)
    assert rt.agrees and {r.field for r in rt.rows} == {"positionMMByMp"}
    prove_and_verify(a, m, p)


def test_bybit_without_mark_based_figure_compares_at_the_entry_price(tmp_path):
    data = recording(tmp_path, "bybit")
    p, m = venue(tmp_path, "bybit", data, symbols=["BTCUSDT", "ETHUSDT"], as_of=BYBIT_AS_OF)
    a = tmp_path / "out" / "account.json"
    imp.import_account({"exchange": "bybit", "data": data}, policy=p, out=a)

    def drop(doc):
        for row in doc:
            del row["info"]["positionMMByMp"]
    edit(data / "positions.json", drop)
    rt = imp.check_round_trip({"exchange": "bybit", "data": data}, a, p)
    assert rt.agrees and {(r.field, r.basis) for r in rt.rows} == {("positionMM", "entry")}

    def bump(doc):
        doc[0]["info"]["positionMM"] = "1137.97812500"
    edit(data / "positions.json", bump)
    bad = imp.check_round_trip({"exchange": "bybit", "data": data}, a, p).differing
    assert [(r.symbol, r.difference) for r in bad] == [("BTCUSDT", Decimal("-0.001"))]


def test_binance_isolated_imports_prove_verify_and_round_trip(tmp_path):
    data = FIX / "binanceusdm"
    src = {"exchange": "binanceusdm", "data": data,
           "positions": data / "positions_isolated.json", "balance": data / "balance_isolated.json"}
    out = tmp_path / "out"
    out.mkdir()
    imp.import_venue(src, symbols=["BTCUSDT", "ETHUSDT"], mode="isolated",
                     policy_out=out / "p.json", market_out=out / "m.json")
    imp.import_account(src, policy=out / "p.json", out=out / "a.json")
    acct = json.loads((out / "a.json").read_text())
    # the cross wallet only; each position's own margin without its PnL
    assert acct["balances"] == {"USDT": "8000"}
    assert acct["isolated_margin"] == {"BTCUSDT": "2700", "ETHUSDT": "450"}
    assert imp.check_round_trip(src, out / "a.json", out / "p.json").agrees
    prove_and_verify(out / "a.json", out / "m.json", out / "p.json")
    # twin: with too little isolated margin the prover refuses
    thin = dict(acct, isolated_margin={"BTCUSDT": "2700", "ETHUSDT": "100"})
    with pytest.raises(BelowRequirementError):
        zkmargin.prove(thin, out / "m.json", out / "p.json", "0", os.urandom(32))


# --- exactness: strings, never floats -------------------------------------------------------------


def test_a_number_where_the_exchange_sends_a_string_is_refused(tmp_path):
    data = recording(tmp_path, "binanceusdm")
    p, _ = venue(tmp_path, "binanceusdm", FIX / "binanceusdm",
                 symbols=["BTCUSDT", "ETHUSDT", "SOLUSDT"])

    def floaty(doc):
        doc[0]["info"]["positionAmt"] = 1.25
    edit(data / "positions.json", floaty)
    out = tmp_path / "acct.json"
    with pytest.raises(ExchangeDataError) as e:
        imp.import_account({"exchange": "binanceusdm", "data": data}, policy=p, out=out)
    msg = e.value.one_line()
    assert "positions[BTCUSDT].info.positionAmt" in msg and "binary float" in msg
    assert "1.25" not in msg  # a private value never reaches a message
    assert not out.exists()


def test_a_float_from_a_live_client_is_refused_too():
    """A Python float can only come from code that skipped the exact reader: refused."""
    from zkmargin.importers.fields import Where, decimal_number, decimal_string

    w = Where("live", "tiers[BTCUSDT][0].info")
    with pytest.raises(ExchangeDataError, match="binary float"):
        decimal_number({"cum": 50.0}, "cum", w)
    with pytest.raises(ExchangeDataError, match="binary float"):
        decimal_string({"markPrice": 67250.4}, "markPrice", w)
    assert decimal_string({"markPrice": "67250.40000000"}, "markPrice", w) == Decimal("67250.4")
    # JSON numbers (Binance brackets) read from their text: at most 15 significant digits
    assert decimal_number({"cum": Decimal("3848050.0")}, "cum", w) == Decimal("3848050")
    with pytest.raises(ExchangeDataError, match="16 significant digits"):
        decimal_number({"cum": Decimal("3848050.000000001")}, "cum", w)


# --- tier tables ----------------------------------------------------------------------------------


def _tiers_edit(tmp_path, exchange, fn):
    data = recording(tmp_path, exchange)
    edit(data / "leverage_tiers.json", fn)
    return data


def test_a_tier_table_with_a_gap_is_refused(tmp_path):
    def gap(doc):
        doc["BTC/USDT:USDT"][2]["info"]["notionalFloor"] = 650000
    data = _tiers_edit(tmp_path, "binanceusdm", gap)
    with pytest.raises(ExchangeDataError) as e:
        venue(tmp_path, "binanceusdm", data, symbols=["BTCUSDT"])
    assert "BTCUSDT tier 3: gap" in str(e.value)
    assert "tiers[BTCUSDT][2].info.notionalFloor" in str(e.value)
    nothing_written(tmp_path)


def test_a_cum_off_the_recursion_is_refused(tmp_path):
    def off(doc):
        doc["ETH/USDT:USDT"][2]["info"]["cum"] = 366.0
    data = _tiers_edit(tmp_path, "binanceusdm", off)
    with pytest.raises(ExchangeDataError) as e:
        venue(tmp_path, "binanceusdm", data, symbols=["ETHUSDT"])
    assert "ETHUSDT tier 3: maintenance amount 366 does not follow the recursion" in str(e.value)
    assert "= 365" in str(e.value) and "info.cum" in str(e.value)
    nothing_written(tmp_path)


def test_bybit_tiers_without_deduction_are_refused(tmp_path):
    def old(doc):
        doc["BTC/USDT:USDT"][1]["info"]["mmDeduction"] = ""
    data = _tiers_edit(tmp_path, "bybit", old)
    with pytest.raises(ExchangeDataError, match=r"tiers\[BTCUSDT\]\[1\]\.info\.mmDeduction"):
        venue(tmp_path, "bybit", data, symbols=["BTCUSDT"], as_of=BYBIT_AS_OF)
    nothing_written(tmp_path)


def test_bybit_deduction_off_the_recursion_is_refused(tmp_path):
    def off(doc):
        doc["BTC/USDT:USDT"][2]["info"]["mmDeduction"] = "310"
    data = _tiers_edit(tmp_path, "bybit", off)
    with pytest.raises(ExchangeDataError, match="BTCUSDT tier 3: maintenance amount 310"):
        venue(tmp_path, "bybit", data, symbols=["BTCUSDT"], as_of=BYBIT_AS_OF)


def test_initial_rates_from_max_leverage_are_rounded_up_never_down(tmp_path):
    data = FIX / "binanceusdm"
    res = imp.import_venue({"exchange": "binanceusdm", "data": data}, symbols=["ETHUSDT"])
    eth = res.policy.instrument("ETHUSDT").initial.brackets
    assert [b.rate for b in eth] == [Decimal("0.01"), Decimal("0.013334"), Decimal("0.02"),
                                    Decimal("0.04"), Decimal("0.1")]
    assert eth[1].rate * 75 > 1  # 1/75 rounded up: at or above the exchange's requirement
    assert any("1/75 rounded up" in n for n in res.notes)


# --- missing, partial, unknown --------------------------------------------------------------------


def test_a_missing_mark_names_symbol_and_field_and_writes_nothing(tmp_path):
    data = recording(tmp_path, "binanceusdm")

    def drop(doc):
        del doc["SOL/USDT:USDT"]["info"]["markPrice"]
    edit(data / "mark_prices.json", drop)
    with pytest.raises(ExchangeDataError) as e:
        venue(tmp_path, "binanceusdm", data, symbols=["BTCUSDT", "SOLUSDT"])
    assert "marks[SOLUSDT].info.markPrice" in str(e.value) and "missing" in str(e.value)
    nothing_written(tmp_path)

    def gone(doc):
        del doc["SOL/USDT:USDT"]
    edit(data / "mark_prices.json", gone)
    with pytest.raises(MissingPriceError, match="no mark price for SOLUSDT"):
        venue(tmp_path, "binanceusdm", data, symbols=["BTCUSDT", "SOLUSDT"])
    nothing_written(tmp_path)


def test_bybit_tickers_carry_no_time_so_as_of_is_required(tmp_path):
    with pytest.raises(ExchangeDataError, match="--as-of"):
        venue(tmp_path, "bybit", FIX / "bybit", symbols=["BTCUSDT"])
    nothing_written(tmp_path)


def test_an_unknown_symbol_is_refused(tmp_path):
    with pytest.raises(UnknownSymbolError, match="'ADAUSDT' is not a market of binanceusdm"):
        venue(tmp_path, "binanceusdm", FIX / "binanceusdm", symbols=["BTCUSDT", "ADAUSDT"])
    nothing_written(tmp_path)
    # a position in an instrument the venue's policy does not list
    p, _ = venue(tmp_path, "binanceusdm", FIX / "binanceusdm", symbols=["BTCUSDT", "ETHUSDT"])
    out = tmp_path / "acct.json"
    with pytest.raises(UnknownSymbolError, match="SOLUSDT, which the policy") as e:
        imp.import_account({"exchange": "binanceusdm", "data": FIX / "binanceusdm"}, policy=p,
                           out=out)
    assert "positions[SOLUSDT].info.symbol" in str(e.value)
    assert not out.exists()


def test_a_position_in_a_market_missing_from_the_markets_is_refused(tmp_path):
    data = recording(tmp_path, "binanceusdm")
    edit(data / "markets.json", lambda doc: doc.pop("SOL/USDT:USDT"))
    with pytest.raises(UnknownSymbolError, match=r"positions\[SOLUSDT\]\.info\.symbol"):
        imp.import_account({"exchange": "binanceusdm", "data": data})


def test_an_unknown_contract_size_is_refused(tmp_path):
    data = recording(tmp_path, "binanceusdm")
    edit(data / "markets.json", lambda doc: doc["ETH/USDT:USDT"].update(contractSize=None))
    with pytest.raises(ExchangeDataError, match="unknown contract size for ETHUSDT") as e:
        imp.import_account({"exchange": "binanceusdm", "data": data})
    assert "markets[ETH/USDT:USDT].contractSize" in str(e.value)


def test_contract_size_scales_the_size(tmp_path):
    data = recording(tmp_path, "bybit")
    edit(data / "markets.json", lambda doc: doc["ETH/USDT:USDT"].update(contractSize=10))
    got = imp.import_account({"exchange": "bybit", "data": data})
    assert {p.symbol: p.size for p in got.account.positions}["ETHUSDT"] == Decimal(-200)


def test_an_inverse_contract_is_refused(tmp_path):
    data = recording(tmp_path, "bybit")
    edit(data / "markets.json",
         lambda doc: doc["XRP/USDT:USDT"].update(linear=False, inverse=True))
    with pytest.raises(ExchangeDataError, match="XRPUSDT is an inverse contract"):
        venue(tmp_path, "bybit", data, symbols=["XRPUSDT"], as_of=BYBIT_AS_OF)


def test_both_hedge_legs_open_on_one_symbol_are_refused(tmp_path):
    data = recording(tmp_path, "bybit")

    def open_short(doc):
        leg = doc[1]["info"]  # BTCUSDT positionIdx 2, empty in the recording
        leg.update(side="Sell", size="1.000", avgPrice="66000.0")
    edit(data / "positions.json", open_short)
    with pytest.raises(ExchangeDataError, match="two open legs in BTCUSDT .long and short"):
        imp.import_account({"exchange": "bybit", "data": data}, out=tmp_path / "a.json")
    assert not (tmp_path / "a.json").exists()


def test_mixed_cross_and_isolated_positions_are_refused(tmp_path):
    data = recording(tmp_path, "binanceusdm")
    iso = json.loads((FIX / "binanceusdm" / "positions_isolated.json").read_text())
    edit(data / "positions.json", lambda doc: doc.__setitem__(2, iso[0] | {
        "info": iso[0]["info"] | {"symbol": "SOLUSDT", "markPrice": "150.11800000"}}))
    with pytest.raises(ExchangeDataError, match="mixes cross .* and isolated"):
        imp.import_account({"exchange": "binanceusdm", "data": data})


def test_a_negative_wallet_balance_is_refused(tmp_path):
    data = recording(tmp_path, "bybit")
    edit(data / "balance.json", lambda doc: doc["info"]["result"]["list"][0]["coin"][1].update(
        walletBalance="-0.01"))
    with pytest.raises(ExchangeDataError, match=r"balance\[BTC\]") as e:
        imp.import_account({"exchange": "bybit", "data": data})
    assert "0.01" not in str(e.value)


# --- scales and provability -----------------------------------------------------------------------


def test_decimals_below_what_the_data_needs_are_refused_not_rounded(tmp_path):
    with pytest.raises(PolicyError, match="2 decimals, the exchange data needs 5"):
        venue(tmp_path, "binanceusdm", FIX / "binanceusdm", symbols=["BTCUSDT", "DOGEUSDT"],
              price_decimals=2)
    nothing_written(tmp_path)
    # and a snapshot taken for an existing policy is checked against its scale
    p, _ = venue(tmp_path, "binanceusdm", FIX / "binanceusdm", symbols=["DOGEUSDT"])
    data = recording(tmp_path, "binanceusdm")
    edit(data / "mark_prices.json", lambda doc: doc["DOGE/USDT:USDT"]["info"].update(
        markPrice="0.154320001"))
    with pytest.raises(PrecisionError, match="9 decimals, the policy allows 8"):
        imp.import_market({"exchange": "binanceusdm", "data": data}, p,
                          out=tmp_path / "m2.json")
    assert not (tmp_path / "m2.json").exists()


def test_a_policy_that_could_wrap_is_refused_before_writing(tmp_path):
    res = imp.import_venue({"exchange": "binanceusdm", "data": FIX / "binanceusdm"},
                           symbols=["BTCUSDT"])
    imp.check_provable(res.policy, res.market)  # the imported one builds
    wide = res.policy.model_copy(update={"bits": res.policy.bits.model_copy(
        update={"size": 120, "price": 120, "amount": 120})})
    with pytest.raises(PolicyError, match="would not be provable"):
        imp.check_provable(wide)


def test_unsupported_exchange_is_an_input_error():
    with pytest.raises(InputError, match="unsupported exchange 'kraken'"):
        imp.open_data("kraken", data=FIX / "binanceusdm")
