"""Margin proofs against the clear-text oracle (DESIGN "What must always hold", 1 and 5).

* The circuit's witness satisfies the constraints exactly when ``check`` says the account meets
  the requirement — hypothesis, every mode and rule, many examples (no proof needed).
* ``prove`` → bundle JSON → ``verify`` passes exactly when ``check`` meets; below it ``prove``
  refuses with BelowRequirementError, and a forced proof (``_check_witness=False``) is rejected.
* Boundaries: excess exactly 0 passes, one unit at the amount scale below fails, in every mode;
  isolated positions on their own boundary; bracket caps and tier bounds hit exactly and one unit
  over; half-even ties of both parities; zero sizes, zero marks, maximum widths.
* Nothing private in a bundle, and two bundles for the same account differ.

Known library bugs are pinned by ``xfail(strict=True)`` tests at the end of the module.
"""

from __future__ import annotations

import copy
import json
import secrets
import sys
from decimal import Decimal, localcontext
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))

import margin_strategies as S  # noqa: E402

from zkmargin import check, prove, verify  # noqa: E402
from zkmargin.circuits.margin import build, plan_margin, witness_values  # noqa: E402
from zkmargin.errors import (  # noqa: E402
    BelowRequirementError,
    InputError,
    UnsatisfiedError,
    VerificationError,
)
from zkmargin.rules.decimals import EXACT, canonical, decimals_of  # noqa: E402
from zkmargin.rules.engine import bracket_for, notional  # noqa: E402
from zkmargin.rules.models import load_account  # noqa: E402

_HC = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
#: The cheap circuit-vs-oracle agreement (no proofs): many examples.
WITNESS = settings(max_examples=200, deadline=None, derandomize=True, database=None, suppress_health_check=_HC)
WITNESS_RULE = settings(max_examples=80, deadline=None, derandomize=True, database=None, suppress_health_check=_HC)
#: Real proofs (~0.2–1 s each).
PROOFS = settings(max_examples=15, deadline=None, derandomize=True, database=None, suppress_health_check=_HC)
PROOFS_RULE = settings(max_examples=5, deadline=None, derandomize=True, database=None, suppress_health_check=_HC)

MODE_RULES = [(m, r) for m in ("cross", "isolated") for r in S.RULES]


# --- helpers -------------------------------------------------------------------------------------


def witness_satisfied(case: dict, threshold=None) -> bool:
    """Build the prover's circuit for the case and report whether its witness satisfies it.

    Also checks that the circuit is the verifier's (same digest, same gate count) and that its
    shape does not depend on the account (the same digest for an empty account)."""
    p, m, a, t = S.load(case)
    if threshold is not None:
        t = Decimal(threshold)
    plan = plan_margin(p, m, t)
    cs = build(plan, witness_values(plan, a))
    vcs = build(plan_margin(p, m, t))
    assert cs.digest() == vcs.digest() and cs.n == vcs.n, "prover and verifier circuits differ"
    empty = load_account({"format": "zkmargin.account/1"}, p)
    ecs = build(plan, witness_values(plan, empty))
    assert ecs.digest() == cs.digest(), "the circuit's shape depends on the account"
    try:
        cs.check_witness()
        return True
    except UnsatisfiedError:
        return False


def engine_meets(case: dict, threshold=None):
    """True / False from the engine, or None when it refuses the account (a notional above the
    last bracket's cap: the venue allows no such position)."""
    rep = S.engine_report(case, threshold)
    return None if rep is None else rep.meets


def new_challenge() -> bytes:
    return secrets.token_bytes(32)


def assert_proves_and_verifies(case: dict, threshold=None):
    t = case["threshold"] if threshold is None else threshold
    ch = new_challenge()
    bundle = prove(case["account"], case["market"], case["policy"], t, ch)
    text = bundle.to_json()
    res = verify(text, case["market"], case["policy"], t, ch)
    assert res.valid and res.statement["threshold"] == canonical(Decimal(t))
    assert json.loads(text)["statement"]["challenge"] == ch.hex()
    return bundle


