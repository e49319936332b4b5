"""Expected shortfall and VaR over the scenario table: the engine's definitions, the policy's
checks, the circuit against the engine (hypothesis), brute-force soundness of each encoding over
every witness a cheating prover could pick in a small domain, and real proofs with their failing
twins (one unit short: refused by the prover, its forced proof rejected by the verifier).
docs/notes/risk-measures.md has the encodings and why a prover cannot understate them.
"""

from __future__ import annotations

import copy
import itertools
import secrets
import sys
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))

import margin_strategies as S  # noqa: E402
import risk_strategies as RS  # noqa: E402

import zkmargin.circuits.margin.risk_measures as RM  # noqa: E402
from zkmargin import check, prove, verify  # noqa: E402
from zkmargin.circuits.cs import ConstraintSystem, LinearCombination  # noqa: E402
from zkmargin.circuits.gadgets import signed_range  # noqa: E402
from zkmargin.circuits.layouts import build, plan_margin, witness_values  # noqa: E402
from zkmargin.circuits.lookup import RangeLookups  # noqa: E402
from zkmargin.errors import (  # noqa: E402
    BelowRequirementError,
    PolicyError,
    UnsatisfiedError,
    VerificationError,
)
from zkmargin.rules.engine.risk_measures import risk_measure, round_fraction  # noqa: E402
from zkmargin.rules.models import load_account, load_policy  # noqa: E402

_HC = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
WITNESS = settings(max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=_HC)
PROOFS = settings(max_examples=6, deadline=None, derandomize=True, database=None, suppress_health_check=_HC)


def es_case(kind="expected_shortfall", k=2, threshold="5"):
    case = S.base_case("portfolio", threshold)
    case["policy"]["scenarios"]["measure"] = {"kind": kind, "k": k}
    return case


def satisfied(case, threshold=None) -> bool:
    p, m, a, t = S.load(case)
    if threshold is not None:
        t = Decimal(threshold)
    plan = plan_margin(p, m, t)
    cs = build(plan, witness_values(plan, a))
    vcs = build(plan_margin(p, m, t))
    assert cs.digest() == vcs.digest() and cs.total_gates == vcs.total_gates
    empty = load_account({"format": "zkmargin.account/1"}, p)
    assert build(plan, witness_values(plan, empty)).digest() == cs.digest()
    try:
        cs.check_witness()
        return True
    except UnsatisfiedError:
        return False


def engine_meets(case, threshold=None) -> bool:
    return check(case["account"], case["market"], case["policy"],
                 case["threshold"] if threshold is None else threshold).meets


# --- the engine ------------------------------------------------------------------------------------


def test_measures_on_a_loss_vector_recomputed_by_hand():
    losses = [Decimal(x) for x in ("3", "-1", "7", "7", "2.5", "0")]
    # sorted: 7, 7, 3, 2.5, 0, -1
    assert risk_measure("worst", 1, losses) == 7
    assert risk_measure("var", 1, losses) == 7
    assert risk_measure("var", 3, losses) == 3
    assert risk_measure("var", 6, losses) == -1
    assert risk_measure("expected_shortfall", 3, losses) == Fraction(17, 3)
    assert risk_measure("expected_shortfall", 4, losses) == Fraction(195, 40)
    assert risk_measure("expected_shortfall", 1, losses) == 7


@pytest.mark.parametrize("x,mode,expected", [
    (Fraction(17, 3), "up", "5.67"), (Fraction(17, 3), "down", "5.66"), (Fraction(17, 3), "half_even", "5.67"),
    (Fraction(-17, 3), "up", "-5.66"), (Fraction(-17, 3), "down", "-5.67"),
    (Fraction(1, 8), "half_even", "0.12"), (Fraction(3, 8), "half_even", "0.38"),
    (Fraction(5, 1), "up", "5.00"),
])
def test_round_fraction_is_exact_in_every_mode(x, mode, expected):
    assert round_fraction(x, 2, mode) == Decimal(expected)


