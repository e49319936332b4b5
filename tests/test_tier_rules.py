"""The requirement rules venues use (issue 15, item 6), against the engine and the circuit:
whole-position tiers by notional (Bybit's initial margin) and by contracts (OKX), Binance's
per-account bracket multiplier, the fee to close, Hyperliquid's leverage. Each at its boundary and
one unit past it: the circuit's witness satisfies the constraints exactly when the engine says
"meets", and a cheating bracket choice is refused. (dYdX's open-interest rule and the venues'
figures for Drift and Binance Portfolio Margin are in tests/test_unified.py.)"""

from __future__ import annotations

import copy
from decimal import Decimal as D

import pytest

from zkmargin import check
from zkmargin.circuits.margin import build, pieces, plan_margin, witness_values
from zkmargin.errors import PolicyError, UnsatisfiedError
from zkmargin.rules.engine import position_requirement
from zkmargin.rules.models import load_account, load_market, load_policy

AS_OF = "2024-06-03T08:00:00Z"


def policy(maintenance: dict, initial: dict | None = None, **extra) -> dict:
    p = {
        "format": "zkmargin.policy/1", "venue": "tiers", "quote": "USDT",
        "decimals": {"size": 0, "price": 4, "rate": 4, "amount": 8},
        "bits": {"size": 24, "price": 32, "amount": 48},
        "requirement": "maintenance", "mode": "cross",
        "collateral": [{"asset": "USDT", "haircut": "0"}],
        "instruments": [{"symbol": "X", "kind": "perpetual", "maintenance": maintenance,
                         "initial": initial or {"rate": "0.1"}}],
    }
    p.update(extra)
    return p


def market(mark: str) -> dict:
    return {"format": "zkmargin.market/1", "as_of": AS_OF, "prices": {"X": mark}}


def account(size: int, balance: str) -> dict:
    return {"format": "zkmargin.account/1", "balances": {"USDT": balance},
            "positions": [{"symbol": "X", "size": str(size), "entry_price": "0.05"}]}


def witness_ok(pol: dict, mkt: dict, acct: dict, threshold: D) -> bool:
    p = load_policy(pol)
    m = load_market(mkt, p)
    a = load_account(acct, p)
    plan = plan_margin(p, m, threshold)
    cs = build(plan, witness_values(plan, a))
    try:
        cs.check_witness()
        return True
    except UnsatisfiedError:
        return False


def assert_agrees_at_the_edge(pol: dict, mkt: dict, acct: dict) -> D:
    """The engine's requirement, with the circuit agreeing at the tightest threshold and one unit
    past it."""
    rep = check(acct, mkt, pol)
    assert rep.meets
    unit = D(1).scaleb(-pol["decimals"]["amount"])
    assert witness_ok(pol, mkt, acct, rep.excess)
    assert not witness_ok(pol, mkt, acct, rep.excess + unit)
    return rep.requirement


# OKX, "OKX position tiers to be adjusted" (announcement of Apr. 9 adjustments), CHZUSDT perpetual
# swap: tier 1 0–5,000 contracts MMR 1.00%, tier 2 5,001–7,500 1.50%, tier 3 7,501–15,000 2.00%;
# the maintenance margin is the position value times its tier's rate.
OKX_CHZ = {"brackets": [{"floor": "0", "cap": "5000", "rate": "0.01"},
                        {"floor": "5000", "cap": "7500", "rate": "0.015"},
                        {"floor": "7500", "cap": "15000", "rate": "0.02"}],
           "whole_position": True, "basis": "size"}


@pytest.mark.parametrize("contracts,rate", [(5000, "0.01"), (5001, "0.015"), (7500, "0.015"),
                                            (7501, "0.02")])
def test_okx_tiers_by_contracts_charge_the_whole_position(contracts, rate):
    mark = "0.0952"
    req = assert_agrees_at_the_edge(policy(OKX_CHZ), market(mark), account(contracts, "100"))
    assert req == contracts * D(mark) * D(rate)


def test_a_size_tier_past_the_last_contract_cap_is_refused_by_both():
    pol, mkt = policy(OKX_CHZ), market("0.0952")
    with pytest.raises(Exception, match="above the last bracket"):
        check(account(15001, "100"), mkt, pol)
    p = load_policy(pol)
    plan = plan_margin(p, load_market(mkt, p), D(0))
    cs = build(plan, witness_values(plan, load_account(account(15001, "100"), p)))
    with pytest.raises(UnsatisfiedError):
        cs.check_witness()


BYBIT_LIKE = {"brackets": [{"floor": "0", "cap": "2000000", "rate": "0.01"},
                           {"floor": "2000000", "cap": None, "rate": "0.015"}],
              "whole_position": True}


@pytest.mark.parametrize("size,rate", [(40, "0.01"), (41, "0.015")])
def test_whole_position_notional_tiers_jump_at_the_cap(size, rate):
    """The cap 2,000,000 at mark 50,000 is 40 contracts: 40 pays 1% of all, 41 pays 1.5% of all
    (no deduction: the loader no longer insists on the cumulative recursion for such a table)."""
    req = assert_agrees_at_the_edge(policy(BYBIT_LIKE), market("50000"), account(size, "100000"))
    assert req == size * 50000 * D(rate)