def assert_refused_and_forged_rejected(case: dict, threshold=None):
    """``prove`` refuses; a proof forced past the witness check does not verify."""
    t = case["threshold"] if threshold is None else threshold
    if engine_meets(case, t) is None:
        with pytest.raises(InputError, match="above the last bracket's cap"):
            prove(case["account"], case["market"], case["policy"], t)
    else:
        with pytest.raises(BelowRequirementError, match="does not meet the requirement"):
            prove(case["account"], case["market"], case["policy"], t)
    ch = new_challenge()
    forged = prove(case["account"], case["market"], case["policy"], t, ch, _check_witness=False)
    with pytest.raises(VerificationError) as info:
        verify(forged.to_json(), case["market"], case["policy"], t, ch)
    assert type(info.value) is VerificationError, f"expected a failed proof, got {info.value!r}"


def tight_threshold(case: dict) -> Decimal:
    """The threshold that puts the excess exactly on zero (the case must make it representable)."""
    rep = check(case["account"], case["market"], case["policy"], 0)
    da = case["policy"]["decimals"]["amount"]
    assert rep.excess >= 0 and decimals_of(rep.excess) <= da, "fixture: excess not on the amount grid"
    return rep.excess


# --- 1. circuit vs oracle: the witness satisfies the circuit iff the engine says it meets ------


@pytest.mark.parametrize("mode", S.MODES)
@WITNESS
@given(data=st.data())
def test_witness_satisfies_iff_engine_meets(mode, data):
    case = data.draw(S.margin_cases(mode))
    meets = engine_meets(case)
    assert witness_satisfied(case) == bool(meets), f"engine says {meets}"


@pytest.mark.parametrize("mode,rule", MODE_RULES)
@WITNESS_RULE
@given(data=st.data())
def test_witness_satisfies_iff_engine_meets_per_rule(mode, rule, data):
    case = data.draw(S.margin_cases(mode, rule))
    meets = engine_meets(case)
    assert witness_satisfied(case) == bool(meets), f"engine says {meets}"


@pytest.mark.parametrize("mode", S.MODES)
@WITNESS_RULE
@given(data=st.data())
def test_witness_satisfies_iff_engine_meets_with_pieces_everywhere(mode, data):
    """Every collateral asset tiered, every bracket table with two or more brackets."""
    case = data.draw(S.margin_cases(mode, pieces=True))
    meets = engine_meets(case)
    assert witness_satisfied(case) == bool(meets), f"engine says {meets}"


@pytest.mark.parametrize("mode", S.MODES)
@settings(max_examples=100, deadline=None, derandomize=True, database=None, suppress_health_check=_HC)
@given(data=st.data())
def test_tightest_threshold_passes_and_one_unit_more_fails(mode, data):
    """The largest threshold the engine accepts is accepted by the circuit; one unit at the
    amount scale more is refused by both (excess exactly 0 whenever it is on the amount grid)."""
    case = data.draw(S.margin_cases(mode, tight=False))
    rep = S.engine_report(case, 0)
    if rep is None or rep.excess < 0 or rep.failing_positions:
        return
    da = case["policy"]["decimals"]["amount"]
    t = S.to_grid(rep.excess, da)
    assert check(case["account"], case["market"], case["policy"], t).meets
    assert witness_satisfied(case, t)
    t1 = t + S.ulp(da)
    assert not check(case["account"], case["market"], case["policy"], t1).meets
    assert not witness_satisfied(case, t1)


