"""Red team, issue 15 (A)'s coverage rules (circuits/margin/coverage.py, coverage_plan.py; notes
docs/notes/coverage.md): a cheating trader that runs its own prover against hedge legs, inverse
contracts, option standard margin and open orders.

Two attacks succeeded before this file and are fixed (docs/notes/coverage.md, "Red team"):

* inverse contracts with a bracket multiplier (``notional_coef``) or tiers by size (``basis:
  "size"``) compiled their bracket ends from the raw caps read as coin notionals, while the engine
  applies the scaled caps (or contract counts): an account the engine refuses was accepted
  (``test_inverse_brackets_are_the_ones_the_engine_applies``);
* the coin cost basis of a short was bounded with ``⌊10^(dp+dρ)/P⌋``, a reciprocal no entry price
  within the width gives (a short's entry reciprocal is rounded up): a short could claim up to
  ``|q|·cs`` units of coin more than any entry, 1 BTC on 10,000 contracts at ``dρ = 4``
  (``test_a_short_cannot_claim_a_reciprocal_below_every_entry_within_the_width``).

Every other attack here is refused; each has its honest twin.
"""

from __future__ import annotations

import copy
import json
import sys
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import redteam_helpers as RT  # noqa: E402

from zkmargin import check  # noqa: E402
from zkmargin.circuits.layouts import witness_values  # noqa: E402
from zkmargin.circuits.margin import pieces  # noqa: E402
from zkmargin.errors import PolicyError  # noqa: E402
from zkmargin.rules.models import load_policy  # noqa: E402

EX = Path(__file__).resolve().parent.parent / "examples" / "coverage"
AS_OF = "2030-01-01T00:00:00Z"


def example(name: str) -> dict:
    case = {k: json.loads((EX / f"{name}-{k}.json").read_text()) for k in ("policy", "market", "account")}
    case["threshold"] = "0"
    return case


def linear_case(**over) -> dict:
    """Two perpetuals (BTCUSDT: two brackets, ETHUSDT: flat), USDT and BTC collateral."""
    p = {"format": "zkmargin.policy/1", "venue": "redteam", "quote": "USDT",
         "decimals": {"size": 3, "price": 2, "rate": 4, "amount": 2},
         "bits": {"size": 32, "price": 32, "amount": 48},
         "requirement": "maintenance", "mode": "cross",
         "collateral": [{"asset": "USDT", "haircut": "0"}, {"asset": "BTC", "haircut": "0"}],
         "instruments": [
             {"symbol": "BTCUSDT", "kind": "perpetual",
              "maintenance": {"brackets": [{"floor": "0", "cap": "50000", "rate": "0.004"},
                                           {"floor": "50000", "cap": None, "rate": "0.005"}]},
              "initial": {"brackets": [{"floor": "0", "cap": "50000", "rate": "0.01"},
                                       {"floor": "50000", "cap": None, "rate": "0.02"}]}},
             {"symbol": "ETHUSDT", "kind": "perpetual", "maintenance": {"rate": "0.005"},
              "initial": {"rate": "0.05"}}]}
    p.update(over)
    return {"policy": p, "threshold": "0",
            "market": {"format": "zkmargin.market/1", "as_of": AS_OF,
                       "prices": {"BTCUSDT": "50000", "ETHUSDT": "3000", "BTC": "50000"}},
            "account": {"format": "zkmargin.account/1", "balances": {"USDT": "500"}, "positions": []}}


def pos(symbol, size, entry, side=None) -> dict:
    d = {"symbol": symbol, "size": size, "entry_price": entry}
    if side:
        d["side"] = side
    return d


def tight(case: dict) -> Decimal:
    """The largest threshold on the amount grid the engine says the account meets."""
    da = case["policy"]["decimals"]["amount"]
    return check(case["account"], case["market"], case["policy"], 0).excess.quantize(
        Decimal(1).scaleb(-da), rounding=ROUND_FLOOR)


def ulp(case: dict) -> Decimal:
    return Decimal(1).scaleb(-case["policy"]["decimals"]["amount"])


