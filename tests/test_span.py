"""CME SPAN as CME computes it (issue 14, items 4): scanning risk per combined commodity with the
extreme move as a parameter, intra-commodity spread charges, inter-commodity spread credits and the
short option minimum — in the engine and in the circuit.

Published figures, reproduced to the published digit:

* CME Group, *Spread calculations* (https://cmegroup.com/clearing/margins/spread-calc.html):
  corn vs soybeans 2:1 at 55 %: outright $6,000, credit $3,300, margin **$2,700**; product X
  months 2/3/4 (outright $500/$500/$750, intra charges $200/$50/$0): **$200**, **$300**, **$250**.
* L. G. McMillan, *Options as a Strategic Investment*, ch. 34, pp. 668–670: S&P 500 future,
  $10,000 range, extreme move 14 points ($7,000): one future **$10,000**; one long Dec 410 call
  **$3,990**; the covered write **$6,620**.

Every "it works" test has a twin: the figure without the rule (what zkmargin gave before), an
account one unit short refused by the prover with its forced proof rejected, a cheating prover's
witness refused by the circuit.
"""

from __future__ import annotations

import json
import secrets
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).parent))

import span_cases as C  # noqa: E402

import zkmargin.circuits.margin.exact_ops as X  # noqa: E402
from zkmargin import check, prove, verify  # noqa: E402
from zkmargin.cli.main import cli  # noqa: E402
from zkmargin.errors import BelowRequirementError, InputError, PolicyError, VerificationError  # noqa: E402
from zkmargin.rules.engine import span_breakdown  # noqa: E402
from zkmargin.rules.models import load_policy  # noqa: E402

D = Decimal


def requirement(policy: dict, prices: dict, sizes: dict) -> Decimal:
    return check(C.account(sizes, prices, "0"), C.market(prices), policy, 0).requirement


# --- CME's inter-commodity spread credit -----------------------------------------------------------


@pytest.mark.parametrize("sizes", [{"ZC": 2, "ZS": -1}, {"ZC": -2, "ZS": 1}])
def test_cme_inter_commodity_credit_gives_2700(sizes):
    """Corn vs soybeans 2:1, 55 %: 2·1,750 + 2,500 = 6,000 outright, credit 3,500·0.55 +
    2,500·0.55 = 3,300, margin 2,700 (either direction: A vs B is long vs short)."""
    pol = C.cme_inter_policy()
    b = span_breakdown(load_policy(pol), {k: D(v) for k, v in sizes.items()})
    assert [c.scan for c in b.commodities] == [D(3500), D(2500)]
    assert sum(c.credit for c in b.commodities) == D(3300)
    assert [c.credit for c in b.commodities] == [D(1925), D(1375)]
    assert requirement(pol, C.INTER_PRICES, sizes) == D(2700)


def test_cme_inter_commodity_twins_no_credit():
    """Without the spread (zkmargin before issue 14), or with both legs on one side, the outright
    6,000 stands."""
    assert requirement(C.cme_inter_policy(spreads=False), C.INTER_PRICES, {"ZC": 2, "ZS": -1}) == D(6000)
    assert requirement(C.cme_inter_policy(), C.INTER_PRICES, {"ZC": 2, "ZS": 1}) == D(6000)
    # one corn against one soybean is half a 2:1 spread (SPAN spreads deltas, not contracts):
    # 4,250 − 0.55·(0.5·2·1,750 + 0.5·1·2,500) = 2,600
    assert requirement(C.cme_inter_policy(), C.INTER_PRICES, {"ZC": 1, "ZS": -1}) == D(2600)


# --- CME's intra-commodity spread charge -------------------------------------------------------------


@pytest.mark.parametrize("sizes,published", [({"X2": 1, "X3": -1}, 200), ({"X2": 1, "X4": -1}, 300),
                                             ({"X3": 1, "X4": -1}, 250)])
def test_cme_intra_commodity_charges(sizes, published):
    """(outright leg 1 − outright leg 2) + intra charge: (500−500)+200, (750−500)+50,
    (750−500)+0."""
    assert requirement(C.cme_intra_policy(), C.INTRA_PRICES, sizes) == D(published)


