"""Randomized constraints: the second phase of the R1CS proof (circuits/cs.py RandomizedCS,
prover/r1cs.py, verifier/r1cs.py, zkmargin/proof.py), always through bytes.

The reference gadget is a shuffle (dalek's r1cs example, written here in our own API): committed
values x_0..x_{k-1} and phase-1 wires y_0..y_{k-1} are a permutation of each other iff
Π(x_i − z) = Π(y_i − z) for a challenge z drawn after both are committed. Every new proof element
(A_I2, A_O2, S2, the phase byte, the challenge φ, the phase-2 wires) has a completeness test and a
failing twin; so does the order "phase-1 commitments absorbed, then phase-2 challenges drawn".
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import r1cs_helpers as H  # noqa: E402

from zkmargin.circuits.cs import ConstraintSystem, LinearCombination, RandomizedCS  # noqa: E402
from zkmargin.circuits.gadgets import range_check  # noqa: E402
from zkmargin.crypto.backends import get_backend  # noqa: E402
from zkmargin.crypto.field import R, inv  # noqa: E402
from zkmargin.crypto.proof import OLD_VERSION_MESSAGE, R1CSProof, proof_size  # noqa: E402
from zkmargin.crypto.transcript import Transcript  # noqa: E402
from zkmargin.errors import CircuitError, DecodeError, UnsatisfiedError, VerificationError  # noqa: E402
from zkmargin.prover import r1cs as prover_mod  # noqa: E402
from zkmargin.prover.r1cs import prove  # noqa: E402
from zkmargin.verifier.r1cs import replay, verify, verify_batch  # noqa: E402

ARK = get_backend("arkworks")
K = 4
X = [11, 22, 33, 44]
Y = [33, 11, 44, 22]  # a permutation of X


def shuffle(k: int = K, y_values=None, *, gates=None):
    """Committed x_0..x_{k-1}; phase-1 wires y_i (values ``y_values``, the prover's); in phase 2,
    Π(x_i − z) = Π(y_i − z) with 2(k−1) gates. Each y_i is range-checked to 8 bits in phase 1."""

    def build(cs: ConstraintSystem):
        x = cs.inputs[:k]
        ys = [cs.allocate(H.witness(cs, (lambda i=i: y_values[i]))) for i in range(k)]
        for i, y in enumerate(ys):
            range_check(cs, y, 8, f"y{i}")

        def phase2(rcs: RandomizedCS):
            z = rcs.challenge_scalar(b"shuffle z")

            def chain(vals):
                _, _, o = rcs.multiply(vals[-1] - z, vals[-2] - z)
                for i in range(len(vals) - 3, -1, -1):
                    _, _, o = rcs.multiply(LinearCombination.of(o), vals[i] - z)
                return o

            rcs.constrain(chain(x) - chain(ys), "shuffle: Π(x − z) = Π(y − z)")

        cs.specify_randomized_constraints(phase2, gates=2 * (k - 1) if gates is None else gates, label="shuffle",
                                          descriptor=k.to_bytes(4, "big"))

    return build


GOOD = shuffle(K, Y)


@pytest.fixture(scope="module")
def good():
    made = H.make(GOOD, X)
    assert made.proof[4:7] == bytes([2, 6, 2])  # version 2, lg_n 6, two phases
    return made


def other_point(encoded: bytes) -> bytes:
    return ARK.encode(ARK.add(ARK.decode(encoded), ARK.generator()))


# --- completeness and size ------------------------------------------------------------------------


def test_two_phase_proof_verifies(good):
    """The twin of every failure below."""
    cs = H.verifier_cs(GOOD, K)
    # phase 1: 4 wires y (2 gates) + 4 range checks of 8 bits; phase 2: 2·(4 − 1) gates
    assert cs.n == 34 and cs.phase2_gates == 6 and cs.total_gates == 40 and cs.padded_n() == 64
    result = H.check(GOOD, good)
    assert result.gates == 40 and result.padded == 64
    assert len(good.proof) == proof_size(6, 2) == 551 + 96 * 6 + 3 * 48


def test_one_phase_proof_has_no_phase_two_points():
    """A circuit without randomized constraints pays nothing for the second phase: no A_I2, A_O2,
    S2, no φ, the same size as before plus the phase byte."""
    made = H.prove_and_verify(lambda cs: range_check(cs, cs.inputs[0], 8, "v"), [200])
    assert made.proof[6] == 1 and len(made.proof) == proof_size(3, 1) == 551 + 96 * 3
    p, _ = H.decode(made)
    assert p.A_I2 is None and p.phases == 1


def test_not_a_permutation_is_refused_and_a_forced_proof_rejected():
    bad = shuffle(K, [33, 11, 44, 23])
    H.assert_refused(bad, X, "shuffle: Π(x − z) = Π(y − z)")


def test_phase_two_check_uses_the_transcript_challenge_too():
    """check_witness() on its own draws random challenges for phase 2 and refuses a
    non-permutation; the twin, a permutation, passes."""
    cs = H.prover_cs(shuffle(K, [33, 11, 44, 23]), X)
    cs.check_witness(phase2=False)  # phase 1 alone is satisfied
    with pytest.raises(UnsatisfiedError, match="shuffle"):
        cs.check_witness()
    H.prover_cs(GOOD, X).check_witness()


# --- every proof element of a two-phase proof is bound ----------------------------------------------


@pytest.mark.parametrize("slot", ["A_I2", "A_O2", "S2"])
def test_changed_phase_two_commitment_fails(good, slot):
    H.check(GOOD, good)
    with pytest.raises(VerificationError):
        H.check(GOOD, good, proof=H.replace(good.proof, slot, other_point(H.get(good.proof, slot))))


@pytest.mark.parametrize("slot", ["A_I2", "A_O2", "S2"])
def test_phase_two_commitments_swapped_with_phase_one_fail(good, slot):
    one = {"A_I2": "A_I", "A_O2": "A_O", "S2": "S"}[slot]
    swapped = H.replace(H.replace(good.proof, slot, H.get(good.proof, one)), one, H.get(good.proof, slot))
    with pytest.raises(VerificationError):
        H.check(GOOD, good, proof=swapped)


def test_every_element_of_a_two_phase_proof_is_bound(good):
    lg_n = good.proof[5]
    for name in H.point_slots(lg_n, 2):
        with pytest.raises(VerificationError):
            H.check(GOOD, good, proof=H.replace(good.proof, name, other_point(H.get(good.proof, name))))
    for name in H.scalar_slots(lg_n, 2):
        value = (int.from_bytes(H.get(good.proof, name), "big") + 1) % R
        with pytest.raises(VerificationError):
            H.check(GOOD, good, proof=H.replace(good.proof, name, value.to_bytes(32, "big")))


def test_identity_as_a_phase_two_commitment_is_refused_on_decode(good):
    identity = bytes([0xC0]) + bytes(47)
    with pytest.raises(DecodeError, match="A_O2"):
        R1CSProof.from_bytes(H.replace(good.proof, "A_O2", identity))


def test_phase_two_wires_that_break_the_randomized_constraints_are_rejected(monkeypatch):
    """A prover whose phase-2 gate values are changed after the challenge (its own multiplication
    still consistent, the chain broken) is rejected; the twin with the values untouched verifies."""
    real = ConstraintSystem.randomize

    def corrupting(self, challenge):
        rcs = real(self, challenge)
        i = rcs.n1 + 1
        rcs.a_R[i] = (rcs.a_R[i] + 1) % R
        rcs.a_O[i] = rcs.a_L[i] * rcs.a_R[i] % R
        return rcs

    honest = H.make(GOOD, X)
    H.check(GOOD, honest)
    monkeypatch.setattr(ConstraintSystem, "randomize", corrupting)
    cs = H.prover_cs(GOOD, X)
    with pytest.raises(UnsatisfiedError):
        prove(cs, H.blind(K))
    forced = H.make(GOOD, X, check=False)
    monkeypatch.setattr(ConstraintSystem, "randomize", real)
    with pytest.raises(VerificationError):
        H.check(GOOD, forced)


def test_the_base_system_is_reused_unchanged(good):
    """A verifier keeps one phase-1 system and randomizes it per proof."""
    cs = H.verifier_cs(GOOD, K)
    digest, n, q = cs.digest(), cs.n, len(cs.constraints)
    other = H.make(GOOD, X)
    for made in (good, other, good):
        p, V = H.decode(made)
        verify(cs, p, V, made.public)
    assert (cs.digest(), cs.n, len(cs.constraints)) == (digest, n, q)


def test_declared_gate_count_is_enforced():
    lying = shuffle(K, Y, gates=2 * (K - 1) + 1)
    cs = H.prover_cs(lying, X)
    with pytest.raises(CircuitError, match="declared 7 gates and added 6"):
        prove(cs, H.blind(K))
    H.prove_and_verify(GOOD, X)  # twin


def test_no_randomized_constraints_inside_phase_two():
    def build(cs):
        cs.specify_randomized_constraints(lambda rcs: rcs.specify_randomized_constraints(lambda _: None, gates=0, label="x"),
                                          gates=0, label="nested")

    with pytest.raises(CircuitError, match="second phase"):
        H.prover_cs(build, []).check_witness()


def test_the_descriptor_and_gate_count_enter_the_circuit_digest():
    base = H.verifier_cs(GOOD, K).digest()
    other = ConstraintSystem.for_verifier(K)
    shuffle(K, Y)(other)
    assert other.digest() == base
    changed = ConstraintSystem.for_verifier(K)
    shuffle(K, Y)(changed)
    changed.randomized[0].descriptor = b"other table"
    changed._digest = None
    assert changed.digest() != base


# --- the order: phase-1 commitments are absorbed before any phase-2 challenge ------------------------


@contextlib.contextmanager
def late_phase_one(monkeypatch):
    """A *broken* protocol for prover and verifier alike: A_I, A_O, S enter the transcript only
    after the phase-2 challenges were drawn (just before y)."""
    real_append, real_challenge = Transcript.append_point_bytes, Transcript.challenge_scalar

    def append_point_bytes(self, label, encoded):  # what append_point (the prover) calls too
        if label in (b"A_I", b"A_O", b"S") and not getattr(self, "_flushed", False):
            self.__dict__.setdefault("_held", []).append((label, encoded))
            return None
        return real_append(self, label, encoded)

    def challenge_scalar(self, label):
        if label == b"y" and not getattr(self, "_flushed", False):
            self._flushed = True
            for args in self.__dict__.get("_held", []):
                real_append(self, *args)
        return real_challenge(self, label)

    monkeypatch.setattr(Transcript, "append_point_bytes", append_point_bytes)
    monkeypatch.setattr(Transcript, "challenge_scalar", challenge_scalar)
    try:
        yield
    finally:
        monkeypatch.setattr(Transcript, "append_point_bytes", real_append)
        monkeypatch.setattr(Transcript, "challenge_scalar", real_challenge)


def _cheat_values(z: int) -> list[int]:
    """y that is no permutation of X but Π(x − z) = Π(y − z) at this z: y_0..y_2 chosen, y_3 solved."""
    ys = [1, 2, 3]
    px = 1
    for xv in X:
        px = px * (xv - z) % R
    py = 1
    for yv in ys:
        py = py * (yv - z) % R
    return ys + [(z + px * inv(py)) % R]


def test_a_challenge_drawn_before_the_phase_one_commitments_lets_a_cheater_win_only_in_the_broken_order(monkeypatch):
    """With the phase-2 challenge drawn before A_I is absorbed, a prover learns z from the opening
    alone, then picks phase-1 wires y (no permutation of x) that satisfy the check at that z: the
    broken verifier accepts. The real verifier, which absorbs A_I first, rejects the same proof."""
    z_holder = {}

    def build(cs):
        x = cs.inputs[:K]
        ys = [cs.allocate(H.witness(cs, (lambda i=i: z_holder["y"][i]))) for i in range(K)]

        def phase2(rcs):
            z = rcs.challenge_scalar(b"shuffle z")
            _, _, ox = rcs.multiply(x[3] - z, x[2] - z)
            for i in (1, 0):
                _, _, ox = rcs.multiply(LinearCombination.of(ox), x[i] - z)
            _, _, oy = rcs.multiply(ys[3] - z, ys[2] - z)
            for i in (1, 0):
                _, _, oy = rcs.multiply(LinearCombination.of(oy), ys[i] - z)
            rcs.constrain(ox - oy, "shuffle")

        cs.specify_randomized_constraints(phase2, gates=6, label="shuffle")

    blindings = H.blind(K)
    with late_phase_one(monkeypatch):
        # the cheater predicts z: the opening is all the broken transcript has absorbed by then
        from zkmargin.crypto.generators import get_generators
        from zkmargin.crypto.r1cs_transcript import start_transcript

        gens = get_generators(ARK)
        V = [prover_mod.commit(ARK, gens, v, g) for v, g in zip(X, blindings)]
        vcs = H.verifier_cs(build, K)
        t = start_transcript(gens, vcs, vcs.padded_n(), (), [ARK.encode(v) for v in V])
        z_holder["y"] = _cheat_values(t.challenge_scalar(b"shuffle z"))
        assert sorted(z_holder["y"]) != sorted(X)
        made = H.make(build, X, blindings=blindings)  # the prover's own phase-2 check passes
        H.check(build, made)  # the broken verifier is fooled
    with pytest.raises(VerificationError):
        H.check(build, made)  # the real order: z depends on A_I, which commits to y


def test_the_real_order_twin_a_permutation_verifies_both_ways(monkeypatch):
    with late_phase_one(monkeypatch):
        made = H.make(GOOD, X)
        H.check(GOOD, made)
    H.make(GOOD, X)
    H.prove_and_verify(GOOD, X)


def test_phase_two_challenges_depend_on_each_phase_one_commitment(good):
    p, V = H.decode(good)
    cs = H.verifier_cs(GOOD, K)
    gens = __import__("zkmargin.crypto.generators", fromlist=["get_generators"]).get_generators(ARK)
    base = replay(cs, p, V, (), ARK, gens).phase2_challenges
    assert [label for label, _ in base] == [b"shuffle z"]
    for name in ("A_I", "A_O", "S"):
        q, _ = H.decode(good, proof=H.replace(good.proof, name, other_point(H.get(good.proof, name))))
        assert replay(cs, q, V, (), ARK, gens).phase2_challenges != base, name
    # twin: the phase-2 and later points do not move it
    for name in ("A_I2", "T_1"):
        q, _ = H.decode(good, proof=H.replace(good.proof, name, other_point(H.get(good.proof, name))))
        assert replay(cs, q, V, (), ARK, gens).phase2_challenges == base, name


# --- phase byte, old proofs ----------------------------------------------------------------------------


def _drop_phase_two(proof: bytes) -> bytes:
    """The same bytes re-labelled as a one-phase proof: phase byte 1, A_I2/A_O2/S2 removed."""
    lg_n = proof[5]
    off, _ = H.slots(lg_n, 2)["A_I2"]
    return proof[:6] + b"\x01" + proof[7:off] + proof[off + 3 * 48 :]


def test_a_two_phase_proof_relabelled_as_one_phase_is_rejected(good):
    short = _drop_phase_two(good.proof)
    p = R1CSProof.from_bytes(short)  # a well-formed one-phase proof…
    assert p.phases == 1
    with pytest.raises(VerificationError, match="1 phase"):
        H.check(GOOD, good, proof=short)  # …for a circuit that needs two


def test_a_one_phase_proof_relabelled_as_two_phase_is_rejected():
    build = lambda cs: range_check(cs, cs.inputs[0], 8, "v")  # noqa: E731
    made = H.prove_and_verify(build, [7])
    off, _ = H.slots(made.proof[5], 1)["T_1"]
    g = ARK.encode(ARK.generator())
    long = made.proof[:6] + b"\x02" + made.proof[7:off] + g * 3 + made.proof[off:]
    assert R1CSProof.from_bytes(long).phases == 2
    with pytest.raises(VerificationError, match="2 phase"):
        H.check(build, made, proof=long)


@pytest.mark.parametrize("phases", [0, 3, 255])
def test_phase_byte_outside_one_or_two_is_refused(good, phases):
    with pytest.raises(DecodeError, match="phases"):
        R1CSProof.from_bytes(good.proof[:6] + bytes([phases]) + good.proof[7:])


def test_phase_byte_must_match_the_length(good):
    with pytest.raises(DecodeError, match="expected"):
        R1CSProof.from_bytes(good.proof[:6] + b"\x01" + good.proof[7:])


def test_a_version_one_proof_is_refused_with_a_clear_message():
    """A zkmargin.r1cs/v1 proof (version byte 1, no phase byte) is not misread as a v2 one."""
    made = H.prove_and_verify(lambda cs: range_check(cs, cs.inputs[0], 8, "v"), [5])
    v1 = made.proof[:4] + b"\x01" + made.proof[5:6] + made.proof[7:]  # the v1 layout
    with pytest.raises(DecodeError) as info:
        R1CSProof.from_bytes(v1)
    msg = str(info.value)
    assert msg == OLD_VERSION_MESSAGE and "older zkmargin" in msg and "prove again" in msg
    assert H.one_line(msg)
    assert R1CSProof.from_bytes(made.proof).phases == 1  # twin: the v2 bytes decode


# --- batches, backends ----------------------------------------------------------------------------


def _item(build, made, proof=None, backend=ARK):
    p, V = H.decode(made, backend, proof=proof)
    return (H.verifier_cs(build, made.m), p, V, made.public)


def test_batch_of_one_and_two_phase_proofs(good):
    single = lambda cs: range_check(cs, cs.inputs[0], 16, "v")  # noqa: E731
    other = H.make(single, [40000])
    items = [_item(GOOD, good), _item(single, other), _item(GOOD, H.make(GOOD, X))]
    assert verify_batch(items).proofs == 3


@pytest.mark.parametrize("slot", ["A_I2", "S2", "t_x"])
def test_batch_with_one_bad_two_phase_proof_fails(good, slot):
    single = lambda cs: range_check(cs, cs.inputs[0], 16, "v")  # noqa: E731
    other = H.make(single, [40000])
    if slot == "t_x":
        bad = H.replace(good.proof, slot, ((int.from_bytes(H.get(good.proof, slot), "big") + 1) % R).to_bytes(32, "big"))
    else:
        bad = H.replace(good.proof, slot, other_point(H.get(good.proof, slot)))
    with pytest.raises(VerificationError, match="batch"):
        verify_batch([_item(single, other), _item(GOOD, good, bad)])


@H.requires_pyecc()
def test_two_phase_proof_across_backends(good):
    py = get_backend("py_ecc")
    p, V = H.decode(good, py)
    assert p.to_bytes() == good.proof
    H.check(GOOD, good, backend=py)
    with pytest.raises(VerificationError):
        H.check(GOOD, good, backend=py, proof=H.replace(good.proof, "S2", other_point(H.get(good.proof, "S2"))))


def test_a_v1_bundle_is_refused_by_the_api_with_a_clear_message():
    """A bundle made by an older zkmargin says so in its statement: the API names it, whatever its
    proof bytes; the twin, the same bundle with the current protocol, verifies."""
    import secrets as _secrets

    import margin_strategies as S

    import zkmargin
    from zkmargin.errors import StatementMismatchError

    case = S.base_case("cross")
    ch = _secrets.token_bytes(32)
    bundle = zkmargin.prove(case["account"], case["market"], case["policy"], case["threshold"], ch)
    import copy

    doc = copy.deepcopy(bundle.to_json_dict())
    doc["statement"]["protocol"] = "zkmargin.r1cs/v1"
    with pytest.raises(StatementMismatchError) as info:
        zkmargin.verify(doc, case["market"], case["policy"], case["threshold"], ch)
    msg = str(info.value)
    assert "older zkmargin (zkmargin.r1cs/v1)" in msg and "prove again" in msg and H.one_line(msg)
    assert zkmargin.verify(bundle, case["market"], case["policy"], case["threshold"], ch).valid
