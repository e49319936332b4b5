"""Red team: CME SPAN and Deribit's portfolio-margin add-ons (issue 14), attacked by a prover that
runs its own code (``redteam_cheat.cheat``) and by public numbers that wrap modulo r.

Private wires (docs/notes/span.md) and what binds each:

    SPAN   M_c (scan)           M_c ≥ 0, M_c ≥ loss_{c,s}                  (may only grow)
           |D_t|, s_t           abs_value: s_t pinned when D_t ≠ 0
           n (floors), m (min)  exact: remainder in [0, d − 1]; (a − m)(b − m) = 0
           N = opp·m            opp = s_a + s_b − 2·s_a·s_b, gates
           T_c                  T_c ≥ scan + intra − credit, T_c ≥ SOM, T_c ≥ 0 (may only grow)
    PME    M, W = round(M)      M overstate-only, W exact
           |D_g|, e, m, shock   abs_value, exact_max0, exact_min, a gate
           c_k                  c_k ≥ 0, c_k ≥ −net_k                       (may only grow)
           L, S, min(L, S)      sign bits of the sizes, exact_min

The attacks already pinned by tests/test_span.py and tests/test_deribit_pme.py (fewer spreads, a
floor or a minimum moved, the scan or the worst case lowered, the delta-shock and offsetting
pieces) are not repeated. New here: sign bits flipped to claim an inter-commodity credit or to
dodge an intra-commodity charge, a commodity total or a short option's side understated, a strike's
net short understated, a roll group's sign flipped — all refused, each with its honest twin. And
one bug, fixed: the add-ons' numbers (charges, deltas, ratios, credit products, SOM, the factor;
Deribit's rates, threshold, cap, slope, values) were not in the load-time bound, so a charge of
r + 200 loaded, was read as 200 by the circuit, and ``verify`` accepted an account the engine
charged r + 200; they are now checked as integers where the circuit forms them.
"""

from __future__ import annotations

import copy
import secrets
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import redteam_cheat as H  # noqa: E402
import span_cases as C  # noqa: E402

import zkmargin.circuits.margin.deribit_pme as PM  # noqa: E402
import zkmargin.circuits.margin.span as SP  # noqa: E402
from zkmargin import check, verify  # noqa: E402
from zkmargin.api import statement_for  # noqa: E402
from zkmargin.circuits.margin import build, plan_margin, positions, witness_values  # noqa: E402
from zkmargin.crypto.field import R  # noqa: E402
from zkmargin.errors import OverflowRiskError, PolicyError, VerificationError  # noqa: E402
from zkmargin.rules.models import load_account, load_market, load_policy  # noqa: E402


def prover_cs(pol: dict, mkt: dict, acct: dict, threshold: D = D(0)):
    p = load_policy(pol)
    m = load_market(mkt, p)
    plan = plan_margin(p, m, threshold)
    return p, m, plan, build(plan, witness_values(plan, load_account(acct, p)))


def at_requirement(pol: dict, prices: dict, sizes: dict, asset: str = "USD") -> tuple[dict, dict, dict]:
    """(policy, market, account) with the account's balance exactly the engine's requirement
    (positions at the marks: no PnL)."""
    mkt = C.market(prices)
    req = check(C.account(sizes, prices, "0", asset), mkt, pol).requirement
    return pol, mkt, C.account(sizes, prices, str(req), asset)


def assert_refused_twin_passes(case: tuple[dict, dict, dict], done: list[int], monkeypatch) -> None:
    assert not H.satisfied(prover_cs(*case)[3])
    assert done, "the cheat was never applied"
    monkeypatch.undo()
    assert H.satisfied(prover_cs(*case)[3])


def _label_has(word: str):
    return lambda cs, *args, **kw: word in args[-1]


# --- SPAN ------------------------------------------------------------------------------------------------


def test_a_credit_for_legs_on_the_same_side_is_refused(monkeypatch):
    """Corn long 2 and soybeans long 1 form no inter-commodity spread. A prover flipping SOY's net
    delta sign bit (opp = 1: two spreads' worth of credit) is refused by |D|'s range check."""
    case = at_requirement(C.cme_inter_policy(), C.INTER_PRICES, {"ZC": 2, "ZS": 1})
    assert check(case[2], case[1], case[0]).requirement == 6000  # no credit: 2·1,750 + 2,500
    done = H.cheat(monkeypatch, SP, "abs_value", H.flip_bit, gate=True, when=_label_has("SOY: net delta"))
    assert_refused_twin_passes(case, done, monkeypatch)


