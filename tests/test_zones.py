"""Margin-call zones: the ladder in the policy, the engine's zone, the zone circuit against the
engine (hypothesis, every claim), and zone proofs with their failing twins — a better zone than
the account's refused by the prover and its forced proof rejected, a worse "exact" zone (which
needs an overstated requirement) rejected, a venue's ``min_zone`` enforced, a zone bundle refused
by a verifier that did not ask for one. docs/notes/risk-measures.md, "Zones".
"""

from __future__ import annotations

import copy
import re
import secrets
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))

import margin_strategies as S  # noqa: E402
import risk_strategies as RS  # noqa: E402

import zkmargin.circuits.margin.zones as ZM  # noqa: E402
import zkmargin.rules.engine.risk_measures as ERM  # noqa: E402
from zkmargin import check, prove, verify  # noqa: E402
from zkmargin.circuits.margin import witness_values  # noqa: E402
from zkmargin.circuits.margin.zones import ZoneClaim, build_zone, plan_zone  # noqa: E402
from zkmargin.documents.bundle import ProofBundle  # noqa: E402
from zkmargin.errors import (  # noqa: E402
    BelowRequirementError,
    InputError,
    PolicyError,
    StatementMismatchError,
    UnsatisfiedError,
    VerificationError,
    ZoneRejectedError,
)
from zkmargin.rules.engine import zone_report  # noqa: E402
from zkmargin.rules.models import load_policy  # noqa: E402

_HC = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

LADDER = [{"name": "healthy", "requirement": "initial", "ratio": "1.2"},
          {"name": "margin_call", "requirement": "maintenance", "ratio": "1"},
          {"name": "liquidation"}]


def zoned(mode: str, threshold="0", measure=None) -> dict:
    case = S.base_case(mode, threshold)
    case["policy"]["zones"] = copy.deepcopy(LADDER)
    if measure:
        case["policy"]["scenarios"]["measure"] = measure
    return case


def satisfied(case: dict, claim: ZoneClaim) -> bool:
    p, m, a, t = S.load(case)
    plan = plan_zone(p, m, t, claim)
    cs = build_zone(plan, witness_values(plan, a))
    assert cs.digest() == build_zone(plan_zone(p, m, t, claim)).digest()
    try:
        cs.check_witness()
        return True
    except UnsatisfiedError:
        return False


def at_threshold(case: dict, between: int) -> Decimal:
    """The threshold that puts the equity exactly on rung ``between``'s threshold."""
    zr = zone_report(case["account"], case["market"], case["policy"], 0)
    return zr.equity - zr.thresholds[between]


# --- the ladder and the engine ----------------------------------------------------------------------


@pytest.mark.parametrize("mutate,match", [
    (lambda z: z.pop(), "catch-all|last zone"),
    (lambda z: z[:] + [], None),
    (lambda z: z.__setitem__(1, {"name": "healthy", "requirement": "maintenance", "ratio": "1"}), "named twice"),
    (lambda z: z.__setitem__(2, {"name": "liq", "requirement": "maintenance", "ratio": "0.5"}), "catch-all"),
    (lambda z: z.__setitem__(0, {"name": "healthy", "ratio": "1.2"}), "needs 'requirement' and 'ratio'"),
    (lambda z: z.__setitem__(0, {"name": "healthy", "requirement": "initial", "ratio": "0"}), "must be > 0"),
    (lambda z: z.__setitem__(0, {"name": "healthy", "requirement": "initial", "ratio": "1.00001"}), "decimals"),
    (lambda z: z.insert(2, {"name": "deep", "requirement": "maintenance", "ratio": "1"}), "must ask less"),
    (lambda z: z.insert(2, {"name": "deep", "requirement": "maintenance", "ratio": "0.5"}), None),
])
def test_ladder_checks(mutate, match):
    case = zoned("cross")
    mutate(case["policy"]["zones"])
    if match is None:
        load_policy(case["policy"])
        return
    with pytest.raises(InputError, match=match):  # PolicyError, or PrecisionError for the digits
        load_policy(case["policy"])


def test_zones_need_cross_or_portfolio_mode_without_slots():
    case = zoned("isolated")
    with pytest.raises(PolicyError, match="cross and portfolio"):
        load_policy(case["policy"])
    case = zoned("cross")
    case["policy"]["slots"] = 4
    with pytest.raises(PolicyError, match="position slots"):
        load_policy(case["policy"])