def test_es_requirement_is_the_rounded_mean_of_the_k_largest_losses():
    case = es_case(k=2)
    # losses of A=-4, O=6, P=-2.5 per scenario (up, down, flat):
    # up: -(-4*25 + 6*15.5 - 2.5*-7.5) = -(-100 + 93 + 18.75) = -11.75
    # down: -(-4*-25 + 6*-8.25 - 2.5*20) = -(100 - 49.5 - 50) = -0.5
    # flat: -(0 + 6*-1 - 2.5*-0.5) = -(-6 + 1.25) = 4.75
    # ES_2 = (4.75 - 0.5)/2 = 2.125; initial factor 1.5: 3.1875 -> half-even at 2 decimals: 3.19
    rep = check(case["account"], case["market"], case["policy"], 0)
    assert rep.requirement == Decimal("3.19")
    case = es_case(kind="var", k=2)
    assert check(case["account"], case["market"], case["policy"], 0).requirement == 0  # max(0, -0.5)
    case = es_case(kind="var", k=1)
    assert check(case["account"], case["market"], case["policy"], 0).requirement == Decimal("7.12")  # 1.5*4.75


def test_policy_checks_of_the_measure():
    case = es_case(k=4)
    with pytest.raises(PolicyError, match="between 1 and the number of scenarios"):
        load_policy(case["policy"])
    case = es_case(k=0)
    with pytest.raises(PolicyError, match="between 1"):
        load_policy(case["policy"])
    case = es_case()
    del case["policy"]["rounding"]
    with pytest.raises(PolicyError, match="must say how the requirement is rounded"):
        load_policy(case["policy"])
    case = es_case(kind="var")
    del case["policy"]["rounding"]
    load_policy(case["policy"])  # VaR is one of the losses: no rounding needed
    case = es_case()
    case["policy"]["scenarios"]["measure"] = {"kind": "worst", "k": 2}
    with pytest.raises(PolicyError, match="takes no 'k'"):
        load_policy(case["policy"])
    # "worst" said out loud is the same policy (and digest) as saying nothing
    from zkmargin.rules.digests import policy_digest

    a, b = es_case(), es_case()
    a["policy"]["scenarios"]["measure"] = {"kind": "worst"}
    del b["policy"]["scenarios"]["measure"]
    assert policy_digest(load_policy(a["policy"])) == policy_digest(load_policy(b["policy"]))


# --- the circuit against the engine ----------------------------------------------------------------


@pytest.mark.parametrize("kind", RS.MEASURES)
@WITNESS
@given(data=st.data())
def test_witness_satisfies_iff_engine_meets(kind, data):
    case = data.draw(RS.risk_cases(kind))
    assert satisfied(case) == engine_meets(case)


@pytest.mark.parametrize("kind", ["expected_shortfall", "var"])
@settings(max_examples=25, deadline=None, derandomize=True, database=None, suppress_health_check=_HC)
@given(data=st.data())
def test_witness_satisfies_iff_engine_meets_with_position_slots(kind, data):
    case = data.draw(RS.risk_cases(kind, max_scenarios=5))
    case["policy"]["slots"] = 3
    assert satisfied(case) == engine_meets(case)


# --- soundness by brute force: every witness a prover could pick in a small domain ------------------


def _gadget(losses: list[int], measure, *, forced_order=None, forced_bits=None, exact=False):
    """A circuit with the losses as committed values (signed, range-checked) and the measure's
    bound over them; ``forced_order`` replaces the prover's ranking of the scenarios (which
    fixes t, V and W) and ``forced_bits`` every flag it picks. Returns (cs, value wire)."""
    cs = ConstraintSystem.for_prover([v for v in losses])
    lcs = []
    for j, _ in enumerate(losses):
        signed_range(cs, cs.inputs[j], 8, f"loss {j}")
        lcs.append(LinearCombination.of(cs.inputs[j]))
    rl = RangeLookups(cs, 4)
    kind, k = measure
    if kind == "expected_shortfall":
        out = RM.es_bound(cs, lcs, k, rl.range_check, exact=exact)
    else:
        out = RM.var_bound(cs, lcs, k, rl.range_check, exact=exact, worst=kind == "worst")
    rl.finish()
    return cs, out


