"""Bulletproofs R1CS proofs (prover/r1cs.py, prover/ipa.py, verifier/r1cs.py), always through bytes.

Binding: starting from one valid proof of a reference circuit, changing any single proof element,
any commitment, any public input, any constant or coefficient of the circuit, adding a constraint
or a commitment makes verification fail — and the unaltered proof verifies. Batch verification,
padding edge cases (0, 1, 3 gates, one ~512-gate circuit) and the two backends agreeing on bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
import r1cs_helpers as H  # noqa: E402

from zkmargin.circuits.gadgets import boolean, geq, product, range_check  # noqa: E402
from zkmargin.crypto.backends import get_backend  # noqa: E402
from zkmargin.crypto.field import R  # noqa: E402
from zkmargin.crypto.generators import get_generators  # noqa: E402
from zkmargin.crypto.proof import R1CSProof, proof_size  # noqa: E402
from zkmargin.errors import CircuitError, DecodeError, UnsatisfiedError, VerificationError  # noqa: E402
from zkmargin.prover.r1cs import prove  # noqa: E402
from zkmargin.verifier.r1cs import R1CSVerification, verify, verify_batch  # noqa: E402

ARK = get_backend("arkworks")

# --- the reference circuit ---------------------------------------------------------------------------

CONSTS = {"k": 8, "scale": 3, "offset": 5, "floor": 10, "c_coeff": 1, "slack_bits": 3}
VALUES = [20, 7, 140]  # a, b, c = a·b
PUBLIC = ((b"policy", b"policy-digest-0001"), (b"T", (1000).to_bytes(8, "big")))


def reference(consts=None, *, extra=None):
    k = dict(CONSTS, **(consts or {}))

    def build(cs):
        a, b, c = cs.inputs[:3]
        range_check(cs, a, k["k"], "a")
        range_check(cs, b, k["k"], "b")
        p = product(cs, a, b)
        cs.constrain(p - k["c_coeff"] * c, "c = a·b")
        geq(cs, k["scale"] * a + k["offset"], b + k["floor"], k["k"] + k["slack_bits"], "scale·a + offset ≥ b + floor")
        if extra is not None:
            extra(cs)

    return build


@pytest.fixture(scope="module")
def ref():
    made = H.make(reference(), VALUES, public=PUBLIC)
    assert made.gates == 8 + 8 + 1 + 11 and made.proof[5] == 5  # 28 gates, padded to 32
    return made


def test_reference_proof_verifies(ref):
    """The twin of every binding test below."""
    result = H.check(reference(), ref)
    assert result == R1CSVerification(gates=28, padded=32, proofs=1)
    assert len(ref.proof) == proof_size(5) == 551 + 96 * 5


def test_reference_proof_is_randomised_but_both_verify(ref):
    again = H.make(reference(), VALUES, public=PUBLIC)
    assert again.proof != ref.proof and again.V != ref.V
    H.check(reference(), again)


# --- binding: proof elements ------------------------------------------------------------------------


def other_point(encoded: bytes) -> bytes:
    """Another valid (non-identity, in-subgroup) point: the original plus the generator."""
    return ARK.encode(ARK.add(ARK.decode(encoded), ARK.generator()))


def bump_scalar(encoded: bytes) -> bytes:
    return ((int.from_bytes(encoded, "big") + 1) % R).to_bytes(32, "big")


ALL_SLOTS = [n for n in H.slots(5) if n != "_end"]


@pytest.mark.parametrize("slot", ALL_SLOTS)
def test_altering_any_proof_element_fails(ref, slot):
    old = H.get(ref.proof, slot)
    new = other_point(old) if len(old) == 48 else bump_scalar(old)
    tampered = H.replace(ref.proof, slot, new)
    R1CSProof.from_bytes(tampered)  # still a well-formed proof: the verifier has to catch it
    with pytest.raises(VerificationError):
        H.check(reference(), ref, proof=tampered)


def test_binding_covers_every_slot():
    assert len(ALL_SLOTS) == 8 + 3 + 2 * 5 + 2


@pytest.mark.parametrize("slot", ["A_I", "T_3", "L_0", "R_4"])
def test_negating_a_point_fails(ref, slot):
    tampered = H.replace(ref.proof, slot, ARK.encode(ARK.neg(ARK.decode(H.get(ref.proof, slot)))))
    with pytest.raises(VerificationError):
        H.check(reference(), ref, proof=tampered)


def test_swapping_L_and_R_fails(ref):
    L, Rk = H.get(ref.proof, "L_2"), H.get(ref.proof, "R_2")
    tampered = H.replace(H.replace(ref.proof, "L_2", Rk), "R_2", L)
    with pytest.raises(VerificationError):
        H.check(reference(), ref, proof=tampered)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pos=st.integers(min_value=0), bit=st.integers(0, 7))
def test_any_flipped_bit_rejected_cleanly(ref, pos, bit):
    """One flipped bit anywhere: a DecodeError or a VerificationError, never acceptance and never
    another exception escaping from a backend."""
    pos %= len(ref.proof)
    data = bytearray(ref.proof)
    data[pos] ^= 1 << bit
    with pytest.raises((DecodeError, VerificationError)):
        H.check(reference(), ref, proof=bytes(data))


# --- binding: commitments, public inputs, circuit ---------------------------------------------------


@pytest.mark.parametrize("j", [0, 1, 2])
def test_altering_a_commitment_fails(ref, j):
    V = list(ref.V)
    V[j] = other_point(V[j])
    with pytest.raises(VerificationError):
        H.check(reference(), ref, V=V)


def test_swapping_commitments_fails(ref):
    V = [ref.V[1], ref.V[0], ref.V[2]]
    with pytest.raises(VerificationError):
        H.check(reference(), ref, V=V)


def test_a_commitment_to_the_same_value_with_another_blinding_fails(ref):
    """V is bound as given: recommitting a = 20 with a fresh blinding is a different statement."""
    gens = get_generators(ARK)
    V = list(ref.V)
    V[0] = ARK.encode(ARK.msm([gens.B, gens.B_blinding], [VALUES[0], 12345]))
    with pytest.raises(VerificationError):
        H.check(reference(), ref, V=V)


def test_fewer_or_more_commitments_fail(ref):
    with pytest.raises(VerificationError, match="commitments"):
        H.check(reference(), ref, V=ref.V[:2])
    with pytest.raises(VerificationError, match="commitments"):
        H.check(reference(), ref, V=ref.V + [other_point(ref.V[0])])
    # the verifier's circuit takes a fourth (unused) commitment: a different circuit
    with pytest.raises(VerificationError):
        H.check(reference(), ref, V=ref.V + [other_point(ref.V[0])], m=4)


PUBLIC_CHANGES = {
    "label": ((b"policy", b"policy-digest-0001"), (b"t", (1000).to_bytes(8, "big"))),
    "value": ((b"policy", b"policy-digest-0001"), (b"T", (1001).to_bytes(8, "big"))),
    "value-first": ((b"policy", b"policy-digest-0002"), (b"T", (1000).to_bytes(8, "big"))),
    "dropped": ((b"policy", b"policy-digest-0001"),),
    "added": PUBLIC + ((b"challenge", b"nonce"),),
    "reordered": (PUBLIC[1], PUBLIC[0]),
    "none": (),
    "boundary-moved": ((b"policy", b"policy-digest-0001" + b"T"), (b"", (1000).to_bytes(8, "big"))),
}


@pytest.mark.parametrize("change", sorted(PUBLIC_CHANGES))
def test_altering_public_inputs_fails(ref, change):
    with pytest.raises(VerificationError):
        H.check(reference(), ref, public=PUBLIC_CHANGES[change])


@pytest.mark.parametrize("name", sorted(CONSTS))
def test_altering_a_circuit_constant_fails(ref, name):
    changed = reference({name: CONSTS[name] + 1})
    # the honest prover can prove the changed circuit (so the change is a real, satisfiable circuit)...
    if name != "c_coeff":
        H.make(changed, VALUES, public=PUBLIC)
    # ...but the proof of the original does not verify against it
    with pytest.raises(VerificationError):
        H.check(changed, ref)


def test_an_extra_constraint_fails_even_if_the_witness_satisfies_it(ref):
    def a_is_20(cs):
        cs.constrain(cs.inputs[0] - 20, "a = 20")

    with pytest.raises(VerificationError):
        H.check(reference(extra=a_is_20), ref)
    # twin: proved with the extra constraint, it verifies against the extended circuit
    made = H.make(reference(extra=a_is_20), VALUES, public=PUBLIC)
    H.check(reference(extra=a_is_20), made)


def test_an_extra_empty_constraint_fails(ref):
    with pytest.raises(VerificationError):
        H.check(reference(extra=lambda cs: cs.constrain(0, "nothing")), ref)


def test_an_extra_gate_fails(ref):
    with pytest.raises(VerificationError):
        H.check(reference(extra=lambda cs: cs.allocate(H.witness(cs, lambda: 0))), ref)


# --- forced proofs of false statements ---------------------------------------------------------------


def test_false_statement_refused_by_prover_and_forced_proof_rejected():
    values = [20, 7, 141]  # c ≠ a·b
    H.assert_refused(reference(), values, "c = a·b")


def test_forced_proof_with_commitments_to_other_values_rejected(ref):
    """A prover who proves for the honest values but presents commitments to others."""
    gens = get_generators(ARK)
    cs = H.prover_cs(reference(), VALUES)
    fake = [ARK.msm([gens.B, gens.B_blinding], [v, 99 + i]) for i, v in enumerate([20, 7, 141])]
    proof, V = prove(cs, H.blind(3), PUBLIC, backend=ARK, commitments=fake)
    made = H.Made(proof=proof.to_bytes(), V=[ARK.encode(v) for v in V], m=3, public=PUBLIC)
    with pytest.raises(VerificationError):
        H.check(reference(), made)


# --- API misuse ----------------------------------------------------------------------------------


def test_prove_and_verify_refuse_the_wrong_mode(ref):
    with pytest.raises(CircuitError):
        prove(H.verifier_cs(reference(), 3), H.blind(3))
    with pytest.raises(CircuitError):
        prove(H.prover_cs(reference(), VALUES), H.blind(2))
    p, V = H.decode(ref)
    with pytest.raises(CircuitError):
        verify(H.prover_cs(reference(), VALUES), p, V, PUBLIC)


# --- padding edge cases ----------------------------------------------------------------------------


def zero_gates(cs):
    a, b = cs.inputs
    cs.constrain(a + b - 10, "a + b = 10")
    cs.constrain(2 * a - b - 2, "2a − b = 2")


def one_gate(cs):
    cs.constrain(product(cs, cs.inputs[0], cs.inputs[1]) - 12, "a·b = 12")


def three_gates(cs):
    range_check(cs, cs.inputs[0], 3, "a < 8")


def no_commitments(cs):
    b = boolean(cs, H.witness(cs, lambda: 1), "bit")
    cs.constrain(b - 1, "bit set")


@pytest.mark.parametrize(
    "build,good,bad,lg_n",
    [
        (zero_gates, [4, 6], [5, 5], 0),
        (one_gate, [3, 4], [3, 5], 0),
        (three_gates, [7], [8], 2),
    ],
    ids=["0-gates", "1-gate", "3-gates"],
)
def test_padding_edge_cases(build, good, bad, lg_n):
    made = H.prove_and_verify(build, good)
    assert made.proof[5] == lg_n and len(made.proof) == proof_size(lg_n)
    cs = H.prover_cs(build, bad)
    with pytest.raises(UnsatisfiedError):
        prove(cs, H.blind(cs.m))
    forced = H.make(build, bad, check=False)
    with pytest.raises(VerificationError):
        H.check(build, forced)


def test_no_commitments_at_all():
    made = H.prove_and_verify(no_commitments, [])
    assert made.V == [] and made.gates == 1
    with pytest.raises(VerificationError):
        H.check(no_commitments, made, proof=H.replace(made.proof, "a", bump_scalar(H.get(made.proof, "a"))))


def test_large_circuit_512_gates():
    """Exercises the IPA's materialised folding (FOLD_SPAN) and the concurrent MSMs."""

    def build(cs):
        for j, v in enumerate(cs.inputs):
            range_check(cs, v, 64, f"v{j}")

    values = [(1 << 64) - 1, 0, 1, 12345678901234567890, 2**63, 2**32 + 7, 99, (1 << 64) - 2]
    made = H.prove_and_verify(build, values)
    assert made.gates == 512 and made.proof[5] == 9
    with pytest.raises(VerificationError):
        H.check(build, made, proof=H.replace(made.proof, "L_8", other_point(H.get(made.proof, "L_8"))))


