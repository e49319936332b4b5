"""The logUp lookup argument and lookup range checks (circuits/lookup.py), always through bytes.

Each property has its honest twin: rows are accepted, non-rows (a changed field, fields of two
rows mixed, a value in no row) are refused by the prover's check and a proof forced out of it is
rejected; multiplicities that do not count the lookups likewise; a challenge α that hits a row
stops both sides; changing any row of the public table — used or not — invalidates a proof;
which rows were used does not change the proof's shape. Hypothesis: over random small tables and
lookups, the witness check accepts exactly when every tuple is a row; lookup range checks accept
exactly the values in range.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
import r1cs_helpers as H  # noqa: E402

from zkmargin.circuits.cs import ChallengeCollisionError, ConstraintSystem, RandomizedCS  # noqa: E402
from zkmargin.circuits.gadgets import product  # noqa: E402
from zkmargin.circuits.lookup import Lookups, RangeLookups, Table, best_limb_bits, range_table  # noqa: E402
from zkmargin.crypto.field import R  # noqa: E402
from zkmargin.errors import CircuitError, OverflowRiskError, UnsatisfiedError, VerificationError  # noqa: E402

ROWS = [(0, 1, 500, 40), (1, 1, 900, 75), (1, 2, 2000, 120), (2, 1, 10**6, 5), (9, 0, 0, 0)]
COLUMNS = ["id", "bracket", "cap", "rate"]


def table(rows=ROWS) -> Table:
    return Table("brackets", COLUMNS, rows)


def circuit(tuples, rows=ROWS, multiplicities=None):
    """One committed value per tuple field (so the verifier's circuit does not depend on the
    witness), each tuple looked up in ``rows``."""

    def build(cs):
        lk = Lookups(cs, table(rows))
        for k in range(len(tuples)):
            lk.lookup(cs.inputs[4 * k : 4 * k + 4], f"slot {k}")
        lk.finish(multiplicities)

    return build


def values(tuples):
    return [v for t in tuples for v in t]


HONEST = [ROWS[1], ROWS[4], ROWS[1], ROWS[3]]  # a row used twice, the null-like row once


@pytest.fixture(scope="module")
def honest():
    return H.make(circuit(HONEST), values(HONEST))


def test_rows_are_accepted(honest):
    """The twin of every refusal below."""
    H.check(circuit(HONEST), honest)
    cs = H.verifier_cs(circuit(HONEST), 16)
    # 5 multiplicities (3 gates) in phase 1, one gate per lookup in phase 2
    assert cs.n == 3 and cs.phase2_gates == 4 and honest.proof[6] == 2


@pytest.mark.parametrize(
    "forged, what",
    [
        ((1, 1, 900, 74), "a lower rate"),
        ((1, 1, 901, 75), "a changed cap"),
        ((1, 2, 900, 75), "another bracket's index with this one's parameters"),
        ((1, 1, 2000, 120), "fields of two rows mixed"),
        ((3, 1, 500, 40), "an id in no row"),
        ((0, 1, 500, 40 + R), "a rate off by the group order (the same residue: accepted, see twin)"),
    ],
)
def test_a_tuple_that_is_not_a_row_is_refused_and_a_forced_proof_rejected(forged, what):
    tuples = [ROWS[0], forged]
    if forged[3] >= R:  # twin: a value equal mod r *is* that row, as a field element
        H.prove_and_verify(circuit(tuples), values(tuples))
        return
    H.assert_refused(circuit(tuples), values(tuples), "slot 1")


def test_multiplicities_that_do_not_count_the_lookups_are_refused_and_rejected():
    honest_counts = [0, 2, 0, 1, 1]
    moved = [0, 1, 1, 1, 1]  # one count moved to a row nobody used
    plus = [0, 3, 0, 1, 1]  # one too many
    for wrong in (moved, plus):
        build = circuit(HONEST, multiplicities=lambda w=wrong: list(w))
        H.assert_refused(build, values(HONEST), "multiplicities of brackets")
    H.prove_and_verify(circuit(HONEST, multiplicities=lambda: list(honest_counts)), values(HONEST))  # twin


def test_multiplicities_as_arbitrary_field_elements_do_not_help():
    """Soundness needs no range check on m_j: a non-row value needs a pole on the table side,
    which no choice of the m_j provides. Here the prover moves weight between rows with field
    elements (1/2 and r−1) — refused and rejected."""
    half = pow(2, -1, R)
    wrong = lambda: [half, (2 - half) % R, R - 1, 2, 1]  # noqa: E731
    H.assert_refused(circuit(HONEST, multiplicities=wrong), values(HONEST), "multiplicities")


# --- the challenge α against the table ---------------------------------------------------------------


def _patch_alpha(monkeypatch, value_for_call):
    real = RandomizedCS.challenge_scalar
    calls = {"n": 0}

    def challenge(self, label):
        if label.endswith(b":alpha"):
            calls["n"] += 1
            v = value_for_call(calls["n"])
            if v is not None:
                self.challenges.append((label, v))
                return v
        return real(self, label)

    monkeypatch.setattr(RandomizedCS, "challenge_scalar", challenge)
    return calls


def range_circuit(bits: int, limb_bits: int = 4):
    def build(cs):
        rl = RangeLookups(cs, limb_bits)
        rl.range_check(cs.inputs[0], bits, "v")
        rl.finish()

    return build


def test_alpha_on_a_row_makes_the_prover_start_again(monkeypatch):
    """α equal to a compressed row (here the row 3 of {0…15}) leaves c_j undefined: the prover
    draws fresh blindings and proves again; the proof verifies with the real challenges."""
    calls = _patch_alpha(monkeypatch, lambda n: 3 if n == 1 else None)
    made = H.make(range_circuit(8), [200])
    assert calls["n"] >= 2
    monkeypatch.undo()
    H.check(range_circuit(8), made)


def test_alpha_on_a_row_is_rejected_by_the_verifier(monkeypatch):
    made = H.make(range_circuit(8), [200])
    H.check(range_circuit(8), made)  # twin
    _patch_alpha(monkeypatch, lambda n: 3)
    with pytest.raises(VerificationError, match="unusable"):
        H.check(range_circuit(8), made)


def test_alpha_never_on_a_row_is_a_hard_stop_for_the_prover(monkeypatch):
    _patch_alpha(monkeypatch, lambda n: 5)
    cs = H.prover_cs(range_circuit(8), [200])
    from zkmargin.prover.r1cs import prove

    with pytest.raises(ChallengeCollisionError):
        prove(cs, H.blind(1))


def test_alpha_equal_to_a_forged_tuple_leaves_its_gate_unsatisfiable(monkeypatch):
    """The denominator α − f_k of a non-row f_k that α hits is 0: (α − f_k)·w = 1 has no w. A
    prover that got that α (here forced on both sides) still cannot make a valid proof."""
    _patch_alpha(monkeypatch, lambda n: 77)  # the forged limb below is 77, no row of {0…15}
    build = lambda cs: (lambda lk: (lk.lookup([cs.inputs[0]], "v"), lk.finish()))(Lookups(cs, range_table(4)))  # noqa: E731
    cs = H.prover_cs(build, [77])
    with pytest.raises(UnsatisfiedError):
        cs.check_witness()
    forced = H.make(build, [77], check=False)
    with pytest.raises(VerificationError):
        H.check(build, forced)
    monkeypatch.undo()
    H.prove_and_verify(build, [7])  # twin


# --- binding: every row of the public table ----------------------------------------------------------


def test_changing_any_row_invalidates_the_proof(honest):
    """Rows 0 and 2 are used by no lookup of the proof; changing them breaks it as much as
    changing a used one: every row is in the circuit digest and on the table side."""
    H.check(circuit(HONEST), honest)
    for j in range(len(ROWS)):
        for i in range(len(COLUMNS)):
            rows = [list(r) for r in ROWS]
            rows[j][i] += 1
            with pytest.raises(VerificationError):
                H.check(circuit(HONEST, rows=[tuple(r) for r in rows]), honest)
    for rows in (ROWS + [(7, 1, 1, 1)], ROWS[:-1], ROWS[::-1]):
        with pytest.raises(VerificationError):
            H.check(circuit(HONEST, rows=rows), honest)


def test_the_table_enters_the_circuit_digest():
    base = H.verifier_cs(circuit(HONEST), 16).digest()
    assert H.verifier_cs(circuit(HONEST), 16).digest() == base
    changed = [tuple(r) for r in ROWS[:-1]] + [(9, 0, 0, 1)]
    assert H.verifier_cs(circuit(HONEST, rows=changed), 16).digest() != base
    one_more = H.verifier_cs(circuit(HONEST + [ROWS[0]]), 20).digest()
    assert one_more != base


# --- hiding -------------------------------------------------------------------------------------------


def test_which_rows_were_used_does_not_change_the_shape():
    """Two witnesses using different rows: the same circuit (digest), the same proof length, the
    same gate count; the multiplicities are wires, committed and blinded."""
    a_t = [ROWS[0], ROWS[0], ROWS[0], ROWS[0]]
    b_t = [ROWS[4], ROWS[2], ROWS[3], ROWS[1]]
    a = H.prover_cs(circuit(a_t), values(a_t))
    b = H.prover_cs(circuit(b_t), values(b_t))
    assert a.digest() == b.digest() and a.total_gates == b.total_gates
    ma, mb = H.make(circuit(a_t), values(a_t)), H.make(circuit(b_t), values(b_t))
    assert len(ma.proof) == len(mb.proof)
    H.check(circuit(a_t), mb)  # one verifier circuit for both
    H.check(circuit(b_t), ma)


# --- the gadget's own rules ----------------------------------------------------------------------------


def test_lookups_are_recorded_in_phase_one_only():
    cs = ConstraintSystem.for_verifier(1)
    lk = Lookups(cs, range_table(2))
    lk.lookup([cs.inputs[0]], "v")
    lk.finish()
    with pytest.raises(CircuitError, match="finished"):
        lk.lookup([cs.inputs[0]], "late")
    with pytest.raises(CircuitError):
        Lookups(cs.randomize(lambda _l: 5), range_table(2))


def test_a_looked_up_wire_inherits_its_column_bounds():
    cs = ConstraintSystem.for_verifier(0)
    w = cs.allocate(None)
    assert cs.bound(w) is None
    Lookups(cs, table()).lookup([w, cs.allocate(None), cs.allocate(None), cs.allocate(None)], "s")
    assert cs.bound(w) == (0, 9)


def test_tables_are_checked():
    with pytest.raises(CircuitError):
        Table("empty", ["a"], [])
    with pytest.raises(CircuitError):
        Table("ragged", ["a", "b"], [(1, 2), (3,)])
    with pytest.raises(CircuitError):
        range_table(17)
    with pytest.raises(CircuitError, match="half the group order"):
        Table("wide", ["a"], [(0,), (R // 2,)])
    Table("wide enough", ["a"], [(0,), (R // 2 - 1,)])  # twin


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(st.integers(-50, 50), st.integers(0, 3)), min_size=1, max_size=6),
    picks=st.lists(st.tuples(st.integers(0, 5), st.integers(-1, 1), st.integers(0, 1)), min_size=1, max_size=4),
)
def test_property_the_witness_check_accepts_exactly_rows(rows, picks):
    """Random small tables and lookups, each a row, possibly nudged: the check (phase 2 with
    random challenges) accepts iff every tuple is some row."""
    tuples = []
    for j, nudge, field in picks:
        row = list(rows[j % len(rows)])
        row[field] += nudge
        tuples.append(tuple(row))

    def build(cs):
        lk = Lookups(cs, Table("t", ["a", "b"], rows))
        for k in range(len(tuples)):
            lk.lookup(cs.inputs[2 * k : 2 * k + 2], f"slot {k}")
        lk.finish()

    cs = H.prover_cs(build, [v for t in tuples for v in t])
    expected = all(t in [tuple(r) for r in rows] for t in tuples)
    if expected:
        cs.check_witness()
    else:
        with pytest.raises(UnsatisfiedError):
            cs.check_witness()


def test_property_twin_forced_non_rows_fail_phase_two_too():
    """The property above leans on the precheck; the phase-2 constraints alone refuse a non-row
    too (the precheck switched off)."""
    tuples = [ROWS[0], (1, 1, 900, 76)]
    cs = H.prover_cs(circuit(tuples), values(tuples))
    cs.randomized[0].precheck = None
    with pytest.raises(UnsatisfiedError, match="Σ_k 1/"):
        cs.check_witness()
    ok = H.prover_cs(circuit(HONEST), values(HONEST))
    ok.randomized[0].precheck = None
    ok.check_witness()


# --- range checks by lookup -----------------------------------------------------------------------------


@pytest.mark.parametrize("bits, limb", [(8, 4), (10, 4), (1, 4), (13, 8), (16, 8)])
def test_range_check_boundaries(bits, limb):
    top = (1 << bits) - 1
    H.prove_and_verify(range_circuit(bits, limb), [0])
    H.prove_and_verify(range_circuit(bits, limb), [top])
    H.assert_refused(range_circuit(bits, limb), [top + 1], "v")
    H.assert_refused(range_circuit(bits, limb), [R - 1], "v")  # −1


@settings(max_examples=60, deadline=None)
@given(bits=st.integers(1, 20), limb=st.integers(2, 6), value=st.integers(-5, (1 << 21)))
def test_property_lookup_range_check_accepts_exactly_the_range(bits, limb, value):
    cs = H.prover_cs(range_circuit(bits, limb), [value % R])
    if 0 <= value < (1 << bits):
        cs.check_witness()
    else:
        with pytest.raises(UnsatisfiedError):
            cs.check_witness()


def test_range_check_defines_a_free_wire_and_refuses_unsafe_ones():
    cs = ConstraintSystem.for_verifier(2)
    rl = RangeLookups(cs, 4)
    rl.range_check(cs.inputs[0] - 5, 8, "x")  # defines v0 ∈ [5, 260]
    assert cs.bound(cs.inputs[0]) == (5, 260)
    with pytest.raises(CircuitError, match="unbounded"):
        rl.range_check(cs.inputs[1] * 2 + cs.inputs[1], 8, "coefficient 3")
    _, _, o = cs.multiply(cs.inputs[1], cs.inputs[1])
    with pytest.raises(OverflowRiskError):
        rl.range_check(o, 8, "gate output")
    with pytest.raises(OverflowRiskError):
        rl.range_check(cs.inputs[0] * (R // 100), 250, "wraps")  # up to 2.6·r
    # twin: a bounded product is fine
    _, _, p = cs.multiply(cs.inputs[0], cs.inputs[0])
    rl.range_check(p, 17, "bounded product")


def test_lookup_range_checks_are_cheaper_than_bits():
    """64-bit checks: 8 limbs of 8 bits cost 11.5 gates each against 64, plus 128 gates of
    multiplicities once."""
    def by_bits(cs):
        from zkmargin.circuits.gadgets import range_check

        for v in cs.inputs:
            range_check(cs, v, 64, "v")

    def by_lookup(cs):
        rl = RangeLookups(cs, 8)
        for v in cs.inputs:
            rl.range_check(v, 64, "v")
        rl.finish()

    a, b = H.verifier_cs(by_bits, 32), H.verifier_cs(by_lookup, 32)
    assert a.total_gates == 32 * 64
    assert b.total_gates == 128 + 32 * 7 // 2 + 32 * 8
    assert best_limb_bits([64] * 32) == 8 and best_limb_bits([8]) <= 4


def test_a_range_checked_product_of_lookup_checked_values_proves():
    """Integration: lookup range checks beside ordinary gates in one two-phase proof."""

    def build(cs):
        rl = RangeLookups(cs, 4)
        a, b = cs.inputs
        rl.range_check(a, 10, "a")
        rl.range_check(b, 10, "b")
        rl.range_check(product(cs, a, b) - 1000, 20, "a·b ≥ 1000")
        rl.finish()

    H.prove_and_verify(build, [40, 30])
    H.assert_refused(build, [40, 20], "a·b ≥ 1000")