@pytest.mark.parametrize("mode", S.MODES)
@settings(max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=_HC)
@given(data=st.data())
def test_cheating_piece_choice_is_caught(mode, data):
    """A prover that picks another bracket or tier piece than the one holding its |size| or
    balance (circuits.margin.pieces._choose_piece is the honest choice) never satisfies the circuit."""
    import zkmargin.circuits.margin.pieces as M

    case = data.draw(S.margin_cases(mode, pieces=True))
    p, m, a, t = S.load(case)
    plan = plan_margin(p, m, t)
    multi = any(len(ip.brackets) > 1 for ip in plan.instruments) or any(len(cp.tiers) > 1 for cp in plan.collateral)
    if not multi or not witness_satisfied(case):
        return
    honest = M._choose_piece
    top = data.draw(st.booleans())

    def cheat(x, intervals):
        k = honest(x, intervals)
        if top:
            return len(intervals) - 1 if k != len(intervals) - 1 else 0
        return (k + 1) % len(intervals)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(M, "_choose_piece", cheat)
        cs = build(plan, witness_values(plan, a))
        with pytest.raises(UnsatisfiedError):
            cs.check_witness()


# --- 1. proofs: verify passes iff the engine meets -------------------------------------------------


def _prove_or_refuse(case: dict):
    meets = engine_meets(case)
    if meets:
        assert_proves_and_verifies(case)
    else:
        assert_refused_and_forged_rejected(case)


@pytest.mark.parametrize("mode", S.MODES)
@PROOFS
@given(data=st.data())
def test_proof_verifies_iff_engine_meets(mode, data):
    case = data.draw(S.margin_cases(mode))
    _prove_or_refuse(case)


@pytest.mark.parametrize("mode,rule", MODE_RULES)
@PROOFS_RULE
@given(data=st.data())
def test_proof_verifies_iff_engine_meets_per_rule(mode, rule, data):
    case = data.draw(S.margin_cases(mode, rule))
    _prove_or_refuse(case)


def test_refusal_message_is_clear_and_private():
    case = S.base_case("cross", threshold="1000000")
    with pytest.raises(BelowRequirementError) as info:
        prove(case["account"], case["market"], case["policy"], case["threshold"])
    msg = str(info.value)
    assert "does not meet the requirement" in msg and "nothing was proved" in msg
    for private in ("2000", "240", "12.5", "41", "30"):
        assert private not in msg


# --- 2. boundaries: excess exactly zero passes, one unit below fails --------------------------------


@pytest.mark.parametrize("mode", S.MODES)
def test_excess_exactly_zero_proves_one_unit_below_does_not(mode):
    case = S.base_case(mode)
    t = tight_threshold(case)
    rep = check(case["account"], case["market"], case["policy"], t)
    assert rep.meets and rep.excess == 0
    assert_proves_and_verifies(case, t)
    below = t + S.ulp(case["policy"]["decimals"]["amount"])
    rep = check(case["account"], case["market"], case["policy"], below)
    assert not rep.meets and rep.excess == -S.ulp(case["policy"]["decimals"]["amount"])
    assert_refused_and_forged_rejected(case, below)


@pytest.mark.parametrize("mode", S.MODES)
def test_one_unit_less_collateral_fails_at_zero_excess(mode):
    """The same boundary reached from the equity side: one unit less quote balance."""
    case = S.base_case(mode)
    t = tight_threshold(case)
    poorer = copy.deepcopy(case)
    poorer["account"]["balances"]["USD"] = canonical(Decimal("2000") - S.ulp(4))
    assert witness_satisfied(case, t) and check(case["account"], case["market"], case["policy"], t).meets
    assert not check(poorer["account"], poorer["market"], poorer["policy"], t).meets
    assert not witness_satisfied(poorer, t)


def _single_rule_case(kind: str, mode: str, size: str) -> dict:
    """Base case holding one instrument (A brackets, B size-scaled, C flat)."""
    sym = {"brackets": "A", "linear": "B", "flat": "C"}[kind]
    case = S.base_case(mode)
    entry = case["market"]["prices"][sym] if size.startswith("-") else "10"
    case["account"]["positions"] = [{"symbol": sym, "size": size, "entry_price": entry}]
    if mode == "isolated":
        case["account"]["isolated_margin"] = {sym: "5000"}
    return case