# --- batches ---------------------------------------------------------------------------------------


def range64(cs):
    range_check(cs, cs.inputs[0], 64, "v")


@pytest.fixture(scope="module")
def batch():
    """(build, made) pairs of different circuits and sizes."""
    items = [
        (reference(), H.make(reference(), VALUES, public=PUBLIC)),
        (one_gate, H.make(one_gate, [3, 4])),
        (zero_gates, H.make(zero_gates, [4, 6])),
        (range64, H.make(range64, [2**40])),
        (three_gates, H.make(three_gates, [5], public=((b"x", b"y"),))),
        (reference(), H.make(reference(), [30, 2, 60], public=PUBLIC)),
    ]
    return items


def batch_items(batch, tamper=None):
    out = []
    for i, (build, made) in enumerate(batch):
        proof = made.proof
        if tamper == i:
            proof = H.replace(proof, "t_x", bump_scalar(H.get(proof, "t_x")))
        p, V = H.decode(made, proof=proof)
        out.append((H.verifier_cs(build, made.m), p, V, made.public))
    return out


def test_batch_of_valid_proofs_verifies(batch):
    result = verify_batch(batch_items(batch))
    assert result.proofs == len(batch) and result.padded == 64
    assert verify_batch(batch_items(batch)[:1]).proofs == 1
    assert verify_batch(batch_items(batch) + batch_items(batch)).proofs == 2 * len(batch)  # repeats are fine