def test_engine_zone_by_hand():
    case = zoned("cross")
    # the base cross account: maintenance 51.27, initial 240.13 (rounded up per position), equity 3766.45
    zr = zone_report(case["account"], case["market"], case["policy"], 0)
    assert zr.requirements == {"initial": Decimal("240.13"), "maintenance": Decimal("51.27")}
    assert zr.thresholds == [Decimal("288.156"), Decimal("51.27"), None]
    assert (zr.index, zr.name) == (0, "healthy")
    assert zone_report(case["account"], case["market"], case["policy"], "3478.294").index == 0
    assert zone_report(case["account"], case["market"], case["policy"], "3478.2941").index == 1
    assert zone_report(case["account"], case["market"], case["policy"], "3715.18").index == 1
    assert zone_report(case["account"], case["market"], case["policy"], "3715.1801").index == 2
    rep = check(case["account"], case["market"], case["policy"], 0).to_json_dict()
    assert rep["zone"]["name"] == "healthy" and rep["zone"]["ladder"][1] == {"name": "margin_call", "threshold": "51.27"}


# --- the circuit against the engine -----------------------------------------------------------------


def _claims(n: int) -> list[ZoneClaim]:
    return [ZoneClaim(z, e) for z in range(n) for e in (False, True) if not (z == n - 1 and not e)]


@pytest.mark.parametrize("mode", ["cross", "portfolio"])
@settings(max_examples=25, deadline=None, derandomize=True, database=None, suppress_health_check=_HC)
@given(data=st.data())
def test_every_claim_is_satisfiable_iff_the_engine_puts_the_account_there(mode, data):
    case = data.draw(RS.zone_cases(mode))
    try:
        zr = zone_report(case["account"], case["market"], case["policy"], case["threshold"])
    except InputError:
        return  # a notional above the last bracket's cap: no requirement exists
    for claim in _claims(len(case["policy"]["zones"])):
        # exact: the engine's zone; at least: the equity meets the claimed zone's own threshold
        expect = zr.index == claim.index if claim.exact else zr.equity >= zr.thresholds[claim.index]
        assert satisfied(case, claim) == expect, (claim, zr.index)


@pytest.mark.parametrize("mode,measure", [("cross", None), ("portfolio", None),
                                          ("portfolio", {"kind": "expected_shortfall", "k": 2}),
                                          ("portfolio", {"kind": "var", "k": 1})])
def test_boundaries_equity_on_a_threshold_and_one_unit_below(mode, measure):
    case = zoned(mode, measure=measure)
    da = case["policy"]["decimals"]["amount"]
    for rung in (0, 1):
        t = at_threshold(case, rung)
        case["threshold"] = S.canonical(t)
        assert zone_report(case["account"], case["market"], case["policy"], t).index == rung
        assert satisfied(case, ZoneClaim(rung, True)) and satisfied(case, ZoneClaim(rung, False))
        assert not satisfied(case, ZoneClaim(rung + 1, True))
        case["threshold"] = S.canonical(t + S.ulp(da))
        assert zone_report(case["account"], case["market"], case["policy"], t + S.ulp(da)).index == rung + 1
        assert not satisfied(case, ZoneClaim(rung, True)) and not satisfied(case, ZoneClaim(rung, False))
        assert satisfied(case, ZoneClaim(rung + 1, True))


def test_an_overstated_rounding_cannot_fake_a_worse_exact_zone(monkeypatch):
    """The upper bounds need exact requirements: a prover rounding the requirements one unit too
    high (so the 'healthy' threshold rises above its equity, and it could claim exactly
    'margin_call') is refused by the exact rounding, whatever it claims; its honest rounding
    proves 'healthy' (twin). Overstated risk measures: test_risk_measures.py,
    test_exact_mode_pins_the_value_from_both_sides."""
    case = zoned("portfolio", measure={"kind": "expected_shortfall", "k": 2})
    t = at_threshold(case, 0)  # equity exactly on the healthy threshold
    case["threshold"] = S.canonical(t)
    real = ERM.round_fraction

    def high(x, decimals, mode):
        return real(x, decimals, mode) + Decimal(1).scaleb(-decimals)

    assert satisfied(case, ZoneClaim(0, True)) and not satisfied(case, ZoneClaim(1, True))
    with monkeypatch.context() as mp:
        mp.setattr(ERM, "round_fraction", high)
        assert not satisfied(case, ZoneClaim(1, True))
        assert not satisfied(case, ZoneClaim(0, True))


