"""Loading and validating policies, snapshots and accounts: every invalid input gives a one-line
error of the right class naming the field, and its valid neighbour is accepted."""

import copy
import json
from decimal import Decimal
from importlib import resources

import pytest

from zkmargin.errors import (
    FormatError,
    InputError,
    MissingPriceError,
    PolicyError,
    PrecisionError,
    UnknownSymbolError,
    ZkMarginError,
)
from zkmargin.rules.models import (
    Account,
    Policy,
    dump_document,
    load_account,
    load_market,
    load_policy,
    parse_account,
    parse_market,
    validate_account,
    validate_market,
    write_document,
)


def brackets(*rows):
    out, prev = [], "0"
    for cap, rate in rows:
        out.append({"floor": prev, "cap": cap, "rate": rate})
        prev = cap
    return {"brackets": out}


def policy_doc(mode="cross"):
    return {
        "format": "zkmargin.policy/1",
        "venue": "test",
        "quote": "USDT",
        "decimals": {"size": 3, "price": 2, "rate": 4, "amount": 8},
        "requirement": "maintenance",
        "mode": mode,
        "buffer": "0.1",
        "collateral": [
            {"asset": "USDT", "haircut": "0"},
            {"asset": "BTC", "haircut": "0.05"},
            {"asset": "ETH", "tiers": [{"up_to": "100000", "haircut": "0.05"},
                                       {"up_to": "1000000", "haircut": "0.1"},
                                       {"up_to": None, "haircut": "0.2"}]},
        ],
        "instruments": [
            {"symbol": "BTCUSDT", "kind": "perpetual",
             "maintenance": brackets(("50000", "0.004"), ("250000", "0.005"),
                                     ("1000000", "0.01"), (None, "0.025")),
             "initial": {"rate": "0.02"}},
            {"symbol": "ETHUSDT", "kind": "future", "expiry": "2030-03-28T08:00:00Z",
             "maintenance": {"rate": "0.01", "per_size": "0.0001"},
             "initial": {"rate": "0.02"}},
        ],
    }


def portfolio_doc():
    d = policy_doc("portfolio")
    for ins in d["instruments"]:
        del ins["maintenance"], ins["initial"]
    d["instruments"].append({"symbol": "BTC-C", "kind": "option", "underlying": "BTCUSDT",
                             "strike": "70000", "expiry": "2030-06-27T08:00:00Z",
                             "right": "call"})
    d["scenarios"] = {"factor": "1", "names": ["up", "down"],
                      "pnl": {"BTCUSDT": ["100", "-100"], "ETHUSDT": ["10", "-10"],
                              "BTC-C": ["60.5", "-30.25"]}}
    return d


def market_doc():
    return {"format": "zkmargin.market/1", "as_of": "2030-01-01T00:00:00Z",
            "prices": {"BTCUSDT": "60000", "ETHUSDT": "3000", "BTC": "60010", "ETH": "3001",
                       "BTC-C": "1500.5"}}


def account_doc():
    return {"format": "zkmargin.account/1",
            "balances": {"USDT": "10000", "BTC": "0.5"},
            "positions": [{"symbol": "BTCUSDT", "size": "0.5", "entry_price": "58000"},
                          {"symbol": "ETHUSDT", "size": "-2", "entry_price": "3100"}]}


def iso_account_doc():
    d = account_doc()
    d["isolated_margin"] = {"BTCUSDT": "1500", "ETHUSDT": "700"}
    return d


def one_line(err: ZkMarginError, *fields):
    text = str(err)
    assert "\n" not in text
    for f in fields:
        assert f in text, (f, text)
    return text


# --- the documents themselves ---------------------------------------------------------------------