def _run_forced(monkeypatch, losses, measure, order, bits, exact=False):
    real_boolean = RM.boolean
    it = iter(bits) if bits is not None else None

    def forced_boolean(cs, assign, label="bit"):
        if it is None:
            return real_boolean(cs, assign, label)
        forced = next(it)
        return real_boolean(cs, (lambda: forced) if cs.is_prover else None, label)

    with monkeypatch.context() as mp:
        mp.setattr(RM, "_ranked", lambda cs, losses_: list(order))
        mp.setattr(RM, "boolean", forced_boolean)
        cs, out = _gadget(losses, measure, exact=exact)
        value = cs.eval_signed(out)
        try:
            cs.check_witness()
            return value, True
        except UnsatisfiedError:
            return value, False


LOSS_SETS = [[3, -1, 7, 7], [-2, -5, -1, -3], [4, 0, 4, -6], [1, 2, 3, 4]]


@pytest.mark.parametrize("losses", LOSS_SETS)
def test_var_cannot_be_understated_by_any_flags(losses, monkeypatch):
    """Every ranking (so every loss as the claimed VaR, or 0) and every flag vector: whatever the
    circuit accepts is at least max(0, the k-th largest loss); the honest value is accepted."""
    n = len(losses)
    for k in range(1, n + 1):
        true = max(0, sorted(losses, reverse=True)[k - 1])
        accepted = set()
        for j in range(n):  # the claimed VaR is scenario j's loss (or 0): one ranking per j
            rest = [s for s in range(n) if s != j]
            order = rest[: k - 1] + [j] + rest[k - 1:]
            for bits in itertools.product((0, 1), repeat=n):
                value, ok = _run_forced(monkeypatch, losses, ("var", k), order, bits)
                if ok:
                    accepted.add(value)
                    assert value >= true, (losses, k, order, bits)
        assert true in accepted


@pytest.mark.parametrize("losses", LOSS_SETS)
def test_es_cannot_be_understated_by_any_cut_off(losses, monkeypatch):
    """Every ranking gives a cut-off t (one of the losses) and a claimed k·ES (the sum of k of
    them, so often less than the true one): whatever is accepted is at least max(0, the sum of
    the k largest losses), and the honest ranking is accepted."""
    n = len(losses)
    for k in range(1, n + 1):
        true = max(0, sum(sorted(losses, reverse=True)[:k]))
        seen_true = False
        for order in itertools.permutations(range(n)):
            value, ok = _run_forced(monkeypatch, losses, ("expected_shortfall", k), order, None)
            if ok:
                assert value >= true, (losses, k, order, value)
            seen_true |= ok and value == true
        assert seen_true


@pytest.mark.parametrize("losses", LOSS_SETS)
@pytest.mark.parametrize("kind", ["worst", "var", "expected_shortfall"])
def test_exact_mode_pins_the_value_from_both_sides(losses, kind, monkeypatch):
    """With ``exact`` (margin-call zones) no ranking and no picks give an accepted value other
    than the true one: an overstated measure is refused too."""
    n = len(losses)
    for k in ([1] if kind == "worst" else range(1, n + 1)):
        srt = sorted(losses, reverse=True)
        true = max(0, sum(srt[:k])) if kind == "expected_shortfall" else max(0, srt[k - 1])
        accepted = set()
        for order in itertools.permutations(range(n)):
            value, ok = _run_forced(monkeypatch, losses, (kind, k), order, None, exact=True)
            if ok:
                accepted.add(value)
        assert accepted == {true}, (losses, kind, k, accepted)
        # twin: the same orderings without exact accept overstated values too
        loose = {v for order in itertools.permutations(range(n))
                 for v, ok in [_run_forced(monkeypatch, losses, (kind, k), order, None)] if ok}
        if kind == "expected_shortfall" and len(set(losses)) > 1 and k < n:
            assert loose >= {true}