@pytest.mark.parametrize("sizes,before", [({"X2": 1, "X3": -1}, 0), ({"X2": 1, "X4": -1}, 250)])
def test_cme_intra_twins_scan_only(sizes, before):
    """Without the spread charge (zkmargin before issue 14): 0 and 250, CME's 200 and 300."""
    assert requirement(C.cme_intra_policy(spreads=False), C.INTRA_PRICES, sizes) == D(before)


# --- McMillan's S&P 500 example, through the builder ---------------------------------------------------


def _future_row(policy: dict) -> list[Decimal]:
    return [D(v) * 500 for v in policy["scenarios"]["pnl"]["SP"]]


def test_mcmillan_outright_future_is_10000_with_a_two_range_extreme_move():
    """McMillan: the extreme move is 14 points on a 20-point range ($7,000), i.e. 2 ranges at
    35 %; the SPAN requirement of one long future is the largest loss, $10,000. The builder's row
    matches his printed row at full range (±10,000) and at the extremes (±7,000) exactly; at 1/3
    and 2/3 of the range McMillan prints 3,330 and 6,670 (rounded to $10) where the builder gives
    6.67 and 13.33 points per unit at the policy's 2 decimals (3,335 and 6,665): within his
    rounding, and never the worst scenario."""
    pol = C.mcmillan_policy()
    row = _future_row(pol)
    for ours, his in zip(row, C.MCMILLAN_FUTURE_ROW):
        if abs(his) in (0, 7000, 10000):
            assert ours == his
        else:
            assert abs(ours - his) <= 5
    assert requirement(pol, C.MCMILLAN_PRICES, {"SP": 500}) == D(10000)


def test_mcmillan_twin_cme_default_extreme_gives_10500():
    """With the extreme move fixed at 3 ranges and 35 % (zkmargin before issue 14), one future
    loses 1.05 ranges in scenario 16: 10,500, not McMillan's 10,000."""
    pol = C.mcmillan_policy(extreme_move=3.0)
    assert _future_row(pol)[15] == D(-10500)
    assert requirement(pol, C.MCMILLAN_PRICES, {"SP": 500}) == D(10500)


def test_mcmillan_call_and_covered_write():
    """McMillan's Dec 410 call array (p. 669) beside the builder's future: the long call alone
    $3,990 (futures down 3/3, volatility down); the covered write (long future, short call)
    $6,620 (p. 670: futures down 3/3, volatility up: −10,000 + 3,380)."""
    pol = C.mcmillan_policy(call=True)
    prices = {**C.MCMILLAN_PRICES, "SPC410": "20"}
    assert requirement(pol, prices, {"SPC410": 500}) == D(3990)
    assert requirement(pol, prices, {"SP": 500, "SPC410": -500}) == D(6620)


def test_mcmillan_through_the_scenarios_command(tmp_path):
    """``zkmargin scenarios --grid span --extreme-move 2 --extreme-cover 0.35`` writes the table
    that gives 10,000; without the flags 10,500."""
    base = C.base_policy(C.futures("SP"))
    base["span"] = {"version": 1, "combined_commodities": [{"name": "SP", "instruments": {"SP": {}}}]}
    (tmp_path / "p.json").write_text(json.dumps(base))
    (tmp_path / "m.json").write_text(json.dumps(C.market(C.MCMILLAN_PRICES)))
    got = {}
    for name, extra in (("two", ["--extreme-move", "2", "--extreme-cover", "0.35"]), ("default", [])):
        out = tmp_path / f"{name}.json"
        r = CliRunner().invoke(cli, ["scenarios", str(tmp_path / "p.json"), "-m", str(tmp_path / "m.json"),
                                     "--spot-shock", "0.05", "-o", str(out), *extra], catch_exceptions=False)
        assert r.exit_code == 0, r.stderr
        got[name] = requirement(json.loads(out.read_text()), C.MCMILLAN_PRICES, {"SP": 500})
    assert got == {"two": D(10000), "default": D(10500)}


@pytest.mark.parametrize("args,needle", [(["--extreme-cover", "1.5"], "<= 1"),
                                         (["--grid", "deribit", "--extreme-move", "2"], "only the span grid"),
                                         (["--vol-scenarios", "3"], "only the deribit grid")])