def honest_cs(case: dict, threshold, tamper=None, edit=None):
    plan, a = RT.plan_of(case, threshold)
    values = witness_values(plan, a)
    if edit is not None:
        edit(plan, values)
    return RT.prover_cs(plan, values, tamper), plan, values


def meets(case: dict, threshold) -> bool:
    return check(case["account"], case["market"], case["policy"], threshold).meets


# --- inverse contracts: the brackets the engine applies (bug, fixed) ---------------------------------

CAPS_BTC = [{"floor": "0", "cap": "1", "rate": "0.005"}, {"floor": "1", "cap": None, "rate": "0.02"}]
CAPS_CONTRACTS = [{"floor": "0", "cap": "5000", "rate": "0.005"}, {"floor": "5000", "cap": None, "rate": "0.02"}]


def inverse_case(rule: dict, size: str) -> dict:
    case = example("bybit-inverse")
    case["policy"]["instruments"][0]["maintenance"] = rule
    case["account"]["positions"][0]["size"] = size
    return case


INVERSE_TIERS = {
    # 6,000 contracts of 1 USD at 8,000: 0.75 BTC. The multiplier halves the caps: the engine's
    # second bracket (0.75·2% − 0.0075 = 0.0075 BTC); the raw cap (1 BTC) read as coin gave the
    # first (0.00375 BTC)
    "multiplier 0.5": ({"brackets": CAPS_BTC, "notional_coef": "0.5"}, "6000", Decimal("0.0075")),
    # 10,000 contracts: 1.25 BTC, inside the doubled first cap (0.00625 BTC); the raw cap gave the
    # second bracket with the doubled cap's amount, 1.25·2% − 0.03 < 0
    "multiplier 2": ({"brackets": CAPS_BTC, "notional_coef": "2"}, "10000", Decimal("0.00625")),
    # tiers by contracts: 10,000 > 5,000 contracts is the second tier (0.025 BTC); the cap read as
    # 5,000 BTC of coin notional kept it in the first (0.00625 BTC)
    "tiers by size": ({"brackets": CAPS_CONTRACTS, "basis": "size", "whole_position": True}, "10000", Decimal("0.025")),
}


@pytest.mark.parametrize("name", sorted(INVERSE_TIERS))
def test_inverse_brackets_are_the_ones_the_engine_applies(name):
    """The account proves at the tightest threshold the engine allows and not one unit above it
    (before the fix the witness one unit above was satisfied: the circuit charged the raw caps'
    bracket)."""
    rule, size, engine_req = INVERSE_TIERS[name]
    case = inverse_case(rule, size)
    assert check(case["account"], case["market"], case["policy"]).requirement == engine_req
    t = tight(case)
    assert RT.refusal(honest_cs(case, t)[0]) is None
    assert not meets(case, t + ulp(case))
    msg = RT.refusal(honest_cs(case, t + ulp(case))[0])
    assert msg is not None and "equity covers the required margin" in msg


def test_inverse_multiplier_forced_proof_is_rejected():
    rule, size, _ = INVERSE_TIERS["multiplier 0.5"]
    case = inverse_case(rule, size)
    over = tight(case) + ulp(case)
    plan, a = RT.plan_of(case, over)
    assert not RT.forced_proof_verifies(plan, witness_values(plan, a))


# --- inverse contracts: the short's coin cost basis (bug, fixed) ------------------------------------


def short_at_the_width(drho: int, q: int) -> dict:
    """A short of ``q`` contracts entered at the highest price the width allows: the smallest
    reciprocal, the best coin cost basis a short can claim."""
    case = example("bybit-inverse")
    case["policy"]["decimals"]["reciprocal"] = drho
    P = (1 << case["policy"]["bits"]["price"]) - 1
    case["account"]["positions"] = [pos("BTCUSD", str(q), str(Decimal(P).scaleb(-2)))]
    return case