@pytest.mark.parametrize("bad", range(6))
def test_batch_with_one_bad_proof_fails(batch, bad):
    with pytest.raises(VerificationError, match="batch"):
        verify_batch(batch_items(batch, tamper=bad))


def test_batch_with_mismatched_commitments_fails(batch):
    items = batch_items(batch)
    cs, p, V, public = items[0]
    items[0] = (cs, p, batch_items(batch)[5][2], public)  # commitments of the other reference proof
    with pytest.raises(VerificationError):
        verify_batch(items)


def test_empty_batch_fails():
    with pytest.raises(VerificationError):
        verify_batch([])


# --- across backends -----------------------------------------------------------------------------


def tiny(cs):
    a, b = cs.inputs
    range_check(cs, a, 4, "a")
    range_check(cs, b, 4, "b")
    cs.constrain(product(cs, a, b) - 15, "a·b = 15")


TINY_PUBLIC = ((b"venue", b"test"),)


@pytest.fixture(scope="module")
def tiny_ark():
    return H.make(tiny, [5, 3], public=TINY_PUBLIC)


@H.requires_pyecc()
def test_arkworks_proof_verifies_with_pyecc(tiny_ark):
    py = get_backend("py_ecc")
    assert tiny_ark.gates == 9 and tiny_ark.proof[5] == 4
    p, V = H.decode(tiny_ark, py)
    assert p.to_bytes() == tiny_ark.proof  # byte-identical re-encoding on the other backend
    assert [py.encode(v) for v in V] == tiny_ark.V
    H.check(tiny, tiny_ark, backend=py)