@pytest.mark.parametrize("mode", ["cross", "isolated"])
@pytest.mark.parametrize("kind,size", [("brackets", "4"), ("brackets", "-4"), ("brackets", "20"), ("brackets", "20.1"),
                                       ("brackets", "-20.1"), ("linear", "-12.5"), ("linear", "1"), ("flat", "30")])
def test_zero_excess_boundary_per_rule(mode, kind, size):
    """Witness-level boundary for each rule alone; the bracket sizes put the notional exactly on a
    cap (4 × 250 = 1000, 20 × 250 = 5000) and one size unit above it."""
    case = _single_rule_case(kind, mode, size)
    t = tight_threshold(case)
    assert check(case["account"], case["market"], case["policy"], t).excess == 0
    assert witness_satisfied(case, t)
    t1 = t + S.ulp(4)
    assert not check(case["account"], case["market"], case["policy"], t1).meets
    assert not witness_satisfied(case, t1)


def test_isolated_position_on_its_own_boundary():
    """e_i = (1 + buffer) · R_i exactly passes; one unit less isolated margin fails even though
    the total excess is large; and a forced proof for it is rejected."""
    case = S.base_case("isolated", threshold="0")
    rep = check(case["account"], case["market"], case["policy"], 0)
    b = next(p for p in rep.positions if p.symbol == "B")
    with localcontext(EXACT):
        need = Decimal(case["policy"]["buffer"]) * b.requirement + b.requirement - b.upnl
    assert need == Decimal("3.496")  # 1.1 × 8.86 − 6.25
    exact = copy.deepcopy(case)
    exact["account"]["isolated_margin"]["B"] = canonical(need)
    rep = check(exact["account"], exact["market"], exact["policy"], 0)
    assert rep.meets and not rep.failing_positions
    assert witness_satisfied(exact)
    short = copy.deepcopy(case)
    short["account"]["isolated_margin"]["B"] = canonical(need - S.ulp(4))
    rep = check(short["account"], short["market"], short["policy"], 0)
    assert not rep.meets and rep.failing_positions == ["B"] and rep.excess > 1000
    assert not witness_satisfied(short)
    assert_refused_and_forged_rejected(short)


def test_isolated_position_failing_alone_while_total_passes():
    case = S.base_case("isolated", threshold="0")
    case["account"]["balances"]["USD"] = "100000"
    case["account"]["isolated_margin"]["B"] = "0"  # B: -12.5 @ 40.5 from 41, upnl +6.25 < 1.1 × 8.86
    rep = check(case["account"], case["market"], case["policy"], 0)
    assert not rep.meets and rep.failing_positions == ["B"] and rep.excess > 0
    assert not witness_satisfied(case)
    assert_refused_and_forged_rejected(case)


# --- brackets, tiers and rounding at their edges ---------------------------------------------------


def _edge_case(mode="cross", **over) -> dict:
    """One instrument X (mark 100, integers everywhere) and USD/BTC collateral: small numbers that
    make exact boundaries easy to place."""
    policy = {
        "format": "zkmargin.policy/1", "venue": "edge", "quote": S.QUOTE,
        "decimals": {"size": 0, "price": 0, "rate": 2, "amount": 2},
        "bits": {"size": 16, "price": 16, "amount": 24},
        "requirement": "maintenance", "mode": mode, "buffer": "0",
        "collateral": [{"asset": "USD", "haircut": "0"},
                       {"asset": "BTC", "tiers": [{"up_to": "100", "haircut": "0.1"}, {"up_to": "300", "haircut": "0.2"},
                                                  {"up_to": None, "haircut": "0.5"}]}],
        "instruments": [{"symbol": "X", "kind": "perpetual",
                         "maintenance": {"brackets": [{"floor": "0", "cap": "1000", "rate": "0.01"},
                                                      {"floor": "1000", "cap": "3000", "rate": "0.02"}]},
                         "initial": {"rate": "0.1"}}],
    }
    market = {"format": "zkmargin.market/1", "as_of": S.AS_OF, "prices": {"X": "100", "BTC": "10"}}
    account = {"format": "zkmargin.account/1", "balances": {"USD": "1000"},
               "positions": [{"symbol": "X", "size": "10", "entry_price": "100"}]}
    if mode == "isolated":
        account["isolated_margin"] = {"X": "500"}
    case = {"policy": policy, "market": market, "account": account, "threshold": "0"}
    for path, value in over.items():
        doc, *keys = path.split("__")
        target = case[doc]
        for k in keys[:-1]:
            target = target[int(k)] if isinstance(target, list) else target[k]
        last = keys[-1]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return case


