"""The K-slot margin circuit (circuits/margin/slots.py): positions in K private slots, each a row
of the venue's instrument table proved by a lookup.

1. Central property (hypothesis, small universes, K ≤ 4, cross and portfolio): the circuit's
   witness is satisfied exactly when the clear-text engine says the account meets the requirement.
2. Forged witnesses — a wrong mark, a lower rate, a bracket that does not hold the notional, an id
   outside the table, a position split over two slots, a null slot with a size, a null slot
   claiming an instrument's row, a live slot after a null one — are refused by the witness check,
   and a proof forced out of them is rejected; the honest twin of each proves.
3. Binding: changing any row of the table, held or not, invalidates a proof.
4. Hiding: the bundle's statement, commitment count and proof size depend on K and the table only.
"""

from __future__ import annotations

import copy
import dataclasses
import secrets
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
import margin_strategies as S  # noqa: E402
import r1cs_helpers as H  # noqa: E402

import zkmargin  # noqa: E402
from zkmargin.api import public_inputs, statement_for  # noqa: E402
from zkmargin.circuits.layouts import build, plan_margin, witness_values  # noqa: E402
from zkmargin.circuits.lookup import Table  # noqa: E402
from zkmargin.circuits.margin import MarginPlan  # noqa: E402
from zkmargin.circuits.margin.slots import SlotPlan, build_slots, honest_rows, pack, unpack  # noqa: E402
from zkmargin.crypto.backends import get_backend  # noqa: E402
from zkmargin.errors import (  # noqa: E402
    BelowRequirementError,
    InputError,
    PolicyError,
    StatementMismatchError,
    UnsatisfiedError,
    VerificationError,
)
from zkmargin.prover.r1cs import prove as r1cs_prove  # noqa: E402
from zkmargin.rules.engine import position_requirement  # noqa: E402
from zkmargin.rules.models import load_policy  # noqa: E402
from zkmargin.verifier.r1cs import verify as r1cs_verify  # noqa: E402

ARK = get_backend("arkworks")
_HC = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
WITNESS = settings(max_examples=80, deadline=None, derandomize=True, database=None, suppress_health_check=_HC)
PROOFS = settings(max_examples=4, deadline=None, derandomize=True, database=None, suppress_health_check=_HC)


def slot_case(mode: str = "cross", K: int = 4, threshold="5") -> dict:
    case = S.base_case(mode, threshold)
    case["policy"]["slots"] = K
    return case


def planned(case: dict):
    p, m, a, t = S.load(case)
    plan = plan_margin(p, m, t)
    return p, m, a, t, plan


def witness_satisfied(case: dict) -> bool:
    """The prover's circuit for the case is the verifier's (same digest), its shape does not depend
    on the account, and its witness satisfies it (both phases, random challenges) — or not."""
    p, m, a, t, plan = planned(case)
    assert isinstance(plan, SlotPlan)
    cs = build(plan, witness_values(plan, a))
    vcs = build(plan_margin(p, m, t))
    assert cs.digest() == vcs.digest() and cs.total_gates == vcs.total_gates
    try:
        cs.check_witness()
        return True
    except UnsatisfiedError:
        return False


# --- 1. the central property ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["cross", "portfolio"])
@WITNESS
@given(data=st.data())
def test_witness_satisfied_iff_the_engine_says_meets(mode, data):
    case = data.draw(S.margin_cases(mode))
    held = len(case["account"]["positions"])
    case["policy"]["slots"] = max(1, held) + data.draw(st.integers(0, 4 - max(1, held)))
    rep = S.engine_report(case)
    got = witness_satisfied(case)
    if rep is None:  # the engine refuses the account (a notional above the last cap)
        assert not got
    else:
        assert got == rep.meets