@H.requires_pyecc()
def test_arkworks_proof_tampered_rejected_by_pyecc(tiny_ark):
    tampered = H.replace(tiny_ark.proof, "b", bump_scalar(H.get(tiny_ark.proof, "b")))
    with pytest.raises(VerificationError):
        H.check(tiny, tiny_ark, backend="py_ecc", proof=tampered)


@H.requires_pyecc()
def test_pyecc_proof_verifies_with_arkworks():
    made = H.make(tiny, [5, 3], public=TINY_PUBLIC, backend="py_ecc")
    assert made.backend == "py_ecc"
    p, V = H.decode(made, ARK)
    assert p.to_bytes() == made.proof
    H.check(tiny, made, backend=ARK)
    H.check(tiny, made, backend="py_ecc")
    tampered = H.replace(made.proof, "T_5", other_point(H.get(made.proof, "T_5")))
    with pytest.raises(VerificationError):
        H.check(tiny, made, backend=ARK, proof=tampered)


@H.requires_pyecc()
def test_pyecc_batch(tiny_ark):
    py = get_backend("py_ecc")
    made2 = H.make(one_gate, [3, 4])
    items = []
    for build, made in ((tiny, tiny_ark), (one_gate, made2)):
        p, V = H.decode(made, py)
        items.append((H.verifier_cs(build, made.m), p, V, made.public))
    assert verify_batch(items, backend=py).proofs == 2
    p, V = H.decode(made2, py, proof=H.replace(made2.proof, "a", bump_scalar(H.get(made2.proof, "a"))))
    items[1] = (items[1][0], p, V, ())
    with pytest.raises(VerificationError):
        verify_batch(items, backend=py)


@H.requires_pyecc()
def test_proof_decoded_with_one_backend_refused_by_the_other(tiny_ark):
    p, V = H.decode(tiny_ark, ARK)
    with pytest.raises(VerificationError, match="backend"):
        verify(H.verifier_cs(tiny, 2), p, V, TINY_PUBLIC, backend="py_ecc")