def test_an_intra_charge_cannot_be_dodged_by_a_sign(monkeypatch):
    """Month 2 long, month 3 short: one spread, charge 200. Flipping month 3's tier sign bit (the
    legs then look same-sided: no spread, no charge) is refused; the forced proof one cent below
    the requirement is rejected."""
    case = at_requirement(C.cme_intra_policy(), C.INTRA_PRICES, {"X2": 1, "X3": -1})
    pol, mkt, acct = case
    scan_only = check(acct, mkt, C.cme_intra_policy(spreads=False)).requirement
    assert check(acct, mkt, pol).requirement == scan_only + 200 - 0  # the charge is what's at stake
    done = H.cheat(monkeypatch, SP, "abs_value", H.flip_bit, gate=True, when=_label_has("tier 3 delta"))
    short = C.account({"X2": 1, "X3": -1}, C.INTRA_PRICES, str(D(acct["balances"]["USD"]) - D("0.01")))
    p, m, plan, cs = prover_cs(pol, mkt, short)
    assert not H.satisfied(cs) and done
    ch = secrets.token_bytes(32)
    bundle = H.forced_bundle(cs, statement_for(p, m, D(0), ch, plan, cs))
    with pytest.raises(VerificationError):
        verify(bundle.to_json(), mkt, pol, "0", ch)
    assert_refused_twin_passes(case, done, monkeypatch)


def test_a_commodity_total_cannot_be_understated(monkeypatch):
    """T_c − 1 for the last commodity (its total is the last wire span_requirement allocates when
    the policy has no rounding)."""
    case = at_requirement(C.cme_inter_policy(), C.INTER_PRICES, {"ZC": 2, "ZS": -1})
    assert "rounding" not in case[0]
    last = H.count_allocations(lambda: prover_cs(*case), SP, "span_requirement") - 1
    done = H.cheat(monkeypatch, SP, "span_requirement", lambda v: v - 1, nth=last)
    assert_refused_twin_passes(case, done, monkeypatch)


def test_a_short_call_cannot_pass_as_long_to_dodge_the_short_option_minimum(monkeypatch):
    """McMillan's call with a short option minimum of 50 per unit: one short call. Flipping its
    size's sign bit (no short units) is refused by |q|'s range check."""
    pol = C.mcmillan_policy(call=True, som="50")
    prices = {**C.MCMILLAN_PRICES, "SPC410": "5"}
    case = at_requirement(pol, prices, {"SPC410": -1})
    done = H.cheat(monkeypatch, positions, "abs_value", H.flip_bit, gate=True, when=_label_has("size SPC410"))
    assert_refused_twin_passes(case, done, monkeypatch)


# --- Deribit's add-ons --------------------------------------------------------------------------------------


def _addons_policy() -> dict:
    """Both contingencies, roll groups and a delta shock (tests/test_deribit_pme.py's constructed
    case), on two scenarios."""
    pol = C.base_policy(
        [{"symbol": "A", "kind": "future"}, {"symbol": "B", "kind": "future"},
         {"symbol": "XC", "kind": "option", "underlying": "A", "strike": "60000", "expiry": "2024-12-27T08:00:00Z", "right": "call"},
         {"symbol": "XP", "kind": "option", "underlying": "A", "strike": "60000", "expiry": "2024-12-27T08:00:00Z", "right": "put"}],
        decimals={"size": 1, "price": 2, "rate": 2, "amount": 4}, quote="BTC")
    pol["scenarios"] = {"factor": "1", "names": ["down", "up"],
                        "pnl": {"A": ["-3.25", "2.5"], "B": ["1.75", "-3"], "XC": ["-0.75", "1.25"], "XP": ["0.5", "-0.25"]}}
    pol["deribit_pme"] = {
        "version": 1, "deltas": {"XC": "0.5", "XP": "-0.5"},
        "roll_shock": [{"name": "near", "rate": "0.01", "instruments": ["A", "XC", "XP"]},
                       {"name": "far", "rate": "0.02", "instruments": ["B"]}],
        "delta_shock": {"threshold": "2", "slope": "0.01", "cap": "0.2"},
        "option_contingency": {"rate": "0.01", "strikes": [["XC", "XP"]]},
        "futures_contingency": {"rate": "0.01", "instruments": {"A": "1", "B": "1"}}}
    return pol


ADDON_PRICES = {"A": "1", "B": "1", "XC": "0.5", "XP": "0.5"}


def test_a_strikes_net_short_cannot_be_understated(monkeypatch):
    """XC long 4, XP short 6 at one strike: net short 2, contingency 0.02. c − 1 (the wire before
    the offsetting futures' minimum, the last one pme_requirement allocates) is refused."""
    case = at_requirement(_addons_policy(), ADDON_PRICES, {"A": "12", "B": "-3", "XC": "4", "XP": "-6"}, "BTC")
    last = H.count_allocations(lambda: prover_cs(*case), PM, "pme_requirement") - 1
    done = H.cheat(monkeypatch, PM, "pme_requirement", lambda v: v - 1, nth=last - 1)
    assert_refused_twin_passes(case, done, monkeypatch)