@pytest.mark.parametrize("mode", ["cross", "portfolio"])
@PROOFS
@given(data=st.data())
def test_proofs_agree_with_the_engine(mode, data):
    case = data.draw(S.margin_cases(mode))
    case["policy"]["slots"] = max(1, len(case["account"]["positions"]))
    rep = S.engine_report(case)
    args = (case["account"], case["market"], case["policy"], case["threshold"])
    ch = secrets.token_bytes(32)
    if rep is not None and rep.meets:
        bundle = zkmargin.prove(*args, ch)
        assert zkmargin.verify(bundle.to_json(), case["market"], case["policy"], case["threshold"], ch).valid
    else:
        with pytest.raises((BelowRequirementError, InputError)):
            zkmargin.prove(*args, ch)
        forged = zkmargin.prove(*args, ch, _check_witness=False)
        with pytest.raises(VerificationError):
            zkmargin.verify(forged.to_json(), case["market"], case["policy"], case["threshold"], ch)


@pytest.mark.parametrize("mode", ["cross", "portfolio"])
def test_the_base_case_proves_and_an_account_below_is_refused(mode):
    """Twins through the public API: the example account proves; with a threshold one unit above
    its excess it is refused, and a forced proof is rejected."""
    case = slot_case(mode)
    ch = secrets.token_bytes(32)
    bundle = zkmargin.prove(case["account"], case["market"], case["policy"], "5", ch)
    res = zkmargin.verify(bundle, case["market"], case["policy"], "5", ch)
    assert res.valid and res.statement["slots"][:4] == ["position:0", "position:1", "position:2", "position:3"]
    assert bundle.statement["protocol"] == "zkmargin.r1cs/v2"
    excess = zkmargin.check(case["account"], case["market"], case["policy"], 0).excess
    over = str(excess + Decimal("0.0001"))
    with pytest.raises(BelowRequirementError):
        zkmargin.prove(case["account"], case["market"], case["policy"], over, ch)
    forged = zkmargin.prove(case["account"], case["market"], case["policy"], over, ch, _check_witness=False)
    with pytest.raises(VerificationError):
        zkmargin.verify(forged, case["market"], case["policy"], over, ch)


# --- 2. forged witnesses -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cross():
    case = slot_case("cross", K=4)
    p, m, a, t, plan = planned(case)
    values = witness_values(plan, a)
    statement = statement_for(p, m, t, b"c" * 16, plan, build(plan))
    return plan, values, public_inputs(statement)


def forced(plan, values, rows, public, label: str):
    """The prover refuses the forged witness naming ``label``; a proof forced past the check is
    rejected by the verifier's own circuit."""
    cs = build_slots(plan, values, rows=rows)
    with pytest.raises(UnsatisfiedError) as info:
        cs.check_witness()
    assert label in str(info.value), str(info.value)
    proof, V = r1cs_prove(build_slots(plan, values, rows=rows), H.blind(len(values)), public, ARK, check=False)
    with pytest.raises(VerificationError):
        r1cs_verify(build_slots(plan), proof, V, public, ARK)


def honest(plan, values, public):
    proof, V = r1cs_prove(build_slots(plan, values), H.blind(len(values)), public, ARK)
    r1cs_verify(build_slots(plan), proof, V, public, ARK)


def test_honest_slots_prove(cross):
    """The twin of every forgery below."""
    plan, values, public = cross
    rows = honest_rows(plan, values)
    assert [r[0] for r in rows] == [0, 1, 2, plan.null_id]  # A, B, C held; one null slot
    honest(plan, values, public)


def _edit(rows, k, column, plan, delta=None, value=None):
    rows = [list(r) for r in rows]
    i = plan.columns.index(column)
    rows[k][i] = value if value is not None else rows[k][i] + delta
    return [tuple(r) for r in rows]


def test_a_wrong_mark_is_refused(cross):
    plan, values, public = cross
    rows = _edit(honest_rows(plan, values), 0, "mark", plan, delta=-100)
    forced(plan, values, rows, public, "position slot 0: a row of the instrument table")


def test_a_lower_rate_is_refused(cross):
    plan, values, public = cross
    rows = _edit(honest_rows(plan, values), 2, "rate", plan, delta=-1)
    forced(plan, values, rows, public, "position slot 2: a row of the instrument table")