def test_valid_documents_load_and_normalize():
    p = load_policy(policy_doc())
    amounts = [b.amount for b in p.instruments[0].maintenance.brackets]
    assert amounts == [0, 50, 1300, 16300]
    assert p.bits.size == 64 and p.bits.price == 48 and p.bits.amount == 64
    assert p.instrument("ETHUSDT").maintenance.kind == "linear"
    assert p.instrument("BTCUSDT").maintenance.kind == "brackets"
    assert p.instrument("ETHUSDT").initial.kind == "flat"
    m = load_market(market_doc(), p)
    assert m.prices["BTCUSDT"] == 60000
    a = load_account(account_doc(), p)
    assert a.positions[1].size == Decimal(-2)
    pp = load_policy(portfolio_doc())
    assert pp.scenarios.initial_factor == pp.scenarios.factor == 1
    assert pp.factor == 1


def test_shipped_examples_load():
    data = resources.files("zkmargin.data")
    for mode in ("cross", "isolated", "portfolio"):
        p = load_policy(str(data / f"example_policy_{mode}.json"))
        assert p.mode == mode
        load_market(str(data / f"example_market_{mode}.json"), p)
        load_account(str(data / f"example_account_{mode}.json"), p)


def test_files_name_the_source(tmp_path):
    f = tmp_path / "policy.json"
    d = policy_doc()
    d["buffer"] = "-1"
    f.write_text(json.dumps(d))
    with pytest.raises(PolicyError) as e:
        load_policy(f)
    assert str(e.value).startswith(f"{f}: field 'buffer'")
    f.write_text("{ nope")
    with pytest.raises(FormatError, match="not valid JSON"):
        load_policy(f)
    f.write_text("[1, 2]")
    with pytest.raises(FormatError, match="not a JSON object"):
        load_policy(f)
    f.write_text(json.dumps(policy_doc()))
    assert load_policy(f).venue == "test"


def test_json_numbers_and_strings_both_accepted(tmp_path):
    text = json.dumps(policy_doc()).replace('"0.004"', "0.004").replace('"50000"', "50000")
    f = tmp_path / "p.json"
    f.write_text(text)
    assert load_policy(f).instruments[0].maintenance.brackets[0].rate == Decimal("0.004")


def test_format_tags():
    for loader, doc, tag in ((load_policy, policy_doc(), "zkmargin.policy/1"),
                             (parse_market, market_doc(), "zkmargin.market/1"),
                             (parse_account, account_doc(), "zkmargin.account/1")):
        bad = copy.deepcopy(doc)
        bad["format"] = "zkmargin.other/9"
        with pytest.raises(FormatError) as e:
            loader(bad)
        one_line(e.value, "format", tag)
        del bad["format"]
        with pytest.raises(FormatError, match="missing format tag"):
            loader(bad)
        loader(doc)  # neighbour


def test_market_given_as_policy_says_so():
    with pytest.raises(FormatError, match="expected format 'zkmargin.policy/1', got "
                                          "'zkmargin.market/1'"):
        load_policy(market_doc())


def test_pydantic_errors_never_escape():
    d = policy_doc()
    d["collateral"] = {"asset": "USDT"}
    with pytest.raises(FormatError) as e:
        load_policy(d)
    one_line(e.value, "collateral")
    d = policy_doc()
    d["instruments"][0]["kind"] = "swap"
    with pytest.raises(FormatError) as e:
        load_policy(d)
    one_line(e.value, "instruments[0].kind", "'perpetual', 'future' or 'option'")
    with pytest.raises(FormatError):
        load_policy(42)


# --- policy checks: (mutation -> error) and its valid neighbour -----------------------------------

def _set(path, value):
    def f(d):
        obj = d
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value
    return f


def _del(path):
    def f(d):
        obj = d
        for k in path[:-1]:
            obj = obj[k]
        del obj[path[-1]]
    return f


MB = ["instruments", 0, "maintenance", "brackets"]