def test_unknown_policy_fields_are_refused_not_ignored(monkeypatch):
    """A rule family the zone circuit does not know (simulated: 'rounding' taken off the known
    list) is refused, never proved without it."""
    case = zoned("cross")
    p, m, a, t = S.load(case)
    plan_zone(p, m, t, ZoneClaim(0, True))
    monkeypatch.setattr(ZM, "KNOWN_POLICY_FIELDS", ZM.KNOWN_POLICY_FIELDS - {"rounding"})
    with pytest.raises(PolicyError, match="do not cover the policy's 'rounding'"):
        plan_zone(p, m, t, ZoneClaim(0, True))


# --- proofs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["cross", "portfolio"])
def test_exact_zone_proof_verifies_and_reveals_only_the_zone(mode):
    case = zoned(mode)
    t = at_threshold(case, 0) + S.ulp(4)  # just below healthy: margin_call
    ch = secrets.token_bytes(32)
    b = prove(case["account"], case["market"], case["policy"], t, ch, zone="exact")
    assert b.statement["zone"] == {"index": 1, "name": "margin_call", "exact": True}
    res = verify(b.to_json(), case["market"], case["policy"], t, ch)
    assert res.extra["zone"]["name"] == "margin_call"
    # the hex blobs (proof, commitments, digests, challenge) are random and spell any four digits
    # now and then (thousands of hex digits, 1 in 65,536 at each place), so they are masked; the
    # statement's numbers stay visible, the public threshold among them
    text = re.sub(r'"[0-9a-f]{32,}"', '"<hex>"', b.to_json())
    assert f'"threshold": "{b.statement["threshold"]}"' in text
    for private in ("3766", "240.13", "51.27", "2000"):
        assert private not in text
    # the venue accepts margin_call or better; not when it needs healthy
    verify(b.to_json(), case["market"], case["policy"], t, ch, min_zone="margin_call")
    with pytest.raises(ZoneRejectedError):
        verify(b.to_json(), case["market"], case["policy"], t, ch, min_zone="healthy")


@pytest.mark.parametrize("claim", ["exact:healthy", "at-least:healthy", "exact:liquidation"])
def test_a_false_zone_is_refused_and_its_forced_proof_rejected(claim):
    case = zoned("portfolio", measure={"kind": "var", "k": 1})
    t = at_threshold(case, 0) + S.ulp(4)  # the account is in margin_call
    ch = secrets.token_bytes(32)
    with pytest.raises(BelowRequirementError, match="not in zone"):
        prove(case["account"], case["market"], case["policy"], t, ch, zone=claim)
    forged = prove(case["account"], case["market"], case["policy"], t, ch, zone=claim, _check_witness=False)
    with pytest.raises(VerificationError) as info:
        verify(forged.to_json(), case["market"], case["policy"], t, ch)
    assert type(info.value) is VerificationError
    # twin: the true claims of the same account verify
    for good in ("exact:margin_call", "at-least:margin_call", "exact"):
        b = prove(case["account"], case["market"], case["policy"], t, ch, zone=good)
        verify(b.to_json(), case["market"], case["policy"], t, ch)


def test_a_zone_bundle_is_bound_to_its_claim():
    """Editing the claimed zone in the bundle, or handing a zone bundle to a verifier that asks
    for the ordinary statement, is refused; an ordinary bundle does not pass as a zone proof."""
    case = zoned("cross")
    ch = secrets.token_bytes(32)
    b = prove(case["account"], case["market"], case["policy"], 0, ch, zone="exact")
    doc = b.to_json_dict()
    doc["statement"]["zone"] = {"index": 1, "name": "margin_call", "exact": False}
    with pytest.raises(VerificationError):
        verify(ProofBundle.from_json_dict(doc), case["market"], case["policy"], 0, ch)
    doc["statement"]["zone"] = {"index": 1, "name": "healthy", "exact": True}
    with pytest.raises(StatementMismatchError, match="not on this policy's ladder"):
        verify(ProofBundle.from_json_dict(doc), case["market"], case["policy"], 0, ch)
    from zkmargin.api import _Verifier, _verify_prepared

    with pytest.raises(StatementMismatchError, match="another circuit|claims 'zone'"):
        _verify_prepared(_Verifier(case["market"], case["policy"], 0, None), b, ch)
    plain = prove(case["account"], case["market"], case["policy"], 0, ch)
    verify(plain.to_json(), case["market"], case["policy"], 0, ch)
    with pytest.raises(StatementMismatchError, match="claims none"):
        verify(plain.to_json(), case["market"], case["policy"], 0, ch, min_zone="healthy")