def test_a_roll_groups_sign_cannot_be_flipped(monkeypatch):
    """The 'near' group's delta 12 + 2 + 3 > 0 read as negative: refused."""
    case = at_requirement(_addons_policy(), ADDON_PRICES, {"A": "12", "B": "-3", "XC": "4", "XP": "-6"}, "BTC")
    done = H.cheat(monkeypatch, PM, "abs_value", H.flip_bit, gate=True, when=_label_has("roll shock near"))
    assert_refused_twin_passes(case, done, monkeypatch)


# --- the bug: add-on numbers reduced modulo r --------------------------------------------------------------


def _huge(decimals: str) -> str:
    return f"{R}.{decimals}" if decimals else str(R)


def test_a_spread_charge_of_r_plus_200_is_refused_not_read_as_200(monkeypatch):
    """Before the fix: the policy loaded, its circuit was the one of charge 200 (same digest), the
    engine charged r + 200 and ``verify`` accepted a forced proof of the account. Now the circuit
    is refused with one line naming the field, for the prover and the verifier alike."""
    pol = C.cme_intra_policy()
    pol["span"]["combined_commodities"][0]["intra_spreads"][0]["charge"] = str(R + 200)
    mkt = C.market(C.INTRA_PRICES)
    acct = C.account({"X2": 1, "X3": -1}, C.INTRA_PRICES, "1000")
    assert check(acct, mkt, pol).requirement == R + 200  # the scan nets to 0: the charge alone
    with monkeypatch.context() as mp:  # the cheater's own prover, without the check
        mp.setattr(SP, "coefficient", lambda value, *args, **kw: value)
        p, m, plan, cs = prover_cs(pol, mkt, acct)
        assert H.satisfied(cs)  # the circuit alone was fooled
        ch = secrets.token_bytes(32)
        bundle = H.forced_bundle(cs, statement_for(p, m, D(0), ch, plan, cs))
    with pytest.raises(PolicyError, match="spread charge is too large") as info:
        verify(bundle.to_json(), mkt, pol, "0", ch)
    assert info.value.field == "span.combined_commodities[0].intra_spreads[0].charge"
    # twin: what the fooled circuit proved is the policy with charge 200 (met by 1,000; 199.99 is not)
    assert C.witness_ok(C.cme_intra_policy(), mkt, acct)
    assert not C.witness_ok(C.cme_intra_policy(), mkt, C.account({"X2": 1, "X3": -1}, C.INTRA_PRICES, "199.99"))


def _span_edit(path, value):
    def edit(pol):
        doc = pol
        for key in path[:-1]:
            doc = doc[key]
        doc[path[-1]] = value
    return edit


CC = ("span", "combined_commodities")


def _zero_table_factor(pol: dict) -> None:
    """A factor of r on a table of zeros: the load-time bound (worst loss × factor) is then 0 and
    cannot see it; SPAN's charges and Deribit's add-ons still count it."""
    pol["scenarios"]["pnl"] = {sym: ["0"] * len(row) for sym, row in pol["scenarios"]["pnl"].items()}
    pol["scenarios"]["factor"] = _huge("")
WRAPS = {
    "span delta": (lambda: C.cme_inter_policy(), _span_edit(CC + (0, "instruments", "ZC", "delta"), _huge("5")),
                   "span.combined_commodities[0].instruments.ZC.delta"),
    "span ratio": (lambda: C.cme_inter_policy(), _span_edit(("span", "inter_spreads", 0, "ratio_a"), _huge("")),
                   "span.inter_spreads[0].ratio_a"),
    "span credit": (lambda: C.cme_inter_policy(), _span_edit(CC + (0, "price_scan_range"), _huge("")),
                    "span.inter_spreads[0].credit_rate"),
    "span som": (lambda: C.mcmillan_policy(call=True), _span_edit(CC + (0, "short_option_minimum"), _huge("")),
                 "span.combined_commodities[0].short_option_minimum"),
    "span factor": (lambda: C.cme_inter_policy(), lambda pol: _zero_table_factor(pol), "scenarios.factor"),
    "pme delta": (_addons_policy, _span_edit(("deribit_pme", "deltas", "XC"), _huge("5")), "deribit_pme.deltas.XC"),
    "pme roll": (_addons_policy, _span_edit(("deribit_pme", "roll_shock", 1, "rate"), _huge("02")),
                 "deribit_pme.roll_shock[1].rate"),
    "pme threshold": (_addons_policy, _span_edit(("deribit_pme", "delta_shock", "threshold"), _huge("")),
                      "deribit_pme.delta_shock.threshold"),
    "pme slope": (_addons_policy, _span_edit(("deribit_pme", "delta_shock", "slope"), _huge("01")),
                  "deribit_pme.delta_shock.slope"),
    "pme cap": (_addons_policy, _span_edit(("deribit_pme", "delta_shock", "cap"), _huge("2")), "deribit_pme.delta_shock.cap"),
    "pme option rate": (_addons_policy, _span_edit(("deribit_pme", "option_contingency", "rate"), _huge("01")),
                        "deribit_pme.option_contingency.rate"),
    "pme futures value": (_addons_policy, _span_edit(("deribit_pme", "futures_contingency", "instruments", "A"), _huge("")),
                          "deribit_pme.futures_contingency.instruments.A"),
    "pme futures rate": (_addons_policy, _span_edit(("deribit_pme", "futures_contingency", "rate"), _huge("01")),
                         "deribit_pme.futures_contingency.rate"),
    "pme factor": (_addons_policy, lambda pol: _zero_table_factor(pol), "scenarios.factor"),
}