POLICY_CASES = [
    # name, bad mutation, error class, field, valid neighbour mutation
    ("missing field", _del(["quote"]), FormatError, "quote", _set(["quote"], "USDC")),
    ("unknown field", _set(["colour"], "red"), FormatError, "colour", _set(["notes"], "red")),
    ("bad mode", _set(["mode"], "crossed"), FormatError, "mode", _set(["mode"], "isolated")),
    ("decimals range", _set(["decimals", "amount"], 19), PolicyError, "decimals.amount",
     _set(["decimals", "amount"], 18)),
    ("decimals type", _set(["decimals", "size"], "3"), FormatError, "decimals.size",
     _set(["decimals", "size"], 3)),
    ("bits range", _set(["bits"], {"size": 200}), PolicyError, "bits.size",
     _set(["bits"], {"size": 90})),  # 120 is refused: its circuit would wrap (issue 15)
    ("negative buffer", _set(["buffer"], "-0.1"), PolicyError, "buffer", _set(["buffer"], "0")),
    ("buffer precision", _set(["buffer"], "0.00001"), PrecisionError, "buffer",
     _set(["buffer"], "0.0001")),
    ("gap", _set(MB + [1, "floor"], "60000"), PolicyError, "brackets[1].floor",
     _set(MB + [0, "cap"], "50000")),
    ("overlap", _set(MB + [1, "floor"], "40000"), PolicyError, "brackets[1].floor",
     _set(MB + [1, "floor"], "50000")),
    ("first floor", _set(MB + [0, "floor"], "1"), PolicyError, "brackets[0].floor",
     _set(MB + [0, "floor"], "0")),
    ("cap below floor", _set(MB + [0, "cap"], "0"), PolicyError, "brackets[0].cap",
     _set(MB + [0, "cap"], "50000")),
    ("null cap not last", _set(MB + [0, "cap"], None), PolicyError, "brackets[0].cap",
     _set(MB + [3, "cap"], None)),
    ("rates decrease", _set(MB + [2, "rate"], "0.0049"), PolicyError, "brackets[2].rate",
     _set(MB + [2, "rate"], "0.005")),
    ("amount off recursion", _set(MB + [2, "amount"], "1200"), PolicyError, "brackets[2].amount",
     _set(MB + [2, "amount"], "1300")),
    ("negative amount", _set(MB + [0, "amount"], "-1"), PolicyError, "brackets[0].amount",
     _set(MB + [0, "amount"], "0")),
    ("rate precision", _set(MB + [1, "rate"], "0.00505"), PrecisionError, "brackets[1].rate",
     _set(MB + [1, "rate"], "0.0051")),
    ("empty brackets", _set(["instruments", 0, "maintenance"], {"brackets": []}), PolicyError,
     "instruments[0].maintenance", _set(["instruments", 0, "maintenance"], {"rate": "0.01"})),
    ("mixed rule", _set(["instruments", 0, "maintenance", "rate"], "0.01"), FormatError,
     "instruments[0].maintenance", lambda d: None),
    ("missing rule", _del(["instruments", 0, "initial"]), PolicyError, "instruments[0].initial",
     lambda d: None),
    ("negative rate", _set(["instruments", 0, "initial"], {"rate": "-0.01"}), PolicyError,
     "instruments[0].initial.rate", _set(["instruments", 0, "initial"], {"rate": "0"})),
    ("duplicate symbol", _set(["instruments", 1, "symbol"], "BTCUSDT"), PolicyError,
     "instruments[1].symbol", _set(["instruments", 1, "symbol"], "ETHUSDT2")),
    ("duplicate asset", _set(["collateral", 1, "asset"], "USDT"), PolicyError,
     "collateral[1].asset", _set(["collateral", 1, "asset"], "WBTC")),
    ("symbol is asset", _set(["instruments", 1, "symbol"], "ETH"), PolicyError,
     "instruments[1].symbol", _set(["instruments", 1, "symbol"], "ETH-PERP")),
    ("haircut above 1", _set(["collateral", 1, "haircut"], "1.0001"), PolicyError,
     "collateral[1].haircut", _set(["collateral", 1, "haircut"], "1")),
    ("haircut below 0", _set(["collateral", 1, "haircut"], "-0.01"), PolicyError,
     "collateral[1].haircut", _set(["collateral", 1, "haircut"], "0")),
    ("haircut and tiers", _set(["collateral", 2, "haircut"], "0.1"), FormatError, "collateral[2]",
     lambda d: None),
    ("tier haircuts decrease", _set(["collateral", 2, "tiers", 1, "haircut"], "0.04"),
     PolicyError, "collateral[2].tiers[1].haircut",
     _set(["collateral", 2, "tiers", 1, "haircut"], "0.05")),
    ("tier up_to not increasing", _set(["collateral", 2, "tiers", 1, "up_to"], "100000"),
     PolicyError, "collateral[2].tiers[1].up_to",
     _set(["collateral", 2, "tiers", 1, "up_to"], "100000.01")),
    ("last tier bounded", _set(["collateral", 2, "tiers", 2, "up_to"], "5000000"), PolicyError,
     "collateral[2].tiers[2].up_to", _set(["collateral", 2, "tiers", 2, "up_to"], None)),
    ("tier haircut above 1", _set(["collateral", 2, "tiers", 2, "haircut"], "1.5"), PolicyError,
     "collateral[2].tiers[2].haircut", _set(["collateral", 2, "tiers", 2, "haircut"], "1")),
    ("option in cross", lambda d: d["instruments"].append(
        {"symbol": "C", "kind": "option", "underlying": "BTCUSDT", "strike": "1",
         "expiry": "2030-01-01T00:00:00Z", "right": "call",
         "maintenance": {"rate": "0.1"}, "initial": {"rate": "0.1"}}),
     PolicyError, "instruments[2].kind", lambda d: d["instruments"].append(
        {"symbol": "F", "kind": "future", "expiry": "2030-01-01T00:00:00Z",
         "maintenance": {"rate": "0.1"}, "initial": {"rate": "0.1"}})),
    ("bad expiry", _set(["instruments", 1, "expiry"], "next friday"), PolicyError,
     "instruments[1].expiry", _set(["instruments", 1, "expiry"], "2030-03-28T09:00:00+01:00")),
    ("perpetual expiry", _set(["instruments", 0, "expiry"], "2030-03-28T08:00:00Z"), PolicyError,
     "instruments[0].expiry", lambda d: None),
    ("strike on future", _set(["instruments", 1, "strike"], "100"), PolicyError,
     "instruments[1].strike", lambda d: None),
    ("scenarios outside portfolio", _set(["scenarios"], {"factor": "1", "names": ["a"],
                                                         "pnl": {}}),
     PolicyError, "scenarios", lambda d: None),
    ("rounding decimals", _set(["rounding"], {"mode": "up", "decimals": 9}), PolicyError,
     "rounding.decimals", _set(["rounding"], {"mode": "up", "decimals": 8})),
    ("rounding mode", _set(["rounding"], {"mode": "ceil", "decimals": 2}), FormatError,
     "rounding.mode", _set(["rounding"], {"mode": "half_even", "decimals": 2})),
]