@pytest.mark.parametrize("mode", ["cross", "isolated"])
@pytest.mark.parametrize("size,expect", [
    ("10", "meets"), ("-10", "meets"),     # N = 1000: exactly the first cap
    ("11", "meets"), ("-11", "meets"),     # 1100: second bracket
    ("30", "meets"), ("-30", "meets"),     # 3000: exactly the last cap
    ("31", "refused"), ("-31", "refused"),  # 3100: one size unit above the last cap
])
def test_bracket_caps_exact_and_one_unit_over(mode, size, expect):
    case = _edge_case(mode, account__positions__0__size=size)
    if mode == "isolated":
        case["account"]["isolated_margin"]["X"] = "20000"
    case["account"]["balances"]["USD"] = "20000"
    n = notional(Decimal(size), Decimal(100))
    if expect == "refused":
        assert engine_meets(case) is None
        assert not witness_satisfied(case)
        return
    assert bracket_for(n, S.load(case)[0].instruments[0].maintenance.brackets) in (0, 1)
    t = tight_threshold(case)
    assert witness_satisfied(case, t)
    assert not witness_satisfied(case, t + S.ulp(2))
    assert not check(case["account"], case["market"], case["policy"], t + S.ulp(2)).meets


def test_capped_bracket_table_refused_by_prove_and_forced_proof_rejected():
    case = _edge_case(account__positions__0__size="-31")
    case["account"]["balances"]["USD"] = "20000"
    assert_refused_and_forged_rejected(case)


@pytest.mark.parametrize("btc", ["0", "5", "10", "10.01", "29.99", "30", "30.01", "1000"])
def test_tier_bounds_exact_and_one_unit_over(btc):
    """BTC at 10: quote value 100 and 300 are the tier bounds; a balance of 10 / 30 lands on them,
    10.01 / 30.01 one amount unit above."""
    case = _edge_case(account__balances={"USD": "100", "BTC": btc})
    t = tight_threshold(case)
    assert witness_satisfied(case, t)
    assert not witness_satisfied(case, t + S.ulp(2))


def test_zero_collateral_price_with_tiers():
    case = _edge_case(market__prices={"X": "100", "BTC": "0"}, account__balances={"USD": "100", "BTC": "1234.56"})
    t = tight_threshold(case)
    assert check(case["account"], case["market"], case["policy"], t).collateral_value == 100
    assert witness_satisfied(case, t) and not witness_satisfied(case, t + S.ulp(2))


def _rounding_case(mode: str, decimals: int, rate: str, size: str, mark: str = "100") -> dict:
    case = _edge_case(account__positions__0__size=size)
    case["policy"]["decimals"] = {"size": 0, "price": 0, "rate": 4, "amount": 4}
    case["policy"]["instruments"][0]["maintenance"] = {"rate": rate}
    case["policy"]["rounding"] = {"mode": mode, "decimals": decimals}
    case["market"]["prices"]["X"] = mark
    return case