@pytest.mark.parametrize("drho, q", [(16, -10**8), (4, -10**4)])
def test_a_short_cannot_claim_a_reciprocal_below_every_entry_within_the_width(drho, q):
    """At the tightest threshold the honest short proves. One unit above, the engine refuses for
    every entry within the width; the cheater commits ``B`` at the old upper end
    ``q·cs·⌊10^(dp+dρ)/P⌋`` (one unit of ``cs`` per contract above the best entry: 1e-8 BTC at
    ``dρ = 16`` on 10^8 contracts, 1 BTC at ``dρ = 4`` on 10^4) — satisfied before the fix,
    refused now; its twin at ``q·cs·⌈10^(dp+dρ)/P⌉``, the best entry's, equals the honest one."""
    from zkmargin.circuits.margin import coverage_plan

    case = short_at_the_width(drho, q)
    t = tight(case)
    over = t + ulp(case)
    assert meets(case, t) and not meets(case, over)
    cs, plan, values = honest_cs(case, t)
    assert RT.refusal(cs) is None
    k = RT.slot_index(plan, "cost:inverse/BTC")
    unit = plan.instruments[0].inv.cs
    P = (1 << plan.price_bits) - 1
    floor_rho, ceil_rho = 10 ** (plan.dp + plan.drho) // P, -(-(10 ** (plan.dp + plan.drho)) // P)
    assert ceil_rho - floor_rho == 1 and coverage_plan.inverse_rho_bounds(plan)[0] == floor_rho
    assert values[k] == q * unit * ceil_rho  # the twin: the best entry's basis is the bound itself

    def old_bound(plan, vals):
        vals[k] = q * unit * floor_rho

    cs, _, _ = honest_cs(case, over, edit=old_bound)
    msg = RT.refusal(cs)
    assert msg is not None and "inverse cost basis BTC: at most what entry prices within the width give" in msg
    assert coverage_plan.inverse_short_rho_min(plan) == ceil_rho  # the fix: the bound a short can reach
    if drho == 4:
        plan, a = RT.plan_of(case, over)
        forged = witness_values(plan, a)
        old_bound(plan, forged)
        assert not RT.forced_proof_verifies(plan, forged)


def test_inverse_ratio_rules_are_refused_at_load():
    """A leverage rule on an inverse contract loaded, then the engine stopped with an internal
    error at every check; it is refused at load, naming the rule."""
    case = example("bybit-inverse")
    case["policy"]["instruments"][0]["maintenance"] = {"leverage": "100"}
    with pytest.raises(PolicyError) as e:
        load_policy(case["policy"])
    assert e.value.field == "instruments[0].maintenance"
    case["policy"]["instruments"][0]["maintenance"] = {"rate": "0.01"}  # twin
    load_policy(case["policy"])


# --- option standard margin -----------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["BTC-27DEC30-70000-C", "BTC-27DEC30-50000-P"])
def test_a_short_option_cannot_be_charged_as_a_long(symbol, monkeypatch):
    """The short call (−10, charged 0.1125 a contract) with its sign bit cleared would be charged
    the long's premium 0.0125: |q| = q·(1 − 2s) is then q < 0, which no range check accepts. The
    long put with its sign bit set is refused the same way; the honest witness satisfies."""
    from zkmargin.circuits import gadgets

    case = example("deribit-options")
    assert RT.refusal(honest_cs(case, 0)[0]) is None
    RT.flip_boolean(monkeypatch, gadgets, {f"size {symbol} sign"})
    msg = RT.refusal(honest_cs(case, 0)[0])
    assert msg is not None and f"size {symbol} |x|" in msg, msg


def test_a_zero_size_option_gains_nothing_from_its_free_sign_bit(monkeypatch):
    """For q = 0 the sign bit is free (|0| = 0 either way), and the requirement (q − s)·long −
    s·short with s = q·sign = 0 is 0 either way: both witnesses satisfy at the tight threshold and
    neither one unit above it."""
    from zkmargin.circuits import gadgets

    case = example("deribit-options")
    case["account"]["positions"][0]["size"] = "0"
    t = tight(case)
    for flipped in (False, True):
        if flipped:
            RT.flip_boolean(monkeypatch, gadgets, {"size BTC-27DEC30-70000-C sign"}, lambda b: 1)
        assert RT.refusal(honest_cs(case, t)[0]) is None
        assert RT.refusal(honest_cs(case, t + ulp(case))[0]) is not None