@pytest.mark.parametrize("name,bad,cls,field,good", POLICY_CASES, ids=[c[0] for c in POLICY_CASES])
def test_policy_checks(name, bad, cls, field, good):
    d = policy_doc()
    bad(d)
    with pytest.raises(cls) as e:
        load_policy(d, source="venue.json")
    text = one_line(e.value, "venue.json", field)
    assert type(e.value) is cls, text
    ok = policy_doc()
    good(ok)
    load_policy(ok, source="venue.json")


def test_recursion_error_message_is_explicit():
    d = policy_doc()
    d["instruments"][0]["maintenance"]["brackets"][2]["amount"] = "1299"
    with pytest.raises(PolicyError) as e:
        load_policy(d)
    assert "differs from the recursion value 1300" in str(e.value)
    assert "jump at notional 250000" in str(e.value)


def test_tier_error_says_concave():
    d = policy_doc()
    d["collateral"][2]["tiers"][2]["haircut"] = "0.09"
    with pytest.raises(PolicyError, match="concave"):
        load_policy(d)


def test_equal_bracket_rates_are_allowed():
    d = policy_doc()
    d["instruments"][0]["maintenance"]["brackets"][1]["rate"] = "0.004"
    p = load_policy(d)
    assert p.instruments[0].maintenance.brackets[1].amount == 0