@pytest.mark.parametrize("rounding,rate,size,expected", [
    # half_even ties at the rounding digit (0 decimals): requirement = |q| × 100 × rate
    ("half_even", "0.005", "1", "0"),    # 0.5 -> 0 (even)
    ("half_even", "0.015", "1", "2"),    # 1.5 -> 2
    ("half_even", "0.025", "1", "2"),    # 2.5 -> 2
    ("half_even", "0.035", "-1", "4"),   # 3.5 -> 4 (short)
    ("half_even", "0.0251", "1", "3"),   # 2.51 -> 3 (just above the tie)
    ("half_even", "0.0249", "1", "2"),   # 2.49 -> 2
    ("up", "0.02", "1", "2"),            # exact: unchanged
    ("up", "0.0201", "1", "3"),          # 2.01 -> 3
    ("down", "0.0299", "1", "2"),        # 2.99 -> 2
    ("down", "0.03", "1", "3"),          # exact: unchanged
    ("up", "0", "1", "0"),
    ("half_even", "0.005", "0", "0"),    # zero position
])
def test_rounding_ties_and_exact_multiples(rounding, rate, size, expected):
    case = _rounding_case(rounding, 0, rate, size)
    rep = check(case["account"], case["market"], case["policy"], 0)
    assert rep.requirement == Decimal(expected)
    t = tight_threshold(case)
    assert witness_satisfied(case, t)
    assert not witness_satisfied(case, t + S.ulp(4))


@pytest.mark.parametrize("rounding,rate", [("half_even", "0.015"), ("half_even", "0.025"), ("half_even", "0.0251"),
                                           ("up", "0.0201"), ("down", "0.0299"), ("up", "0.02")])
def test_rounding_gadget_refuses_an_understated_requirement(rounding, rate, monkeypatch):
    """A prover that rounds its requirement one unit lower than the policy says is caught by the
    circuit (it may overstate, which only hurts it, but never understate)."""
    import zkmargin.rules.decimals as D

    case = _rounding_case(rounding, 0, rate, "1")
    t = tight_threshold(case)
    assert witness_satisfied(case, t)
    honest = D.quantize

    def lower(d, decimals, mode):
        return honest(d, decimals, mode) - S.ulp(decimals)

    monkeypatch.setattr(D, "quantize", lower)
    with pytest.raises(UnsatisfiedError, match="round"):
        p, m, a, _ = S.load(case)
        plan = plan_margin(p, m, t)
        build(plan, witness_values(plan, a)).check_witness()


def test_portfolio_half_even_tie_in_base_case():
    """The base portfolio case rounds 1.5 × 4.75 = 7.125 to 7.12 (tie, even); the circuit must
    accept exactly that."""
    case = S.base_case("portfolio")
    rep = check(case["account"], case["market"], case["policy"], 0)
    assert rep.requirement == Decimal("7.12")
    t = tight_threshold(case)
    assert witness_satisfied(case, t) and not witness_satisfied(case, t + S.ulp(4))


# --- sizes, marks and widths at their edges --------------------------------------------------------


def _portfolio_edge(sizes: dict, pnl: dict, marks: dict, balances=None) -> dict:
    policy = {
        "format": "zkmargin.policy/1", "venue": "edge-portfolio", "quote": S.QUOTE,
        "decimals": {"size": 0, "price": 1, "rate": 2, "amount": 2},
        "bits": {"size": 16, "price": 16, "amount": 24},
        "requirement": "maintenance", "mode": "portfolio", "buffer": "0.5",
        "collateral": [{"asset": "USD", "haircut": "0"}],
        "instruments": [{"symbol": "F", "kind": "future"},
                        {"symbol": "Q", "kind": "option", "underlying": "F", "strike": "10", "expiry": "2024-12-27T08:00:00Z",
                         "right": "put"}],
        "scenarios": {"factor": "1.25", "names": ["a", "b"], "pnl": pnl},
    }
    market = {"format": "zkmargin.market/1", "as_of": S.AS_OF, "prices": marks}
    account = {"format": "zkmargin.account/1", "balances": balances or {"USD": "100000"},
               "positions": [{"symbol": s, "size": q, "entry_price": "1"} for s, q in sizes.items()]}
    return {"policy": policy, "market": market, "account": account, "threshold": "0"}