def test_a_cheating_bracket_choice_is_refused_on_a_whole_position_table(monkeypatch):
    """With no continuity to fall back on, the pinned bracket is all that keeps 41 contracts from
    paying the lower rate: a prover choosing the first bracket cannot satisfy the circuit."""
    monkeypatch.setattr(pieces, "_choose_piece", lambda x, intervals: 0)
    assert not witness_ok(policy(BYBIT_LIKE), market("50000"), account(41, "100000"), D(0))


def test_whole_position_tables_refuse_a_maintenance_amount():
    bad = copy.deepcopy(BYBIT_LIKE)
    bad["brackets"][1]["amount"] = "10000"
    with pytest.raises(PolicyError, match="no maintenance amount"):
        load_policy(policy(bad))
    with pytest.raises(PolicyError, match="need 'whole_position'"):
        load_policy(policy({**OKX_CHZ, "whole_position": None}))


# Binance USDⓈ-M BTCUSDT brackets (the shipped example's first three), and notionalCoef 1.5
# ("notionalCoef: user bracket's multiple of the default bracket", GET /fapi/v1/leverageBracket).
BINANCE = {"brackets": [{"floor": "0", "cap": "50000", "rate": "0.004"},
                        {"floor": "50000", "cap": "250000", "rate": "0.005"},
                        {"floor": "250000", "cap": None, "rate": "0.01"}]}


def test_the_bracket_multiplier_scales_the_ends_and_the_amounts():
    rule = load_policy(policy({**BINANCE, "notional_coef": "1.5"})).instrument("X").rule("maintenance")
    base = load_policy(policy(BINANCE)).instrument("X").rule("maintenance")
    for n in (D(60000), D(75000), D(75003), D(374997), D(375003)):
        scaled = position_requirement(rule, D(1), n)
        # the scaled table is the default one at N / 1.5, times 1.5
        assert scaled == position_requirement(base, D(1), n / D("1.5")) * D("1.5")
    assert position_requirement(rule, 1, 75000) == 300  # 0.4% up to 75,000 (50,000 x 1.5)
    assert position_requirement(rule, 1, 80000) == D("400") - D("75")  # 0.5%, amount 75 (50 x 1.5)


@pytest.mark.parametrize("size", [3, 4])
def test_the_bracket_multiplier_and_fee_to_close_in_the_circuit(size):
    """25,000 a contract: 3 contracts (75,000) stay in the first scaled bracket, 4 move on; the
    fee to close adds 0.06% of the notional to each."""
    pol = policy({**BINANCE, "notional_coef": "1.5", "fee_to_close": "0.0006"})
    req = assert_agrees_at_the_edge(pol, market("25000"), account(size, "100000"))
    n = D(size * 25000)
    expected = (n * D("0.004") if size == 3 else n * D("0.005") - 75) + n * D("0.0006")
    assert req == expected


@pytest.mark.parametrize("size,mark", [(7, "1"), (1, "0.0001"), (10, "3.3333")])
def test_hyperliquid_leverage_rounds_the_initial_margin_up(size, mark):
    """IM = N / leverage (Hyperliquid: "initial margin = position size x mark price / leverage"),
    rounded up at ds+dp+dr decimals — the smallest value the circuit's ``im·3 ≥ N`` admits."""
    pol = policy({"rate": "0.01"}, {"leverage": "3"}, requirement="initial")
    req = assert_agrees_at_the_edge(pol, market(mark), account(size, "1000"))
    n = size * D(mark)
    assert req >= n / 3 and req - n / 3 < D(1).scaleb(-8)


# --- hypothesis: the venue rules against the engine ----------------------------------------------

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))

import margin_strategies as S  # noqa: E402


@pytest.mark.parametrize("mode", ["cross", "isolated"])
@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(data=st.data())
def test_witness_satisfies_iff_engine_meets_with_venue_rules(mode, data):
    """The property of tests/test_margin_proofs.py over rules that carry whole-position tiers,
    bracket multipliers, leverages and fees to close (S.margin_cases(..., venue_rules=True))."""
    case = data.draw(S.margin_cases(mode, venue_rules=True))
    report = S.engine_report(case)
    p, m, a, t = S.load(case)
    plan = plan_margin(p, m, t)
    cs = build(plan, witness_values(plan, a))
    try:
        cs.check_witness()
        ok = True
    except UnsatisfiedError:
        ok = False
    assert ok == bool(report is not None and report.meets)


def test_dynamic_margin_keeps_the_venue_rules_and_refuses_to_scale_a_leverage():
    """``dynamic-margin`` scales rates: a whole-position table stays whole, a fee to close and a
    bracket multiplier are kept; a leverage has no rate to scale (refused, not silently dropped)."""
    from zkmargin.rules.dynamic import scale_rule

    rule = load_policy(policy({**BINANCE, "notional_coef": "1.5", "fee_to_close": "0.0006"})).instrument("X").rule("maintenance")
    scaled = scale_rule(rule, D(2), 4)
    assert scaled.notional_coef == D("1.5") and scaled.fee_to_close == D("0.0006")
    assert [b.rate for b in scaled.brackets] == [D("0.008"), D("0.01"), D("0.02")]
    whole = scale_rule(load_policy(policy(OKX_CHZ)).instrument("X").rule("maintenance"), D(2), 4)
    assert whole.whole_position and whole.basis == "size"
    lev = load_policy(policy({"rate": "0.01"}, {"leverage": "3"})).instrument("X").rule("initial")
    with pytest.raises(PolicyError, match="no rate to scale"):
        scale_rule(lev, D(2), 4)