@pytest.mark.parametrize("field", ["fee_to_close", "notional_coef", "whole_position", "basis"])
def test_option_rules_with_bracket_refinements_are_refused_at_load(field):
    """Before: the policy loaded, the engine ignored the field and the circuit's plan stopped on an
    assertion (a traceback). Now a PolicyError names the field; the twin loads."""
    value = {"fee_to_close": "0.001", "notional_coef": "2", "whole_position": True, "basis": "notional"}[field]
    case = example("deribit-options")
    case["policy"]["instruments"][0]["initial"][field] = value
    with pytest.raises(PolicyError) as e:
        load_policy(case["policy"])
    assert e.value.field == f"instruments[0].initial.{field}"
    load_policy(example("deribit-options")["policy"])


OPTION_INPUTS = {
    "rate": lambda c: c["policy"]["instruments"][0]["initial"]["option"].update(rate="0.3"),
    "floor": lambda c: c["policy"]["instruments"][0]["initial"]["option"].update(floor="0.12"),
    "otm": lambda c: c["policy"]["instruments"][0]["initial"]["option"].update(otm=False),
    "strike": lambda c: c["policy"]["instruments"][0].update(strike="62000"),
    "multiplier": lambda c: c["policy"]["instruments"][0].update(multiplier="2"),
    "put_minimum": lambda c: c["policy"]["instruments"][1]["initial"]["option"].update(put_minimum="0.2"),
    "long": lambda c: c["policy"]["instruments"][1]["initial"]["option"].update(long="none"),
    "index price": lambda c: c["market"]["prices"].update({"BTC-USD": "69000"}),
    "option mark": lambda c: c["market"]["prices"].update({"BTC-27DEC30-70000-C": "0.02"}),
}


@pytest.mark.parametrize("name", sorted(OPTION_INPUTS))
def test_every_public_input_of_an_option_rule_is_in_the_circuit(name):
    """Each input of the per-contract figures changes them, and with them the circuit digest (the
    statement binds it before the first challenge)."""
    base = example("deribit-options")
    changed = copy.deepcopy(base)
    OPTION_INPUTS[name](changed)
    p0, _ = RT.plan_of(base)
    p1, _ = RT.plan_of(changed)
    assert [ip.opt for ip in p0.instruments] != [ip.opt for ip in p1.instruments]
    assert RT.verifier_cs(p0).digest() != RT.verifier_cs(p1).digest()


# --- hedge legs ---------------------------------------------------------------------------------------


def hedge_case(mode: str = "cross") -> dict:
    case = linear_case(position_mode="hedge", mode=mode)
    case["account"]["positions"] = [pos("BTCUSDT", "1.2", "50000", "long"), pos("BTCUSDT", "-1", "50000", "short")]
    case["account"]["balances"] = {"USDT": "500"}
    return case


def test_a_long_leg_committed_negative_is_refused():
    """The long leg's sign is public: committed as −1.2 it would net against nothing and lower no
    bracket, but the slot is range-checked as q ∈ [0, 2^b) and refuses it (the short leg's twin
    test is in test_coverage.py)."""
    case = hedge_case()
    assert RT.refusal(honest_cs(case, 0)[0]) is None

    def negate(plan, vals):
        i = RT.slot_index(plan, "size:BTCUSDT#long")
        vals[i] = -vals[i]

    msg = RT.refusal(honest_cs(case, 0, edit=negate)[0])
    assert msg is not None and "size BTCUSDT#long" in msg


def test_a_hedge_leg_cannot_claim_a_lower_bracket(monkeypatch):
    """The long leg (1.2 BTC at 50,000: 60,000, second bracket) claims the first bracket (0.4%
    instead of 0.5% − 50): 60,000 is beyond the first piece's end, which forces the last piece.
    Honest twin satisfies."""
    case = hedge_case()
    t = tight(case)
    assert RT.refusal(honest_cs(case, t)[0]) is None
    monkeypatch.setattr(pieces, "_choose_piece", lambda x, iv: 0)
    msg = RT.refusal(honest_cs(case, t)[0])
    assert msg is not None and "brackets BTCUSDT: beyond every finite end means the last piece" in msg