def test_portfolio_all_scenario_losses_negative():
    """Every scenario is a gain: the requirement is 0 and the equity alone decides."""
    case = _portfolio_edge({"F": "10", "Q": "-5"}, {"F": ["1", "2"], "Q": ["-0.5", "-3"]}, {"F": "10", "Q": "0"},
                           balances={"USD": "0"})
    rep = check(case["account"], case["market"], case["policy"], 0)
    assert rep.requirement == 0 and rep.meets
    t = tight_threshold(case)
    assert witness_satisfied(case, t) and not witness_satisfied(case, t + S.ulp(2))
    assert_proves_and_verifies(case, t)


def test_zero_positions_in_every_mode():
    for mode in S.MODES:
        case = S.base_case(mode, threshold="0")
        for p in case["account"]["positions"]:
            p["size"] = "0"
        if mode == "isolated":
            case["account"]["isolated_margin"] = {"A": "7"}  # allowed for a held zero position
        rep = check(case["account"], case["market"], case["policy"], 0)
        assert rep.requirement == 0
        t = tight_threshold(case)
        assert witness_satisfied(case, t) and not witness_satisfied(case, t + S.ulp(4)), mode


@pytest.mark.parametrize("mode", S.MODES)
@pytest.mark.parametrize("sign", [1, -1])
def test_maximum_widths(mode, sign):
    """|size| = 2^16 − 1, entry = 2^16 − 1 (price bits 16), balance = 2^24 − 1 units at the amount
    scale: accepted and on the boundary; 2^16 is refused by the loader."""
    smax, pmax, amax = (1 << 16) - 1, (1 << 16) - 1, (1 << 24) - 1
    if mode == "portfolio":
        case = _portfolio_edge({"F": str(sign * smax), "Q": str(-sign * smax)}, {"F": ["1", "-1"], "Q": ["0.5", "-0.5"]},
                               {"F": "1", "Q": "0"}, balances={"USD": S.dec(amax, 2)})
        for p in case["account"]["positions"]:
            p["entry_price"] = S.dec(pmax, 1)
    else:
        case = _edge_case(mode, account__positions__0__size=str(sign * smax),
                          account__positions__0__entry_price=str(pmax), account__balances={"USD": S.dec(amax, 2)})
        case["policy"]["instruments"][0]["maintenance"] = {"brackets": [{"floor": "0", "cap": "1000", "rate": "0.01"},
                                                                         {"floor": "1000", "cap": None, "rate": "0.02"}]}
        case["market"]["prices"]["X"] = "1"
        if mode == "isolated":
            case["account"]["isolated_margin"] = {"X": S.dec(amax, 2)}
    rep = check(case["account"], case["market"], case["policy"], 0)
    if rep.excess >= 0 and not rep.failing_positions:
        t = S.to_grid(rep.excess, case["policy"]["decimals"]["amount"])
        assert witness_satisfied(case, t)
        assert not witness_satisfied(case, t + S.ulp(case["policy"]["decimals"]["amount"]))
    else:
        assert not witness_satisfied(case)
    too_big = copy.deepcopy(case)
    too_big["account"]["positions"][0]["size"] = str(sign * (smax + 1))
    with pytest.raises(InputError, match="16-bit"):
        check(too_big["account"], too_big["market"], too_big["policy"], 0)


def test_maximum_width_proof():
    smax = (1 << 16) - 1
    case = _edge_case("cross", account__positions__0__size=str(-smax), account__positions__0__entry_price="2",
                      account__balances={"USD": "100000"})
    case["policy"]["instruments"][0]["maintenance"] = {"rate": "0.01"}
    case["market"]["prices"]["X"] = "1"
    assert check(case["account"], case["market"], case["policy"], 0).meets
    assert_proves_and_verifies(case, "0")


# --- 5. nothing private in a bundle ----------------------------------------------------------------


