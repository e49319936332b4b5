"""Red team, binding of public numbers: a public constant the builder reads modulo r
(circuits/margin/public_numbers.py).

A coefficient of a constraint lives in Z_r and the builder reads it as its representative in
(−r/2, r/2). Before the guard, a mark of ``r + 300000`` ticks was read as 3,000.00 and a
threshold whose lift to the comparison's scale wrapped as a credit of 1,000 USDT (both layouts):
the engine refuses each account and the circuit accepted it (the witness satisfied every
constraint; the K-slot table already refused the mark).
Each test shows the engine's refusal, the circuit's refusal to be built (OverflowRiskError naming
the public number) and the honest twin.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import redteam_helpers as RT  # noqa: E402
from test_redteam_coverage import example, linear_case, pos, tight  # noqa: E402

from zkmargin import check  # noqa: E402
from zkmargin.circuits.layouts import witness_values  # noqa: E402
from zkmargin.circuits.margin.public_numbers import HALF, coefficient  # noqa: E402
from zkmargin.crypto.field import R  # noqa: E402
from zkmargin.errors import InputError, OverflowRiskError  # noqa: E402

LAYOUTS = {"per instrument": None, "slots": 2}


def case_for(layout: str) -> dict:
    case = linear_case()
    if LAYOUTS[layout] is not None:
        case["policy"]["slots"] = LAYOUTS[layout]
    case["account"]["positions"] = [pos("ETHUSDT", "-1", "3000")]
    case["account"]["balances"] = {"USDT": "100"}
    return case


def decimal_at(n: int, scale: int) -> str:
    """``n·10^−scale`` spelled exactly (no float, no context rounding)."""
    s = str(n).rjust(scale + 1, "0")
    return f"{s[:-scale]}.{s[-scale:]}" if scale else s


def built(case: dict, threshold=None):
    plan, a = RT.plan_of(case, threshold)
    return RT.prover_cs(plan, witness_values(plan, a))


def test_the_guard_reads_exactly_the_open_interval():
    for v in (0, 1, -1, HALF - 1, -(HALF - 1)):
        assert coefficient(v, "x") == v
    for v in (HALF, -HALF, R, R + 5, 10**80):
        with pytest.raises(OverflowRiskError):
            coefficient(v, "x")


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_mark_beyond_the_group_order_is_refused_not_reduced(layout):
    """A short of 1 ETH at 3,000 with 100 USDT: at a mark of r + 300,000 ticks the engine sees a
    loss of ~10^72 USDT and refuses; the circuit read the mark as 3,000.00 (no loss, 15 USDT of
    requirement) and its witness was satisfied. Now the plan is refused, naming the price."""
    case = case_for(layout)
    assert check(case["account"], case["market"], case["policy"]).meets  # twin: at 3,000 it meets
    assert RT.refusal(built(case)) is None
    case["market"]["prices"]["ETHUSDT"] = decimal_at(R + 300000, 2)
    try:  # the engine refuses the account, or (issue 11) the snapshot itself when it is read
        assert not check(case["account"], case["market"], case["policy"]).meets
    except InputError as exc:
        assert exc.field == "prices.ETHUSDT"
    # refused naming the price: when the market is read (no circuit could carry it, issue 11) or,
    # for a price within that bound but beyond r/2 at the plan's scale, by the plan's guard
    with pytest.raises((InputError, OverflowRiskError)) as e:
        built(case)
    assert e.value.field == "prices.ETHUSDT"


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_threshold_whose_lift_wraps_is_refused(layout):
    """T < r/2, but T·10^(Z−da) = r − x with x = 1,000 USDT at the comparison's scale: the circuit
    read the venue's astronomical threshold as a credit of 1,000 USDT and accepted an account 14
    USDT short of its requirement. Now the lifted threshold is checked before it is reduced."""
    case = case_for(layout)
    case["account"]["balances"] = {"USDT": "1"}  # requirement 15 USDT: refused at any T ≥ 0
    plan0, _ = RT.plan_of(case, 0)
    k, Z, da = plan0.Z - plan0.da, plan0.Z, plan0.da
    credit = 1000 * 10**Z
    x = credit + ((R - credit) % 10**k)
    T = (R - x) // 10**k
    assert T * 10**k == R - x and 0 < T < HALF  # the threshold itself passes the plan's guard
    threshold = Decimal(decimal_at(T, da))
    assert not check(case["account"], case["market"], case["policy"], threshold).meets
    with pytest.raises(OverflowRiskError) as e:
        built(case, threshold)
    assert e.value.field == "threshold"
    case["account"]["balances"] = {"USDT": "100"}  # twin: a funded account at its tight threshold
    assert RT.refusal(built(case, tight(case))) is None


def test_an_inverse_contract_size_congruent_to_a_dollar_is_refused():
    """A contract of r/100 + 1 USD (r + 100 cents) is read as one of 1 USD by every constraint of
    the inverse rule (each constant is a multiple of the contract size), while the engine charges
    the astronomical coin notional and refuses. Before, only an accident refused it (the coin cost
    basis's width, computed from the unreduced size, exceeded 250 bits); now the plan refuses it,
    naming the inverse constant."""
    case = example("bybit-inverse")
    assert RT.refusal(built(case)) is None  # twin
    case["policy"]["instruments"][0]["inverse"]["contract_size"] = decimal_at(R + 100, 2)
    assert not check(case["account"], case["market"], case["policy"]).meets
    with pytest.raises(OverflowRiskError) as e:
        built(case)
    assert e.value.field.startswith("instruments.BTCUSD.inverse")


def test_an_option_figure_beyond_half_the_group_order_is_refused():
    """A multiplier of 10^76 makes the short call's per-contract requirement ~10^75 BTC, above r/2
    at 8 digits: refused by name (before: refused too, by the width of the final comparison)."""
    case = example("deribit-options")
    assert RT.refusal(built(case)) is None  # twin
    case["policy"]["instruments"][0]["multiplier"] = "1" + "0" * 76  # within the 80-digit cap
    assert not check(case["account"], case["market"], case["policy"]).meets
    with pytest.raises(OverflowRiskError) as e:
        built(case)
    assert e.value.field == "instruments.BTC-27DEC30-70000-C.opt"


def test_a_slot_collateral_coefficient_that_wraps_at_the_comparison_scale_is_refused():
    """K-slot layout: a collateral price below r/2 whose value coefficient price·slope·10^(Z−…)
    is not — refused where the coefficient is formed (slots.py), naming the price (before: refused
    by the no-wrap check of the final comparison, whose interval the reduced coefficient blew up;
    a crafted price could make it small)."""
    case = case_for("slots")
    plan0, _ = RT.plan_of(case, 0)
    price = HALF // 10**(plan0.Z - plan0.da - plan0.dp) + 1  # at dp; the slope of a 0 haircut is 10^dr
    assert price < HALF
    case["market"]["prices"]["BTC"] = decimal_at(price, plan0.dp)
    with pytest.raises(OverflowRiskError) as e:
        built(case)
    assert e.value.field == "prices.BTC"