@pytest.mark.parametrize("name", sorted(WRAPS))
def test_add_on_numbers_that_would_wrap_are_refused_naming_the_field(name):
    make, edit, field = WRAPS[name]
    pol = make()
    p = load_policy(pol)
    mkt = C.market({s: "1" for s in p.symbols})
    build(plan_margin(p, load_market(mkt, p), D(0)))  # twin: the venue's own numbers build
    edit(pol)
    p = load_policy(pol)
    # Refused by whichever guard comes first: the plan's public numbers against the group order
    # (circuits/margin/public_numbers.py, field "factor") or the add-on coefficient where it is formed.
    with pytest.raises((PolicyError, OverflowRiskError)) as info:
        build(plan_margin(p, load_market(mkt, p), D(0)))
    if isinstance(info.value, PolicyError):
        assert "too large for the margin circuit" in str(info.value) and info.value.field == field
    else:
        assert "group order" in str(info.value) and field.endswith(info.value.field)


# --- binding: every public number of the add-ons is in the circuit ------------------------------------------


BINDS = {
    "intra charge": (C.cme_intra_policy, _span_edit(CC + (0, "intra_spreads", 0, "charge"), "201")),
    "intra ratio": (C.cme_intra_policy, _span_edit(CC + (0, "intra_spreads", 0, "ratio_b"), "2")),
    "intra order": (C.cme_intra_policy, lambda pol: pol["span"]["combined_commodities"][0]["intra_spreads"].reverse()),
    "tiers": (C.cme_intra_policy, lambda pol: pol["span"]["combined_commodities"][0]["instruments"].update(
        {"X3": {"tier": 4}, "X4": {"tier": 3}})),
    "delta": (C.cme_inter_policy, _span_edit(CC + (0, "instruments", "ZC", "delta"), "0.99")),
    "price scan range": (C.cme_inter_policy, _span_edit(CC + (0, "price_scan_range"), "1751")),
    "credit rate": (C.cme_inter_policy, _span_edit(("span", "inter_spreads", 0, "credit_rate"), "0.56")),
    "inter ratio": (C.cme_inter_policy, _span_edit(("span", "inter_spreads", 0, "ratio_a"), "2.5")),
    "som": (lambda: C.mcmillan_policy(call=True, som="10"), _span_edit(CC + (0, "short_option_minimum"), "11")),
    "pme delta": (_addons_policy, _span_edit(("deribit_pme", "deltas", "XC"), "0.51")),
    "pme roll rate": (_addons_policy, _span_edit(("deribit_pme", "roll_shock", 0, "rate"), "0.02")),
    "pme threshold": (_addons_policy, _span_edit(("deribit_pme", "delta_shock", "threshold"), "3")),
    "pme slope": (_addons_policy, _span_edit(("deribit_pme", "delta_shock", "slope"), "0.02")),
    "pme cap": (_addons_policy, _span_edit(("deribit_pme", "delta_shock", "cap"), "0.3")),
    "pme option rate": (_addons_policy, _span_edit(("deribit_pme", "option_contingency", "rate"), "0.02")),
    "pme futures value": (_addons_policy, _span_edit(("deribit_pme", "futures_contingency", "instruments", "B"), "2")),
    "pme futures rate": (_addons_policy, _span_edit(("deribit_pme", "futures_contingency", "rate"), "0.02")),
    "pme rounding": (_addons_policy, _span_edit(("deribit_pme", "worst_case_rounding"), {"mode": "up", "decimals": 1})),
}


@pytest.mark.parametrize("name", sorted(BINDS))
def test_every_public_number_of_the_add_ons_changes_the_circuit(name):
    make, edit = BINDS[name]
    pol = make()
    p = load_policy(pol)
    mkt = C.market({s: "1" for s in p.symbols})
    before = H.fingerprint(build(plan_margin(p, load_market(mkt, p), D(0))))
    pol = copy.deepcopy(pol)
    edit(pol)
    p = load_policy(pol)
    assert H.fingerprint(build(plan_margin(p, load_market(mkt, p), D(0)))) != before