def test_recursion_amount_must_fit_the_amount_scale():
    d = policy_doc()
    d["decimals"]["amount"] = 0
    d["instruments"][0]["maintenance"]["brackets"][1]["floor"] = "50001"
    d["instruments"][0]["maintenance"]["brackets"][0]["cap"] = "50001"
    with pytest.raises(PolicyError, match="recursion amount 50.001 needs 3 decimals"):
        load_policy(d)


PORTFOLIO_CASES = [
    ("missing scenarios", _del(["scenarios"]), PolicyError, "scenarios", lambda d: None),
    ("short row", _set(["scenarios", "pnl", "ETHUSDT"], ["1"]), PolicyError,
     "scenarios.pnl.ETHUSDT", _set(["scenarios", "pnl", "ETHUSDT"], ["1", "2"])),
    ("missing row", _del(["scenarios", "pnl", "BTC-C"]), PolicyError, "scenarios.pnl.BTC-C",
     lambda d: None),
    ("unknown row", _set(["scenarios", "pnl", "XRPUSDT"], ["1", "2"]), PolicyError,
     "scenarios.pnl.XRPUSDT", lambda d: None),
    ("pnl precision", _set(["scenarios", "pnl", "BTC-C"], ["60.501", "1"]), PrecisionError,
     "scenarios.pnl.BTC-C[0]", _set(["scenarios", "pnl", "BTC-C"], ["60.51", "1"])),
    ("duplicate name", _set(["scenarios", "names"], ["up", "up"]), PolicyError,
     "scenarios.names[1]", _set(["scenarios", "names"], ["up", "up2"])),
    ("negative factor", _set(["scenarios", "factor"], "-1"), PolicyError, "scenarios.factor",
     _set(["scenarios", "factor"], "0.5")),
    ("option without strike", _del(["instruments", 2, "strike"]), PolicyError,
     "instruments[2].strike", _set(["instruments", 2, "strike"], "65000")),
    ("rule in portfolio", _set(["instruments", 0, "maintenance"], {"rate": "0.1"}), PolicyError,
     "instruments[0].maintenance", lambda d: None),
]


@pytest.mark.parametrize("name,bad,cls,field,good", PORTFOLIO_CASES,
                         ids=[c[0] for c in PORTFOLIO_CASES])
def test_portfolio_policy_checks(name, bad, cls, field, good):
    d = portfolio_doc()
    bad(d)
    with pytest.raises(cls) as e:
        load_policy(d)
    one_line(e.value, field)
    assert type(e.value) is cls
    ok = portfolio_doc()
    good(ok)
    load_policy(ok)


def test_portfolio_without_table_allowed_only_on_request():
    d = portfolio_doc()
    del d["scenarios"]
    assert load_policy(d, allow_missing_scenarios=True).scenarios is None


# --- market checks --------------------------------------------------------------------------------

MARKET_CASES = [
    ("missing mark", _del(["prices", "ETHUSDT"]), MissingPriceError, "prices.ETHUSDT",
     lambda d: None),
    ("missing collateral price", _del(["prices", "ETH"]), MissingPriceError, "prices.ETH",
     _del(["prices", "BTC-C"])),
    ("negative price", _set(["prices", "BTC"], "-1"), InputError, "prices.BTC",
     _set(["prices", "BTC"], "0")),
    ("zero perp mark", _set(["prices", "BTCUSDT"], "0"), InputError, "prices.BTCUSDT",
     _set(["prices", "BTCUSDT"], "0.01")),
    ("price precision", _set(["prices", "BTCUSDT"], "60000.001"), PrecisionError,
     "prices.BTCUSDT", _set(["prices", "BTCUSDT"], "60000.01")),
    ("quote price", _set(["prices", "USDT"], "0.99"), InputError, "prices.USDT",
     _set(["prices", "USDT"], "1.00")),
    ("bad as_of", _set(["as_of"], "yesterday"), FormatError, "as_of",
     _set(["as_of"], "2030-01-01T01:00:00+01:00")),
    ("naive as_of", _set(["as_of"], "2030-01-01T00:00:00"), FormatError, "as_of",
     _set(["as_of"], "2030-01-01T00:00:00Z")),
    ("float price", _set(["prices", "BTC"], 60010.5), FormatError, "prices.BTC",
     _set(["prices", "BTC"], Decimal("60010.5"))),
]