def test_a_bracket_that_does_not_hold_the_notional_is_refused(cross):
    """Instrument A (8 units at 250: notional 2000) is in its second bracket; claiming the first
    (a real row, a lower rate) fails the bracket's upper end."""
    plan, values, public = cross
    rows = honest_rows(plan, values)
    assert rows[0] == plan.table.rows[1]
    rows[0] = plan.table.rows[0]
    assert rows[0][4] < plan.table.rows[1][4]  # a lower rate: the cheater's gain
    forced(plan, values, rows, public, "position slot 0: size at most the bracket's upper end")
    rows[0] = plan.table.rows[2]  # the third bracket: its lower end is above the size
    forced(plan, values, rows, public, "position slot 0: size at least the bracket's lower end")


def test_an_id_outside_the_table_is_refused(cross):
    plan, values, public = cross
    values = list(values)
    values[1] = pack(plan, 7, unpack(plan, values[1])[1])  # id 7: no instrument (N = 3)
    rows = honest_rows(plan, values)
    rows[1] = tuple([7] + list(plan.table.rows[3][1:]))  # B's parameters under id 7
    forced(plan, values, rows, public, "position slot 1: a row of the instrument table")


def test_a_position_split_over_two_slots_is_refused(cross):
    """A's 8 units as 4 + 4 in two slots would each fall in the first bracket (notional 1000 ≤
    the cap 1000): a lower requirement than 8 units in the second bracket. Both rows are real, the
    sizes add up — only the increasing ids refuse it."""
    plan, values, public = cross
    A = load_policy(slot_case()["policy"]).instrument("A").rule("maintenance")
    whole = position_requirement(A, Decimal(8), Decimal(250))
    split = 2 * position_requirement(A, Decimal(4), Decimal(250))
    assert split < whole  # the motive
    q = unpack(plan, values[0])[1]
    values = [pack(plan, 0, q // 2), pack(plan, 0, q // 2)] + list(values[1:3]) + list(values[4:])
    rows = honest_rows(plan, values)
    assert rows[0] == rows[1] == plan.table.rows[0]
    forced(plan, values, rows, public, "position slots 0 and 1: ids increase, null slots last")


def test_a_null_slot_with_a_size_is_refused(cross):
    """The null row's bracket is [0, 0]: an empty slot cannot carry a size (with mark 0 it would
    add nothing to the requirement but widen the cost basis's interval)."""
    plan, values, public = cross
    values = list(values)
    values[3] = pack(plan, plan.null_id, -50)
    forced(plan, values, honest_rows(plan, values), public, "position slot 3: size at most the bracket's upper end")


def test_a_null_slot_claiming_an_instruments_row_is_refused(cross):
    """Slot 3 commits the null value but claims C's row (rate, mark): its id does not unpack from
    the committed value, so its size is no small integer."""
    plan, values, public = cross
    rows = honest_rows(plan, values)
    rows[3] = plan.table.rows[4]
    forced(plan, values, rows, public, "position slot 3")


def test_a_live_slot_after_a_null_one_is_refused(cross):
    plan, values, public = cross
    values = [values[3], values[0], values[1], values[2]] + list(values[4:])
    forced(plan, values, honest_rows(plan, values), public, "position slots 0 and 1: ids increase, null slots last")


def test_decreasing_ids_are_refused(cross):
    plan, values, public = cross
    values = [values[1], values[0]] + list(values[2:])
    forced(plan, values, honest_rows(plan, values), public, "position slots 0 and 1: ids increase, null slots last")


def test_the_packing_has_one_decomposition(cross):
    """v = id + 2^A·q: the same committed value read with another id gives a q far outside the
    width (the circuit refuses); the honest reading round-trips, negative sizes included."""
    plan, values, public = cross
    for i, q in ((0, 80), (1, -125), (2, 300), (plan.null_id, 0), (2, -(1 << plan.size_bits) + 1)):
        assert unpack(plan, pack(plan, i, q)) == (i, q)
    v = values[1]
    for other in (0, 2):
        rows = honest_rows(plan, values)
        rows[1] = next(r for r in plan.table.rows if r[0] == other)
        cs = build_slots(plan, values, rows=rows)
        with pytest.raises(UnsatisfiedError):
            cs.check_witness()
    assert unpack(plan, v)[0] == 1


def test_portfolio_forged_scenario_pnl_is_refused():
    case = slot_case("portfolio", K=4)
    p, m, a, t, plan = planned(case)
    values = witness_values(plan, a)
    public = public_inputs(statement_for(p, m, t, None, plan, build(plan)))
    honest(plan, values, public)
    rows = honest_rows(plan, values)
    k = next(k for k, r in enumerate(rows) if r[0] == 2)  # P, a put held short
    rows = _edit(rows, k, "pnl_1", plan, delta=-1000)
    forced(plan, values, rows, public, f"position slot {k}: a row of the instrument table")


# --- 3. binding: every row of the table -----------------------------------------------------------------


def test_changing_any_row_invalidates_a_proof(cross):
    """An honest proof (A, B, C held) is refused by a verifier whose table differs in any one row —
    the null row and rows of brackets nobody holds included — in any column."""
    plan, values, public = cross
    proof, V = r1cs_prove(build_slots(plan, values), H.blind(len(values)), public, ARK)
    r1cs_verify(build_slots(plan), proof, V, public, ARK)
    for j in range(len(plan.table.rows)):
        for i in (j % plan.table.width, plan.columns.index("rate"), plan.columns.index("mark")):
            rows = [list(r) for r in plan.table.rows]
            rows[j][i] += 1
            other = dataclasses.replace(plan, table=Table("instruments", plan.columns, rows))
            with pytest.raises(VerificationError):
                r1cs_verify(build_slots(other), proof, V, public, ARK)


def test_a_mark_of_an_instrument_nobody_holds_is_bound():
    """Through the API: another mark for an instrument the account does not hold is another
    market snapshot (the statement says so); and fed the honest statement, the changed circuit
    rejects the proof."""
    case = slot_case("cross", K=2)
    case["account"]["positions"] = case["account"]["positions"][:1]  # A only
    ch = secrets.token_bytes(32)
    bundle = zkmargin.prove(case["account"], case["market"], case["policy"], "5", ch)
    moved = copy.deepcopy(case["market"])
    moved["prices"]["C"] = "12.35"
    with pytest.raises(StatementMismatchError, match="market"):
        zkmargin.verify(bundle, moved, case["policy"], "5", ch)
    p, m, a, t = S.load(case)
    plan_moved = plan_margin(p, S.load({**case, "market": moved})[1], t)
    expected = {**bundle.statement}
    proof = zkmargin.crypto.proof.R1CSProof.from_bytes(bundle.proof, ARK)
    V = [ARK.decode(c) for c in bundle.commitments]
    with pytest.raises(VerificationError):
        r1cs_verify(build(plan_moved), proof, V, public_inputs(expected), ARK)
    r1cs_verify(build(plan_margin(p, m, t)), proof, V, public_inputs(expected), ARK)  # twin


# --- 4. hiding ------------------------------------------------------------------------------------------


def test_the_bundle_shape_depends_on_K_and_the_table_only():
    case = slot_case("cross", K=4)
    one = copy.deepcopy(case)
    one["account"]["positions"] = [{"symbol": "C", "size": "-3", "entry_price": "12"}]
    empty = copy.deepcopy(case)
    empty["account"]["positions"] = []
    ch = secrets.token_bytes(32)
    bundles = [zkmargin.prove(c["account"], c["market"], c["policy"], "5", ch) for c in (case, one, empty)]
    assert bundles[0].statement == bundles[1].statement == bundles[2].statement
    assert len({len(b.proof) for b in bundles}) == 1 and len({len(b.commitments) for b in bundles}) == 1
    assert len({len(b.to_json()) for b in bundles}) == 1
    bigger = slot_case("cross", K=5)
    b5 = zkmargin.prove(bigger["account"], bigger["market"], bigger["policy"], "5", ch)
    assert len(b5.commitments) == len(bundles[0].commitments) + 1  # twin: K shows, by design


# --- the policy field -------------------------------------------------------------------------------------


def test_too_many_positions_for_the_slots_is_an_input_error():
    case = slot_case("cross", K=2)
    with pytest.raises(InputError, match="3 open positions.*2 position slots"):
        zkmargin.prove(case["account"], case["market"], case["policy"], "5")
    case["policy"]["slots"] = 3
    zkmargin.prove(case["account"], case["market"], case["policy"], "5")  # twin


@pytest.mark.parametrize("bad, match", [(0, "between 1 and"), (257, "between 1 and"), ("x", "integer")])
def test_the_slots_field_is_checked(bad, match):
    case = slot_case()
    case["policy"]["slots"] = bad
    with pytest.raises(InputError, match=match):
        load_policy(case["policy"])


def test_isolated_mode_has_no_slot_layout_yet():
    case = slot_case("isolated")
    with pytest.raises(PolicyError, match="slots"):
        load_policy(case["policy"])


def test_without_slots_the_per_instrument_layout_is_used():
    case = S.base_case("cross")
    p, m, a, t = S.load(case)
    plan = plan_margin(p, m, t)
    assert type(plan) is MarginPlan and plan.slot_names()[0] == "size:A"
    case["policy"]["slots"] = 3
    assert isinstance(plan_margin(*S.load(case)[:2], t), SlotPlan)


# --- custodian attestations of packed position slots --------------------------------------------------


def _custodied(case: dict, *keys) -> dict:
    """The K-slot case under a venue that lists these custodians (attestations at most 10 minutes
    old, checked at the market snapshot's time)."""
    from zkmargin.workflows import custodian as A

    pol = copy.deepcopy(case["policy"])
    pol["trust"] = {"custodians": [{"name": f"custodian-{k}", "key": A.public_key_hex(key)}
                                   for k, key in enumerate(keys)], "max_age_seconds": 600}
    return {**case, "policy": pol}


def test_one_custodian_attests_the_packed_slots_and_the_venue_checks_them():
    """A custodian holding the whole book commits the canonical layout (sorted ids, nulls last);
    the trader proves over the attested commitments; the venue checks the proof and the signature;
    an auditor given every opening recomputes the report from the packed slots."""
    from zkmargin.workflows import custodian as A

    key = A.generate_private_key()
    case = _custodied(slot_case("cross", K=4), key)
    at = case["market"]["as_of"]
    att, op = A.attest(case["account"], None, case["policy"], key, subject="acct-1", as_of=at)
    assert att.slots[:4] == ["position:0", "position:1", "position:2", "position:3"]
    ch = secrets.token_bytes(32)
    bundle = A.prove_attested(case["account"], case["market"], case["policy"], "5", ch, attestations=[att], openings=[op])
    res = zkmargin.verify(bundle, case["market"], case["policy"], "5", ch, subject="acct-1", now=at)
    assert res.valid and not res.extra["trust"]["self_declared"]
    check = A.check_openings(op, bundle, market=case["market"], policy=case["policy"])
    assert check.complete and check.report["meets"] is True
    assert check.slots["size:B"] == "-12.5" and "position:3" not in check.slots
    engine = zkmargin.check(case["account"], case["market"], case["policy"], "5")
    assert Decimal(check.report["excess"]) == engine.excess


def test_a_position_slot_attested_by_two_custodians_is_refused():
    """Summing two custodians' packed values would read as a third instrument: refused on both the
    trader's and the venue's side. The twin: the balances (additive) shared by two custodians."""
    from zkmargin.workflows import custodian as A

    ka, kb = A.generate_private_key(), A.generate_private_key()
    case = _custodied(slot_case("cross", K=4), ka, kb)
    at = case["market"]["as_of"]
    att_a, op_a = A.attest(case["account"], None, case["policy"], ka, subject="acct-1", as_of=at)
    half = copy.deepcopy(case["account"])
    half["positions"] = []
    half["balances"] = {"USD": "0"}
    names = att_a.slots
    att_b, op_b = A.attest(half, None, case["policy"], kb, slots=["position:0", "balance:USD"], subject="acct-1",
                           as_of=at)
    with pytest.raises(zkmargin.errors.AttestationError, match="exactly one custodian"):
        A.prove_attested(case["account"], case["market"], case["policy"], "5", attestations=[att_a, att_b],
                         openings=[op_a, op_b])
    # twin: B attests only the USD balance (0): sums are fine there
    att_b, op_b = A.attest(half, None, case["policy"], kb, slots=["balance:USD"], subject="acct-1", as_of=at)
    ch = secrets.token_bytes(32)
    bundle = A.prove_attested(case["account"], case["market"], case["policy"], "5", ch, attestations=[att_a, att_b],
                              openings=[op_a, op_b])
    assert zkmargin.verify(bundle, case["market"], case["policy"], "5", ch, subject="acct-1", now=at).valid
    assert names[4] == "cost"
    # the venue's side refuses a shared position slot too, whatever the bundle
    att_c, _ = A.attest(half, None, case["policy"], kb, slots=["position:0"], subject="acct-1", as_of=at)
    bundle.attestations = [att_a, att_c]
    with pytest.raises(zkmargin.errors.AttestationRejectedError, match="exactly one custodian"):
        zkmargin.verify(bundle, case["market"], case["policy"], "5", ch, subject="acct-1", now=at)


def test_position_slots_are_a_kind_the_custodians_must_attest():
    """A K-slot policy that lists a custodian requires every slot kind attested by default, the
    packed position slots included. (Before the fix ``position`` was not a slot kind: a custodian's
    attestation of the cost basis and the balances alone let the trader declare its own positions.)
    The twin: a policy whose trust rule explicitly leaves positions out accepts the same bundle."""
    from zkmargin.workflows import custodian as A

    key = A.generate_private_key()
    case = _custodied(slot_case("cross", K=4), key)
    at = case["market"]["as_of"]
    full, _ = A.attest(case["account"], None, case["policy"], key, subject="acct-1", as_of=at)
    partial = [s for s in full.slots if not s.startswith("position:")]
    att, op = A.attest(case["account"], None, case["policy"], key, subject="acct-1", as_of=at, slots=partial)
    with pytest.raises(zkmargin.errors.AttestationError, match="attested by no custodian"):
        A.prove_attested(case["account"], case["market"], case["policy"], "5", attestations=[att], openings=[op])
    # a trader running its own code: the attested commitments where there are some, its own elsewhere
    own = dict(zip(op.slots, op.blindings))
    from zkmargin.crypto.field import R

    blindings = [own.get(s, secrets.randbelow(R - 1) + 1) for s in full.slots]
    ch = secrets.token_bytes(32)
    bundle = zkmargin.prove(case["account"], case["market"], case["policy"], "5", ch, blindings=blindings)
    bundle.attestations = [att]
    with pytest.raises(zkmargin.errors.AttestationRejectedError, match="position:0"):
        zkmargin.verify(bundle, case["market"], case["policy"], "5", ch, subject="acct-1", now=at)
    # twin: the venue's rule says custodians attest only the cost basis and the balances
    loose = copy.deepcopy(case)
    loose["policy"]["trust"]["attest"] = ["cost", "balance"]
    att2, op2 = A.attest(loose["account"], None, loose["policy"], key, subject="acct-1", as_of=at, slots=partial)
    own2 = dict(zip(op2.slots, op2.blindings))
    ch2 = secrets.token_bytes(32)
    bundle2 = zkmargin.prove(loose["account"], loose["market"], loose["policy"], "5", ch2,
                             blindings=[own2.get(s, secrets.randbelow(R - 1) + 1) for s in full.slots])
    bundle2.attestations = [att2]
    res = zkmargin.verify(bundle2, loose["market"], loose["policy"], "5", ch2, subject="acct-1", now=at)
    assert res.valid and "position:0" in res.extra["trust"]["unattested_slots"]