def test_a_claimed_value_below_the_true_one_is_refused_by_the_circuit(monkeypatch):
    """Twin of the honest proofs below: a prover ranking the scenarios from the smallest loss
    (so claiming the k-th *smallest* loss as VaR, the mean of the k smallest as ES) is refused."""
    for kind, k in (("var", 1), ("expected_shortfall", 2)):
        case = es_case(kind, k, "0")
        p, m, a, t = S.load(case)
        plan = plan_margin(p, m, t)
        with monkeypatch.context() as mp:
            mp.setattr(RM, "_ranked", lambda cs, ls: sorted(range(len(ls)), key=lambda s: cs.eval_signed(ls[s])))
            cs = build(plan, witness_values(plan, a))
            with pytest.raises(UnsatisfiedError, match="VaR|ES"):
                cs.check_witness()
        cs = build(plan, witness_values(plan, a))
        cs.check_witness()


# --- proofs ------------------------------------------------------------------------------------------


def _tight(case):
    rep = check(case["account"], case["market"], case["policy"], 0)
    return S.to_grid(rep.excess, case["policy"]["decimals"]["amount"])


@pytest.mark.parametrize("kind,k,slots", [("expected_shortfall", 2, None), ("var", 2, None), ("var", 1, None),
                                          ("expected_shortfall", 3, 3)])
def test_proof_at_zero_excess_verifies_and_one_unit_short_is_refused_and_rejected(kind, k, slots):
    case = es_case(kind, k)
    if slots:
        case["policy"]["slots"] = slots
    t = _tight(case)
    ch = secrets.token_bytes(32)
    bundle = prove(case["account"], case["market"], case["policy"], t, ch)
    assert verify(bundle.to_json(), case["market"], case["policy"], t, ch).valid
    short = t + S.ulp(case["policy"]["decimals"]["amount"])
    with pytest.raises(BelowRequirementError):
        prove(case["account"], case["market"], case["policy"], short, ch)
    forged = prove(case["account"], case["market"], case["policy"], short, ch, _check_witness=False)
    with pytest.raises(VerificationError) as info:
        verify(forged.to_json(), case["market"], case["policy"], short, ch)
    assert type(info.value) is VerificationError


@pytest.mark.parametrize("kind", ["expected_shortfall", "var"])
@PROOFS
@given(data=st.data())
def test_proof_verifies_iff_engine_meets(kind, data):
    case = data.draw(RS.risk_cases(kind, max_scenarios=5))
    t = case["threshold"]
    ch = secrets.token_bytes(32)
    if engine_meets(case):
        b = prove(case["account"], case["market"], case["policy"], t, ch)
        assert verify(b.to_json(), case["market"], case["policy"], t, ch).valid
    else:
        forged = prove(case["account"], case["market"], case["policy"], t, ch, _check_witness=False)
        with pytest.raises(VerificationError):
            verify(forged.to_json(), case["market"], case["policy"], t, ch)


def test_the_worst_loss_circuit_is_unchanged_by_the_measure_field():
    """``{"kind": "worst"}`` builds the same circuit (same digest) as no measure at all, and the
    ES circuit differs (the measure is bound into the circuit digest)."""
    base = S.base_case("portfolio")
    said = copy.deepcopy(base)
    said["policy"]["scenarios"]["measure"] = {"kind": "worst"}
    digests = []
    for case in (base, said, es_case()):
        p, m, a, t = S.load(case)
        digests.append(build(plan_margin(p, m, t)).digest())
    assert digests[0] == digests[1] != digests[2]