def _private_case(mode: str) -> dict:
    policy = {
        "format": "zkmargin.policy/1", "venue": "privacy", "quote": S.QUOTE,
        "decimals": {"size": 5, "price": 4, "rate": 3, "amount": 3},
        "bits": {"size": 32, "price": 32, "amount": 40},
        "requirement": "maintenance", "mode": mode, "buffer": "0",
        "collateral": [{"asset": "USD", "haircut": "0"}],
        "instruments": [{"symbol": "X", "kind": "perpetual", "maintenance": {"rate": "0.001"}, "initial": {"rate": "0.002"}}],
    }
    market = {"format": "zkmargin.market/1", "as_of": S.AS_OF, "prices": {"X": "98000.5"}}
    account = {"format": "zkmargin.account/1", "balances": {"USD": "12345678.901"},
               "positions": [{"symbol": "X", "size": "4321.98765", "entry_price": "98765.4321"}]}
    if mode == "isolated":
        account["isolated_margin"] = {"X": "7654321.987"}
    return {"policy": policy, "market": market, "account": account, "threshold": "0"}


def _needles(values: list[tuple[str, int]]) -> list[str]:
    """Decimal text, fixed-point integer in decimal, and big/little-endian hex of every value."""
    out = []
    for text, fixed in values:
        n = abs(fixed)
        out += [text, text.lstrip("-"), str(n)]
        hx = format(n, "x")
        out.append(hx)
        le = n.to_bytes((n.bit_length() + 7) // 8, "little").hex()
        out.append(le)
    return [x for x in out if len(x) >= 7]


@pytest.mark.parametrize("mode", ["cross", "isolated"])
def test_bundle_contains_nothing_private_and_is_fresh(mode):
    case = _private_case(mode)
    assert check(case["account"], case["market"], case["policy"], 0).meets
    size, entry, bal = 432198765, 987654321, 12345678901
    private = [("4321.98765", size), ("98765.4321", entry), ("12345678.901", bal), ("", size * entry)]
    if mode == "isolated":
        private.append(("7654321.987", 7654321987))
    needles = _needles(private)
    ch = new_challenge()
    b1 = prove(case["account"], case["market"], case["policy"], 0, ch)
    b2 = prove(case["account"], case["market"], case["policy"], 0, ch)
    for b in (b1, b2):
        text = b.to_json()
        low = text.lower()
        for needle in needles:
            assert needle.lower() not in low, f"private value {needle!r} found in the bundle"
        verify(text, case["market"], case["policy"], 0, ch)
    # a positive control: the search does find what is there
    assert b1.statement["policy_digest"] in b1.to_json()
    assert b1.statement == b2.statement
    assert b1.proof != b2.proof
    assert all(c1 != c2 for c1, c2 in zip(b1.commitments, b2.commitments))


def test_single_capped_bracket_is_enforced():
    """Regression: a one-bracket table's cap was not enforced (the single piece skipped its range
    checks), so a forced proof for a position above the cap verified."""
    case = _edge_case(account__positions__0__size="11")  # N = 1100 > cap 1000
    case["policy"]["instruments"][0]["maintenance"] = {"brackets": [{"floor": "0", "cap": "1000", "rate": "0.01"}]}
    assert engine_meets(case) is None  # the engine: no requirement exists above the last cap
    assert not witness_satisfied(case)
    at_cap = copy.deepcopy(case)
    at_cap["account"]["positions"][0]["size"] = "-10"
    assert engine_meets(at_cap) is True and witness_satisfied(at_cap)
    ch = new_challenge()
    forged = prove(case["account"], case["market"], case["policy"], 0, ch, _check_witness=False)
    with pytest.raises(VerificationError):
        verify(forged.to_json(), case["market"], case["policy"], 0, ch)


# --- known bugs (xfail strict: each passes once the bug is fixed; then drop the marker) -------------


def test_initial_requirement_with_capped_maintenance_brackets():
    case = _edge_case(account__positions__0__size="40")  # N = 4000 > maintenance cap 3000
    case["policy"]["requirement"] = "initial"            # initial: flat 10%, no cap
    assert witness_satisfied(case)
    assert engine_meets(case) is True
    assert_proves_and_verifies(case)