@pytest.mark.parametrize("name,bad,cls,field,good", MARKET_CASES,
                         ids=[c[0] for c in MARKET_CASES])
def test_market_checks(name, bad, cls, field, good):
    p = load_policy(policy_doc())
    d = market_doc()
    bad(d)
    with pytest.raises(cls) as e:
        load_market(d, p, source="snap.json")
    one_line(e.value, "snap.json", field)
    assert type(e.value) is cls
    ok = market_doc()
    good(ok)
    load_market(ok, p, source="snap.json")


def test_market_timestamp_is_normalized_to_utc():
    d = market_doc()
    d["as_of"] = "2030-01-01T01:00:00+01:00"
    assert load_market(d).as_of == "2030-01-01T00:00:00Z"


def test_quote_price_defaults_to_one():
    p = load_policy(policy_doc())
    d = market_doc()
    assert "USDT" not in d["prices"]
    load_market(d, p)


# --- account checks -------------------------------------------------------------------------------

ACCOUNT_CASES = [
    ("unknown asset", _set(["balances", "DOGE"], "5"), UnknownSymbolError, "balances.DOGE",
     _set(["balances", "ETH"], "5")),
    ("negative balance", _set(["balances", "BTC"], "-0.1"), InputError, "balances.BTC",
     _set(["balances", "BTC"], "0")),
    ("balance precision", _set(["balances", "BTC"], "0.123456789"), PrecisionError,
     "balances.BTC", _set(["balances", "BTC"], "0.12345678")),
    ("unknown symbol", _set(["positions", 0, "symbol"], "DOGEUSDT"), UnknownSymbolError,
     "positions[0].symbol", lambda d: None),
    ("duplicate position", lambda d: d["positions"].append(
        {"symbol": "BTCUSDT", "size": "1", "entry_price": "1"}), InputError,
     "positions[2].symbol", lambda d: None),
    ("size precision", _set(["positions", 1, "size"], "-2.0001"), PrecisionError,
     "positions[1].size", _set(["positions", 1, "size"], "-2.001")),
    ("entry precision", _set(["positions", 1, "entry_price"], "3100.001"), PrecisionError,
     "positions[1].entry_price", _set(["positions", 1, "entry_price"], "3100.01")),
    ("negative entry", _set(["positions", 1, "entry_price"], "-1"), InputError,
     "positions[1].entry_price", _set(["positions", 1, "entry_price"], "0")),
    ("size too wide", _set(["positions", 0, "size"], str(2 ** 64 // 1000 + 1)), InputError,
     "positions[0].size", _set(["positions", 0, "size"], str((2 ** 64 - 1) / Decimal(1000)))),
    ("short too wide", _set(["positions", 0, "size"], "-" + str(2 ** 64 // 1000 + 1)), InputError,
     "positions[0].size", _set(["positions", 0, "size"], "-" + str((2 ** 64 - 1) / Decimal(1000)))),
    ("entry too wide", _set(["positions", 0, "entry_price"], str(2 ** 48 // 100 + 1)), InputError,
     "positions[0].entry_price", _set(["positions", 0, "entry_price"],
                                      str((2 ** 48 - 1) / Decimal(100)))),
    ("balance too wide", _set(["balances", "USDT"], str(2 ** 64 // 10 ** 8 + 1)), InputError,
     "balances.USDT", _set(["balances", "USDT"], str((2 ** 64 - 1) / Decimal(10 ** 8)))),
    ("isolated margin in cross", _set(["isolated_margin"], {"BTCUSDT": "1"}), InputError,
     "isolated_margin", _set(["isolated_margin"], {})),
    ("unknown field", _set(["trades"], []), FormatError, "trades", lambda d: None),
    ("missing size", _del(["positions", 0, "size"]), FormatError, "positions[0].size",
     lambda d: None),
]


@pytest.mark.parametrize("name,bad,cls,field,good", ACCOUNT_CASES,
                         ids=[c[0] for c in ACCOUNT_CASES])
def test_account_checks(name, bad, cls, field, good):
    p = load_policy(policy_doc())
    d = account_doc()
    bad(d)
    with pytest.raises(cls) as e:
        load_account(d, p, source="acct.json")
    text = one_line(e.value, "acct.json", field)
    assert type(e.value) is cls, text
    ok = account_doc()
    good(ok)
    load_account(ok, p, source="acct.json")


ISO_CASES = [
    ("missing isolated margin", _del(["isolated_margin", "ETHUSDT"]), InputError,
     "isolated_margin.ETHUSDT", _set(["positions", 1, "size"], "0")),
    ("margin without position", _set(["isolated_margin", "ETHUSDT2"], "1"), UnknownSymbolError,
     "isolated_margin.ETHUSDT2", lambda d: None),
    ("negative isolated margin", _set(["isolated_margin", "BTCUSDT"], "-1"), InputError,
     "isolated_margin.BTCUSDT", _set(["isolated_margin", "BTCUSDT"], "0")),
    ("isolated precision", _set(["isolated_margin", "BTCUSDT"], "1.000000001"), PrecisionError,
     "isolated_margin.BTCUSDT", _set(["isolated_margin", "BTCUSDT"], "1.00000001")),
]


@pytest.mark.parametrize("name,bad,cls,field,good", ISO_CASES, ids=[c[0] for c in ISO_CASES])
def test_isolated_account_checks(name, bad, cls, field, good):
    p = load_policy(policy_doc("isolated"))
    d = iso_account_doc()
    bad(d)
    with pytest.raises(cls) as e:
        load_account(d, p)
    one_line(e.value, field)
    assert type(e.value) is cls
    ok = iso_account_doc()
    good(ok)
    load_account(ok, p)


def test_isolated_margin_for_listed_symbol_without_position():
    d = policy_doc("isolated")
    d["instruments"].append({"symbol": "SOLUSDT", "kind": "perpetual",
                             "maintenance": {"rate": "0.01"}, "initial": {"rate": "0.02"}})
    p = load_policy(d)
    a = iso_account_doc()
    a["isolated_margin"]["SOLUSDT"] = "10"
    with pytest.raises(InputError, match="no position") as e:
        load_account(a, p)
    one_line(e.value, "isolated_margin.SOLUSDT")


def test_account_errors_never_print_private_values():
    p = load_policy(policy_doc())
    d = account_doc()
    d["balances"]["BTC"] = "-0.4242"
    with pytest.raises(InputError) as e:
        load_account(d, p)
    assert "4242" not in str(e.value)
    d = account_doc()
    d["positions"][0]["size"] = str(2 ** 70)
    with pytest.raises(InputError) as e:
        load_account(d, p)
    assert str(2 ** 70) not in str(e.value)


def test_parse_account_without_policy_then_validate():
    a = parse_account(account_doc())
    assert isinstance(a, Account)
    p = load_policy(policy_doc())
    assert validate_account(a, p) is a
    bad = account_doc()
    bad["positions"][0]["size"] = "0.0001"
    a2 = parse_account(bad)  # no scale known yet: accepted
    with pytest.raises(PrecisionError):
        validate_account(a2, p)
    pm = parse_market(market_doc())
    assert validate_market(pm, p) is pm


def test_dump_and_write_round_trip(tmp_path):
    p = load_policy(policy_doc())
    out = tmp_path / "p.json"
    write_document(p, out)
    again = load_policy(out)
    assert dump_document(again) == dump_document(p)
    assert isinstance(again, Policy)
    assert not [x for x in tmp_path.iterdir() if x.name.startswith(".tmp-")]
