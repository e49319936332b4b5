"""Red team: risk measures and margin-call zones (issue 14), attacked by a prover that runs its own
code (``redteam_cheat.cheat``) and by public numbers that wrap modulo the group order.

Private wires (docs/notes/risk-measures.md) and what binds each:

    ES       t, u_s, W      t − L_lo ≥ 0, u_s ≥ 0, u_s ≥ loss_s − t, W ≥ k·t + Σ u_s  (lookups)
    VaR      V, f_s         f_s boolean, Σ f_s ≤ k − 1, V ≥ loss_s unless flagged
    exact    z, h_s, g_s    V ≤ max(0, ℓ_(k)), W ≤ max(0, S_k)  (zones only)
    zones    every requirement pinned from both sides; θ_z = ratio_z·REQ + T compared with E

Three bugs this pass found in zone proofs (fixed; docs/notes/risk-measures.md, "Red team"):

1. zone proofs built their circuit without the exact-integer bound that ``build_checked`` puts on
   ordinary proofs: a threshold T with T·10^(Zc−da) ≡ small (mod r) proved "at least healthy" for
   an account the engine puts in liquidation, and ``verify`` accepted it;
2. a ratio rule (Hyperliquid's leverage, dYdX's open interest) was bounded from below only, so a
   prover could overstate it by one unit and prove "exactly margin_call" for a healthy account;
3. an option-rule instrument crashed the zone prover (IndexError) instead of being refused.
"""

from __future__ import annotations

import copy
import secrets
import sys
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import margin_strategies as S  # noqa: E402
import redteam_cheat as H  # noqa: E402

import zkmargin.circuits.margin.risk_measures as RM  # noqa: E402
import zkmargin.circuits.margin.zones as ZM  # noqa: E402
from zkmargin import check, verify  # noqa: E402
from zkmargin.api import statement_for  # noqa: E402
from zkmargin.circuits.cs import ConstraintSystem  # noqa: E402
from zkmargin.circuits.margin import build, plan_margin, tier_rules, witness_values  # noqa: E402
from zkmargin.circuits.margin.zones import ZoneClaim, plan_zone, zone_circuit  # noqa: E402
from zkmargin.circuits.provable import build_checked  # noqa: E402
from zkmargin.crypto.field import R  # noqa: E402
from zkmargin.errors import (  # noqa: E402
    InputError,
    OverflowRiskError,
    PolicyError,
    UnsatisfiedError,
    VerificationError,
)
from zkmargin.rules.engine import zone_report  # noqa: E402
from zkmargin.rules.models import load_policy  # noqa: E402

LADDER = [{"name": "healthy", "requirement": "initial", "ratio": "1.2"},
          {"name": "margin_call", "requirement": "maintenance", "ratio": "1"},
          {"name": "liquidation"}]
NAMES = [z["name"] for z in LADDER]


def zoned(mode: str = "cross", measure=None, threshold="0") -> dict:
    case = S.base_case(mode, threshold)
    case["policy"]["zones"] = copy.deepcopy(LADDER)
    if measure:
        case["policy"]["scenarios"]["measure"] = measure
    return case


def zone_cs(case: dict, claim: ZoneClaim):
    p, m, a, t = S.load(case)
    plan = plan_zone(p, m, t, claim)
    cs = ConstraintSystem.for_prover(witness_values(plan, a))
    zone_circuit(cs, plan)
    return p, m, t, plan, cs


def forced_zone_bundle(case: dict, claim: ZoneClaim):
    p, m, t, plan, cs = zone_cs(case, claim)
    ch = secrets.token_bytes(32)
    statement = {**statement_for(p, m, t, ch, plan, cs), "zone": claim.to_json(NAMES)}
    return H.forced_bundle(cs, statement), ch


def on_healthy_threshold(case: dict) -> Decimal:
    """The threshold that puts the equity exactly on the healthy rung's threshold."""
    zr = zone_report(case["account"], case["market"], case["policy"], 0)
    return zr.equity - zr.thresholds[0]


# --- bug 1: a threshold that wraps ------------------------------------------------------------------