def test_scenarios_command_refuses_bad_extreme_parameters(tmp_path, args, needle):
    (tmp_path / "p.json").write_text(json.dumps(C.base_policy(C.futures("SP"))))
    (tmp_path / "m.json").write_text(json.dumps(C.market(C.MCMILLAN_PRICES)))
    r = CliRunner().invoke(cli, ["scenarios", str(tmp_path / "p.json"), "-m", str(tmp_path / "m.json"),
                                 "-o", str(tmp_path / "o.json"), *args])
    assert r.exit_code == 2 and needle in r.stderr and not (tmp_path / "o.json").exists()


# --- short option minimum ----------------------------------------------------------------------------


def test_short_option_minimum_floors_a_naked_short_call():
    """A naked short call's scan risk is 8,060 (McMillan's up-3/3, volatility-up row); a short
    option minimum of $10,000 per contract (20 per unit; not a published CME rate) lifts the
    commodity to 10,000. A long call is not short: its SOM is 0 and the scan (3,990) stands."""
    prices = {**C.MCMILLAN_PRICES, "SPC410": "20"}
    assert requirement(C.mcmillan_policy(call=True), prices, {"SPC410": -500}) == D(8060)
    pol = C.mcmillan_policy(call=True, som="20")
    assert requirement(pol, prices, {"SPC410": -500}) == D(10000)
    assert requirement(pol, prices, {"SPC410": 500}) == D(3990)


# --- proofs: one unit short is refused, its forced proof rejected ----------------------------------


PROOF_CASES = {
    "cme inter": (C.cme_inter_policy, C.INTER_PRICES, {"ZC": 2, "ZS": -1}, "2700"),
    "cme intra": (C.cme_intra_policy, C.INTRA_PRICES, {"X2": 1, "X4": -1}, "300"),
    "som": (lambda: C.mcmillan_policy(call=True, som="20"), {**C.MCMILLAN_PRICES, "SPC410": "20"},
            {"SP": 0, "SPC410": -500}, "10000"),
}


@pytest.mark.parametrize("name", sorted(PROOF_CASES))
def test_span_proof_at_the_requirement_and_one_cent_short(name):
    make, prices, sizes, req = PROOF_CASES[name]
    pol, mkt = make(), C.market(prices)
    ok = C.account(sizes, prices, req)
    short = C.account(sizes, prices, str(D(req) - D("0.01")))
    ch = secrets.token_bytes(32)
    assert verify(prove(ok, mkt, pol, "0", ch).to_json(), mkt, pol, "0", ch).valid
    with pytest.raises(BelowRequirementError):
        prove(short, mkt, pol, "0", ch)
    forged = prove(short, mkt, pol, "0", ch, _check_witness=False)
    with pytest.raises(VerificationError):
        verify(forged.to_json(), mkt, pol, "0", ch)


# --- a cheating prover: every private quantity of a spread is pinned -----------------------------


def _inter_at_requirement():
    """Four corn against one soybean: ⌊4/2⌋ = 2 and ⌊1/1⌋ = 1, one spread; 7,000 + 2,500 −
    3,300 = 6,200."""
    pol = C.cme_inter_policy()
    sizes = {"ZC": 4, "ZS": -1}
    assert requirement(pol, C.INTER_PRICES, sizes) == D(6200)
    return pol, C.market(C.INTER_PRICES), C.account(sizes, C.INTER_PRICES, "6200")


def _intra_at_requirement():
    """Month 2 long, month 4 short: scan 250 + one spread at 50 = 300."""
    sizes = {"X2": 1, "X4": -1}
    return C.cme_intra_policy(), C.market(C.INTRA_PRICES), C.account(sizes, C.INTRA_PRICES, "300")


def test_honest_witness_for_the_cheating_twins():
    assert C.witness_ok(*_inter_at_requirement()) and C.witness_ok(*_intra_at_requirement())


def test_fewer_intra_spreads_are_refused(monkeypatch):
    """Claiming no calendar spread (charge 0 instead of 50) is what a prover under an intra charge
    wants: refused."""
    monkeypatch.setattr(X, "_min_value", lambda a, b: 0)
    assert not C.witness_ok(*_intra_at_requirement())