def test_isolated_legs_do_not_fund_each_other():
    """Isolated hedge mode: each leg has its own margin and inequality. A short leg with a surplus
    cannot cover a long leg one unit short of its requirement (engine: the long leg fails; the
    circuit refuses); funding the long leg's own margin (twin) proves."""
    case = hedge_case("isolated")
    case["policy"]["collateral"] = [{"asset": "USDT", "haircut": "0"}]
    case["market"]["prices"].pop("BTC")
    case["account"]["isolated_margin"] = {"BTCUSDT#long": "0", "BTCUSDT#short": "0"}
    rep = check(case["account"], case["market"], case["policy"])
    long_req, short_req = (p.requirement for p in rep.positions)
    case["account"]["isolated_margin"] = {"BTCUSDT#long": str(long_req - Decimal("0.01")),
                                          "BTCUSDT#short": str(short_req + 1000)}
    assert not meets(case, 0)
    msg = RT.refusal(honest_cs(case, 0)[0])
    assert msg is not None and "isolated position BTCUSDT#long meets its requirement" in msg
    case["account"]["isolated_margin"]["BTCUSDT#long"] = str(long_req)
    assert meets(case, 0) and RT.refusal(honest_cs(case, 0)[0]) is None


# --- open orders ------------------------------------------------------------------------------------------


def orders_case() -> dict:
    case = linear_case(requirement="initial", open_orders={"rule": "worst_side"})
    case["account"]["positions"] = [pos("BTCUSDT", "0.5", "50000")]
    case["account"]["balances"] = {"USDT": "3000"}
    case["account"]["orders"] = [{"symbol": "BTCUSDT", "side": "buy", "size": "1"},
                                 {"symbol": "BTCUSDT", "side": "sell", "size": "0.2"}]
    return case


def test_the_order_requirement_cannot_be_understated():
    """M must cover both sides: M one unit below the worse side (buy: 1.5 BTC, 1,000 USDT), or M
    equal to the better side (sell: 0.3 BTC, 150 USDT), or M = 0 are refused; honest M satisfies
    at the tightest threshold."""
    case = orders_case()
    t = tight(case)
    cs, plan, _ = honest_cs(case, t)
    assert RT.refusal(cs) is None
    sell_side = 150 * 10**plan.SR  # R(0.5 − 0.2) = 0.3·50,000·1% at the requirement's scale
    worst = "order_requirement.<locals>.worst"
    for cheat in (lambda v, n: v - 1 if n == 0 else v, lambda v, n: sell_side if n == 0 else v, lambda v, n: 0):
        msg = RT.refusal(honest_cs(case, 0, {worst: cheat})[0])
        assert msg is not None and "orders BTCUSDT: covers the buy side" in msg, msg


def test_negative_order_totals_are_refused():
    """An order total committed negative (a buy total of −0.5 would pull |q + buys| to 0) is
    refused by its range check; the honest totals satisfy."""
    case = orders_case()
    assert RT.refusal(honest_cs(case, 0)[0]) is None

    def negative(plan, vals):
        vals[RT.slot_index(plan, "size:BTCUSDT#buy")] = -500

    msg = RT.refusal(honest_cs(case, 0, edit=negative)[0])
    assert msg is not None and "buy orders BTCUSDT" in msg


def test_orders_on_an_inverse_or_option_symbol_are_refused_at_load():
    """The circuit has order slots for linear contracts only; an order elsewhere would be counted by
    nothing, so the account is refused (InputError naming the order)."""
    from zkmargin.errors import InputError
    from zkmargin.rules.models import load_account

    case = example("bybit-inverse")
    case["policy"]["open_orders"] = {"rule": "worst_side"}
    case["policy"]["requirement"] = "initial"
    p = load_policy(case["policy"])
    acct = copy.deepcopy(case["account"])
    acct["orders"] = [{"symbol": "BTCUSD", "side": "buy", "size": "10"}]
    with pytest.raises(InputError) as e:
        load_account(acct, p)
    assert e.value.field == "orders[0].symbol"
    load_account(case["account"], p)  # twin: no orders