def _wrapping_threshold(case: dict) -> Decimal:
    """T with T·10^(Zc − da) = r·1 − (r mod 10^(Zc−da)): the circuit reads about −0.0002."""
    p, m, a, t = S.load(case)
    plan = plan_zone(p, m, t, ZoneClaim(0, False))
    Zc = max([plan.Z] + [kp.Z for kp in plan.kind_plans.values()])
    digits = str(R // 10 ** (Zc - plan.da))
    return Decimal(digits[:-plan.da] + "." + digits[-plan.da:])


def test_a_threshold_that_wraps_modulo_r_cannot_prove_a_zone(monkeypatch):
    """Before the fix, 'at least healthy' at T ≈ 5.2·10^66 was accepted by verify for this account
    (the engine: liquidation). Now plan_zone refuses T (an input error naming the threshold) for
    the prover and the verifier alike, and a bundle forged with the check switched off is refused."""
    case = zoned()
    T = _wrapping_threshold(case)
    assert zone_report(case["account"], case["market"], case["policy"], T).name == "liquidation"
    p, m, a, _ = S.load(case)
    with pytest.raises(InputError, match="threshold is too large") as info:
        plan_zone(p, m, T, ZoneClaim(0, False))
    assert info.value.field == "threshold"
    big = {**case, "threshold": S.canonical(T)}
    with monkeypatch.context() as mp:  # the cheater's own prover, without the checks
        mp.setattr(ZM, "_check_numbers", lambda *args: None)
        mp.setattr(ZM, "coefficient", lambda value, *args, **kw: value)
        bundle, ch = forced_zone_bundle(big, ZoneClaim(0, False))
        assert H.satisfied(zone_cs(big, ZoneClaim(0, False))[4])  # the circuit alone was fooled
    with pytest.raises(InputError, match="threshold is too large"):
        verify(bundle.to_json(), case["market"], case["policy"], T, ch)
    # twin: the ordinary statement refuses the same threshold (build_checked, issue 9), and a
    # large threshold that fits is judged by the zone circuit like the engine judges it
    plain = load_policy({k: v for k, v in case["policy"].items() if k != "zones"})
    with pytest.raises(InputError, match="threshold is too large"):
        build_checked(plan_margin(plain, m, T), None, plain, m, T)
    fits = {**case, "threshold": "100000000000000000000"}
    assert not H.satisfied(zone_cs(fits, ZoneClaim(0, False))[4])
    assert H.satisfied(zone_cs(fits, ZoneClaim(2, True))[4])


# --- bug 2: a ratio rule in a zone proof ---------------------------------------------------------------


def _leverage_case() -> dict:
    case = zoned()
    case["policy"]["instruments"][0]["initial"] = {"leverage": "10"}
    case["threshold"] = S.canonical(on_healthy_threshold(case))
    return case


def test_a_ratio_rule_is_exact_in_a_zone_proof(monkeypatch):
    """The account's equity is exactly on the healthy threshold. Overstating A's initial margin
    N/10 by one unit at ds+dp+dr moves its rounded requirement up a cent, the healthy threshold
    above the equity: before the fix the circuit accepted 'exactly margin_call' and verify agreed.
    Now im is pinned from above too; refused, and the forced proof rejected."""
    case = _leverage_case()
    assert zone_report(case["account"], case["market"], case["policy"], case["threshold"]).name == "healthy"
    assert H.satisfied(zone_cs(case, ZoneClaim(0, True))[4])  # twin: the honest claim
    assert not H.satisfied(zone_cs(case, ZoneClaim(1, True))[4])
    done = H.cheat(monkeypatch, tier_rules, "ratio_requirement", lambda v: v + 1)
    with pytest.raises(UnsatisfiedError, match="at most N·1/10 rounded up"):
        zone_cs(case, ZoneClaim(1, True))[4].check_witness()
    assert done
    bundle, ch = forced_zone_bundle(case, ZoneClaim(1, True))
    monkeypatch.undo()
    with pytest.raises(VerificationError):
        verify(bundle.to_json(), case["market"], case["policy"], case["threshold"], ch)


# --- bug 3: option rules ---------------------------------------------------------------------------------


def test_option_standard_margin_is_refused_by_zone_proofs_not_crashed_on():
    case = zoned()
    case["policy"]["instruments"].append(
        {"symbol": "O", "kind": "option", "underlying": "A", "strike": "260", "expiry": "2030-12-27T08:00:00Z",
         "right": "call", "maintenance": {"option": {"rate": "0.075"}}, "initial": {"option": {"rate": "0.15", "floor": "0.1"}}})
    case["market"]["prices"]["O"] = "3"
    assert check(case["account"], case["market"], case["policy"]).zone["name"] == "healthy"  # the engine's
    p, m, _, t = S.load(case)
    with pytest.raises(PolicyError, match="option standard margin") as info:
        plan_zone(p, m, t, ZoneClaim(0, True))
    assert info.value.field == "instruments[3].maintenance.option"


# --- public numbers that wrap -----------------------------------------------------------------------------


def _huge(decimal_part: str) -> str:
    return f"{R}.{decimal_part}"


@pytest.mark.parametrize("edit,field", [
    (lambda pol: pol["zones"][0].__setitem__("ratio", _huge("2")), "zones[0]"),
    # the maintenance policy's *initial* rates are not in its load-time bound; the ladder reads them
    (lambda pol: pol["instruments"][2]["initial"].__setitem__("rate", _huge("04")), "zones[0]"),
], ids=["ratio", "initial rate"])
def test_zone_numbers_that_would_wrap_are_refused(edit, field):
    """A ratio of r + 1.2 reads as 1.2 in the field, an initial rate of r + 0.04 as 0.04: the
    circuit would prove the ladder with other numbers than the engine's. Twin: the plain numbers."""
    case = zoned()
    p, m, _, t = S.load(case)
    plan_zone(p, m, t, ZoneClaim(0, True))
    edit(case["policy"])
    p, m, _, t = S.load(case)
    # Two guards refuse it, whichever comes first: the plan's public numbers against the group
    # order (circuits/margin/public_numbers.py) or the zone ladder's integer bound (zones).
    with pytest.raises((PolicyError, OverflowRiskError)) as info:
        plan_zone(p, m, t, ZoneClaim(0, True))
    if isinstance(info.value, PolicyError):
        assert "range checks stop" in str(info.value) and info.value.field == field
    else:
        assert "group order" in str(info.value) and info.value.field


def test_a_scenario_factor_that_wraps_is_refused():
    """Portfolio mode with a table of zeros: the load-time bound (worst loss × factor) is 0 whatever
    the factor, so a factor of r + 1 loaded and read as 1. Twin: factor 1 builds."""
    case = S.base_case("portfolio", "0")
    case["policy"]["scenarios"]["pnl"] = {k: ["0"] * 3 for k in case["policy"]["scenarios"]["pnl"]}
    p, m, _, t = S.load(case)
    build(plan_margin(p, m, t))
    case["policy"]["scenarios"]["initial_factor"] = _huge("0")
    p, m, _, t = S.load(case)
    with pytest.raises((PolicyError, OverflowRiskError)) as info:  # whichever guard comes first
        build(plan_margin(p, m, t))
    assert "scenario factor" in str(info.value) or info.value.field == "factor"


# --- risk measures: a forged ES wire caught by the lookup argument --------------------------------------


def test_an_understated_expected_shortfall_is_rejected_by_the_lookups(monkeypatch):
    """A prover ranking the scenarios from the smallest loss claims W = the sum of the two smallest
    losses. Every phase-1 constraint holds (the final comparison included, one unit above the honest
    excess); only the range lookups of ES's own inequalities fail, and the verifier's logUp check
    rejects the forced proof. Twin: the honest ranking is refused at that threshold."""
    case = S.base_case("portfolio", "0")
    case["policy"]["scenarios"]["measure"] = {"kind": "expected_shortfall", "k": 2}
    rep = check(case["account"], case["market"], case["policy"])
    t = S.to_grid(rep.excess, 4) + S.ulp(4)
    p, m, a, _ = S.load(case)
    plan = plan_margin(p, m, t)
    assert not H.satisfied(build(plan, witness_values(plan, a)))
    monkeypatch.setattr(RM, "_ranked", lambda cs, ls: sorted(range(len(ls)), key=lambda s: cs.eval_signed(ls[s])))
    cs = build(plan, witness_values(plan, a))
    # the witness check runs every phase-1 constraint first (the final comparison is fooled), then
    # the lookups' clear-text check, which names an ES inequality
    with pytest.raises(UnsatisfiedError, match="ES: .*not a row"):
        cs.check_witness()
    ch = secrets.token_bytes(32)
    bundle = H.forced_bundle(cs, statement_for(p, m, t, ch, plan, cs))
    with pytest.raises(VerificationError):
        verify(bundle.to_json(), case["market"], case["policy"], t, ch)


@pytest.mark.parametrize("measure", [None, {"kind": "var", "k": 2}])
def test_an_overstated_measure_cannot_fake_a_worse_exact_zone(monkeypatch, measure):
    """V + 10^4 (worst loss, VaR) would lift the healthy threshold far above the equity; the exact
    mode's upper bound refuses it. Twin: the honest V proves exactly healthy."""
    case = zoned("portfolio", measure=measure)
    case["threshold"] = S.canonical(on_healthy_threshold(case))
    assert H.satisfied(zone_cs(case, ZoneClaim(0, True))[4])
    done = H.cheat(monkeypatch, ZM, "var_bound", lambda v: v + 10**4)
    for claim in (ZoneClaim(1, True), ZoneClaim(0, True)):
        with pytest.raises(UnsatisfiedError, match="at least the value unless unpicked"):
            zone_cs(case, claim)[4].check_witness()
    assert done


# --- binding: every public number of these rules is in the circuit ---------------------------------------


def _digest_zone(case: dict, claim: ZoneClaim) -> bytes:
    """The verifier's whole circuit: the phase-1 digest and the phase-2 constraints at fixed
    challenges. (The digest alone does not cover the combinations the range lookups check: the
    zone claim and the policy reach the transcript through the statement; docs/notes/risk-measures.md.)"""
    p, m, _, t = S.load(case)
    return H.fingerprint(ZM.build_zone(plan_zone(p, m, t, claim)))


@pytest.mark.parametrize("edit", [
    lambda c: c["policy"]["zones"][0].__setitem__("ratio", "1.25"),
    lambda c: c["policy"]["zones"][1].__setitem__("ratio", "1.001"),
    lambda c: c["policy"]["scenarios"].__setitem__("measure", {"kind": "var", "k": 2}),
    lambda c: c["policy"]["scenarios"].__setitem__("measure", {"kind": "expected_shortfall", "k": 3}),
    lambda c: c["policy"]["scenarios"].__setitem__("initial_factor", "1.6"),
    lambda c: c["policy"]["scenarios"].__setitem__("factor", "1.1"),
    lambda c: c.__setitem__("threshold", "0.0001"),
], ids=["healthy ratio", "margin_call ratio", "VaR k", "ES k", "initial factor", "factor", "threshold"])
def test_every_public_number_of_a_zone_proof_changes_its_circuit(edit):
    case = zoned("portfolio", measure={"kind": "expected_shortfall", "k": 2})
    before = _digest_zone(case, ZoneClaim(1, True))
    assert before != _digest_zone(case, ZoneClaim(1, False)) != _digest_zone(case, ZoneClaim(0, True))
    edit(case)
    assert _digest_zone(case, ZoneClaim(1, True)) != before


def test_the_initial_kinds_rules_are_read_by_a_zone_proof_of_a_maintenance_policy():
    """The ladder's initial rung uses the initial rules of a maintenance policy: an initial rate
    changes the zone circuit (and not the ordinary circuit, which never reads it)."""
    case = zoned()
    p, m, _, t = S.load(case)
    ordinary = build(plan_margin(p, m, t)).digest()
    before = _digest_zone(case, ZoneClaim(0, True))
    case["policy"]["instruments"][2]["initial"]["rate"] = "0.041"
    p, m, _, t = S.load(case)
    assert build(plan_margin(p, m, t)).digest() == ordinary
    assert _digest_zone(case, ZoneClaim(0, True)) != before
    assert load_policy(case["policy"]).requirement == "maintenance"