@pytest.mark.parametrize("cheat", [lambda a, b: min(a, b) + 1, lambda a, b: min(a, b) - 1,
                                   lambda a, b: max(a, b)], ids=["more spreads", "fewer", "the max"])
def test_spread_count_is_exact(monkeypatch, cheat):
    """A prover claiming more spreads (a larger credit) is refused; so is one claiming fewer (the
    minimum is pinned exactly, whichever side the prover would prefer)."""
    monkeypatch.setattr(X, "_min_value", cheat)
    assert not C.witness_ok(*_inter_at_requirement())


@pytest.mark.parametrize("delta", [1, -1])
def test_floor_of_a_spread_leg_is_exact(monkeypatch, delta):
    """⌊|D|/ratio⌋ of the 2:1 corn leg: one more or one less is refused."""
    monkeypatch.setattr(X, "_floor_value", lambda a, d: a // d + delta)
    assert not C.witness_ok(*_inter_at_requirement())


def test_scan_may_only_be_overstated(monkeypatch):
    """The worst loss M is a maximum: understating it is refused; overstating it is accepted but
    raises the requirement, so the account at exactly 2,700 then fails."""
    monkeypatch.setattr(X, "_worst_value", lambda losses: max([0, *losses]) - 1)
    assert not C.witness_ok(*_inter_at_requirement())
    pol, mkt, _ = _inter_at_requirement()
    rich = C.account({"ZC": 4, "ZS": -1}, C.INTER_PRICES, "10000")
    monkeypatch.setattr(X, "_worst_value", lambda losses: max([0, *losses]) + 100)
    assert C.witness_ok(pol, mkt, rich)
    assert not C.witness_ok(*_inter_at_requirement())


# --- the circuit agrees with the engine (hypothesis) -------------------------------------------------


PROPERTY = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPERTY
@given(case=C.span_cases())
def test_span_circuit_agrees_with_the_engine(case):
    """Random SPAN policies (tiers, intra spreads with ratios 1, 2, 1.5 and 0.5, inter spreads,
    SOM, rounding, factor): with the balance on the requirement rounded up to the amount scale
    the engine meets and the witness satisfies; one unit less, neither."""
    pol, mkt, sizes = case
    prices = mkt["prices"]
    req = requirement(pol, prices, sizes)
    bal = req.quantize(D("0.0001"), rounding="ROUND_CEILING")
    for b, meets in ((bal, True), (bal - D("0.0001"), False)):
        acct = C.account(sizes, prices, str(b))
        if b < 0:
            continue
        assert check(acct, mkt, pol, 0).meets is meets
        assert C.witness_ok(pol, mkt, acct) is meets


# --- the policy section is checked --------------------------------------------------------------------


@pytest.mark.parametrize("edit,needle", [
    (lambda p: p["span"].update(version=2), "span version 1"),
    (lambda p: p["span"]["combined_commodities"][1]["instruments"].update(ZC={}), "already in"),
    (lambda p: p["span"].update(combined_commodities=p["span"]["combined_commodities"][:1], inter_spreads=[]),
     "'ZS' is in no combined commodity"),
    (lambda p: p["span"]["inter_spreads"][0].update(cc_b="WHEAT"), "no combined commodity 'WHEAT'"),
    (lambda p: p["span"]["inter_spreads"][0].update(ratio_a="0"), "must be > 0"),
    (lambda p: p["span"]["inter_spreads"][0].update(credit_rate="1.5"), "must be <= 1"),
    (lambda p: p["span"]["inter_spreads"][0].update(credit_rate="0.555"), "decimals"),
    (lambda p: p.update(slots=4), "K-slot"),
    (lambda p: p.update(deribit_pme={"version": 1}), "either 'span' or 'deribit_pme'"),
])
def test_span_section_errors(edit, needle):
    pol = C.cme_inter_policy()
    edit(pol)
    with pytest.raises(InputError, match=needle):
        load_policy(pol)


def test_intra_spread_needs_known_tiers():
    pol = C.cme_intra_policy()
    pol["span"]["combined_commodities"][0]["intra_spreads"][0]["tier_b"] = 7
    with pytest.raises(PolicyError, match="tier 7"):
        load_policy(pol)
    assert load_policy(C.cme_intra_policy()).span is not None
