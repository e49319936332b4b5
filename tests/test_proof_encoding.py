"""Strict decoding of the binary proof (zkmargin/crypto/proof.py), on both backends.

Every malformed input — wrong length, bad header, a point off the curve, the identity or
non-canonical in any point slot, a scalar ≥ r in any scalar slot — is a DecodeError with a
one-line message; the valid encoding decodes and re-encodes byte for byte. A point of the curve
outside the prime-order subgroup decodes in an argument slot (the verifier checks up to torsion,
docs/notes/protocol.md) and the proof is rejected by the verifier; as a commitment it is refused.
The bad points are built here from the curve equation y² = x³ + 4 over F_p, independently of the
backends, and checked with py_ecc's textbook arithmetic.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import r1cs_helpers as H  # noqa: E402

from zkmargin.circuits.gadgets import range_check  # noqa: E402
from zkmargin.crypto.backends import get_backend  # noqa: E402
from zkmargin.crypto.field import R  # noqa: E402
from zkmargin.crypto.proof import MAGIC, MAX_LG_N, PROOF_VERSION, R1CSProof, proof_size  # noqa: E402
from zkmargin.errors import DecodeError, VerificationError  # noqa: E402

P = 0x1A0111EA397FE69A4B1BA7B6434BACD764774B84F38512BF6730D2A0F6B0F6241EABFFFEB153FFFFB9FEFFFFFFFFAAAB
GENERATOR = (
    0x17F1D3A73197D7942695638C4FA9AC0FC3688C4F9774B905A14E3A3F171BAC586C55E83FF97A1AEFFB3AF00ADB22C6BB,
    0x08B3F481E3AAA0F1A09E30ED741D8AE4FCF5E095D5D00AF600DB18CB2C04B3EDD03CC744A2888AE40CAA232946C5E7E1,
)
IDENTITY = bytes([0xC0]) + bytes(47)
ARK = get_backend("arkworks")


# --- points built from the curve equation -----------------------------------------------------------


def compress(x: int, y: int) -> bytes:
    """ZCash compressed form: x big-endian, flags 0x80 (compressed) | 0x20 (y is the larger root)."""
    out = bytearray(x.to_bytes(48, "big"))
    out[0] |= 0x80
    if y > (P - 1) // 2:
        out[0] |= 0x20
    return bytes(out)


def sqrt(a: int) -> int | None:
    y = pow(a, (P + 1) // 4, P)  # p ≡ 3 (mod 4)
    return y if y * y % P == a % P else None


def in_r_torsion(x: int, y: int) -> bool:
    from py_ecc.optimized_bls12_381 import FQ, is_inf, multiply

    return is_inf(multiply((FQ(x), FQ(y), FQ(1)), R))


@functools.cache
def off_curve_point() -> bytes:
    x = 1
    while sqrt(x**3 + 4) is not None:
        x += 1
    return compress(x, 0)


@functools.cache
def non_subgroup_point() -> bytes:
    x = 1
    while True:
        y = sqrt(x**3 + 4)
        if y is not None and not in_r_torsion(x, y):
            return compress(x, y)
        x += 1


@functools.cache
def non_canonical_point() -> bytes:
    """A valid subgroup point whose x is written as x + p (still fits in 381 bits)."""
    for k in range(1, 200):
        enc = ARK.encode(ARK.mul(ARK.generator(), k))
        x = int.from_bytes(enc, "big") & ((1 << 381) - 1)
        if x + P < (1 << 381):
            out = bytearray((x + P).to_bytes(48, "big"))
            out[0] |= enc[0] & 0xE0
            return bytes(out)
    raise AssertionError("no small-x multiple of the generator found")


def test_point_builders_are_right():
    """Twin of the bad points: the same encoder gives the standard generator's encoding; the
    non-subgroup point really is on the curve; the off-curve one really is not."""
    assert compress(*GENERATOR).hex().startswith("97f1d3a7")
    assert compress(*GENERATOR) == ARK.encode(ARK.generator())
    assert in_r_torsion(*GENERATOR)
    bad = non_subgroup_point()
    x = int.from_bytes(bad, "big") & ((1 << 381) - 1)
    assert sqrt(x**3 + 4) is not None
    x_off = int.from_bytes(off_curve_point(), "big") & ((1 << 381) - 1)
    assert sqrt(x_off**3 + 4) is None


BAD_POINTS = {
    "off-curve": off_curve_point,
    "identity": lambda: IDENTITY,
    "non-canonical-x": non_canonical_point,
    "uncompressed-flag": lambda: bytes([ARK.encode(ARK.generator())[0] & 0x7F]) + ARK.encode(ARK.generator())[1:],
    "infinity-flag-with-x": lambda: bytes([ARK.encode(ARK.generator())[0] | 0x40]) + ARK.encode(ARK.generator())[1:],
    "wrong-sign-flag-identity": lambda: bytes([0xE0]) + bytes(47),
}


# --- a valid proof to damage -------------------------------------------------------------------------


def small(cs):
    range_check(cs, cs.inputs[0], 4, "v")


@pytest.fixture(scope="module")
def valid():
    made = H.make(small, [9])
    assert made.proof[5] == 2
    return made


@pytest.mark.parametrize("backend", H.backends_param())
def test_valid_encoding_decodes_and_reencodes(valid, backend):
    be = get_backend(backend)
    p = R1CSProof.from_bytes(valid.proof, backend=be)
    assert p.to_bytes() == valid.proof
    assert p.lg_n == 2 and len(valid.proof) == proof_size(2) == 551 + 2 * 96
    assert R1CSProof.from_bytes(bytearray(valid.proof), backend=be).to_bytes() == valid.proof
    H.check(small, valid, backend=be)


def expect_decode_error(data, backend="arkworks", match=None) -> str:
    with pytest.raises(DecodeError) as info:
        R1CSProof.from_bytes(data, backend=get_backend(backend))
    msg = str(info.value)
    assert H.one_line(msg) and msg.startswith("proof"), msg
    if match is not None:
        assert match in msg, msg
    return msg


# --- length and header -------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", H.backends_param())
@pytest.mark.parametrize("cut", ["by-1", "header-only", "to-0", "one-round-short", "by-1-byte-of-header"])
def test_truncated(valid, backend, cut):
    data = {
        "by-1": valid.proof[:-1],
        "header-only": valid.proof[:6],
        "to-0": b"",
        "one-round-short": valid.proof[:-96],
        "by-1-byte-of-header": valid.proof[:5],
    }[cut]
    expect_decode_error(data, backend)


@pytest.mark.parametrize("backend", H.backends_param())
def test_extended_by_one_byte(valid, backend):
    expect_decode_error(valid.proof + b"\x00", backend, match=str(len(valid.proof) + 1))


def test_length_is_checked_before_any_point(valid):
    """A truncated proof with a bad first point reports the length, not the point: no curve work
    is done on input of the wrong size."""
    data = H.replace(valid.proof, "A_I", off_curve_point())[:-1]
    msg = expect_decode_error(data)
    assert "expected" in msg and str(len(valid.proof)) in msg


@pytest.mark.parametrize("backend", H.backends_param())
def test_bad_magic(valid, backend):
    expect_decode_error(b"zkmX" + valid.proof[4:], backend, match="magic")
    expect_decode_error(valid.proof[:4].lower() + valid.proof[4:], backend, match="magic")


@pytest.mark.parametrize("backend", H.backends_param())
@pytest.mark.parametrize("version", [0, PROOF_VERSION + 1, 255])
def test_bad_version(valid, backend, version):
    expect_decode_error(MAGIC + bytes([version]) + valid.proof[5:], backend, match="version")


@pytest.mark.parametrize("backend", H.backends_param())
@pytest.mark.parametrize("delta", [-2, -1, 1, 3])
def test_lg_n_does_not_match_length(valid, backend, delta):
    data = valid.proof[:5] + bytes([valid.proof[5] + delta]) + valid.proof[6:]
    expect_decode_error(data, backend, match="expected")


@pytest.mark.parametrize("lg_n", [MAX_LG_N + 1, 40, 255])
def test_lg_n_above_16(valid, lg_n):
    # even when the length is exactly right for that many rounds
    data = valid.proof[:5] + bytes([lg_n]) + valid.proof[6:]
    data = data + bytes(max(0, proof_size(lg_n) - len(data)))
    msg = expect_decode_error(data, match=str(MAX_LG_N))
    assert str(lg_n) in msg


def test_lg_n_16_is_the_limit_twin(valid):
    """lg_n = 16 passes the header checks and fails only on its (zero-filled) content."""
    data = valid.proof[:5] + bytes([MAX_LG_N]) + valid.proof[6:]
    data = data + bytes(proof_size(MAX_LG_N) - len(data))
    msg = expect_decode_error(data)
    assert "rounds is more" not in msg and "expected" not in msg


@pytest.mark.parametrize("obj", ["a string", None, [1, 2, 3]])
def test_not_bytes(obj):
    expect_decode_error(obj)


# --- points ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", H.backends_param())
@pytest.mark.parametrize("kind", sorted(BAD_POINTS))
@pytest.mark.parametrize("slot", H.point_slots(2))
def test_bad_point_in_any_slot(valid, backend, kind, slot):
    expect_decode_error(H.replace(valid.proof, slot, BAD_POINTS[kind]()), backend)


@pytest.mark.parametrize("backend", H.backends_param())
@pytest.mark.parametrize("slot", H.point_slots(2))
def test_good_point_in_any_slot_twin(valid, backend, slot):
    """Another valid point in the slot decodes (the verifier, not the decoder, rejects it)."""
    data = H.replace(valid.proof, slot, ARK.encode(ARK.mul(ARK.generator(), 7)))
    assert R1CSProof.from_bytes(data, backend=get_backend(backend)).to_bytes() == data
    with pytest.raises(VerificationError):
        H.check(small, valid, backend=backend, proof=data)


@pytest.mark.parametrize("backend", H.backends_param())
@pytest.mark.parametrize("slot", H.point_slots(2))
def test_point_outside_the_subgroup_in_an_argument_slot_decodes_and_is_rejected(valid, backend, slot):
    """An argument point outside G1 costs the decoder no subgroup test; the verifier rejects the
    proof (its transcript changed, and its check ignores the torsion the point brings)."""
    data = H.replace(valid.proof, slot, non_subgroup_point())
    assert R1CSProof.from_bytes(data, backend=get_backend(backend)).to_bytes() == data
    with pytest.raises(VerificationError):
        H.check(small, valid, backend=backend, proof=data)


@pytest.mark.parametrize("backend", H.backends_param())
def test_a_commitment_with_a_torsion_component_is_rejected(valid, backend):
    """A commitment V + T (T of small order: the G1 component, the committed value, unchanged)
    decodes as a curve point and the proof is rejected (V is in the transcript); the strict
    decoder refuses the same point. Twin: the proof verifies with its own commitments."""
    be = get_backend(backend)
    outside = be.decode(non_subgroup_point(), subgroup=False)
    torsion = be.add(be.mul(outside, R - 1), outside)  # [r]·X: no G1 component left
    V0 = be.decode(valid.V[0])
    shifted = be.encode(be.add(V0, torsion))
    with pytest.raises(DecodeError):
        be.decode(shifted)
    assert be.decode(shifted, subgroup=False) is not None
    cs = H.verifier_cs(small, valid.m)
    proof = R1CSProof.from_bytes(valid.proof, backend=be)
    Vs = [be.decode(v, subgroup=False) for v in [shifted, *valid.V[1:]]]
    with pytest.raises(VerificationError):
        H.verify(cs, proof, Vs, valid.public, backend=be)
    H.check(small, valid, backend=backend)


@pytest.mark.parametrize("backend", H.backends_param())
def test_the_final_check_sees_the_prime_order_component_only(backend):
    """[h]·X = O iff X has no component in G1: a point outside G1 is not the identity up to
    torsion, its torsion part [r]·X is (though not the identity); twin: G1's generator is not."""
    be = get_backend(backend)
    outside = be.decode(non_subgroup_point(), subgroup=False)
    torsion = be.add(be.mul(outside, R - 1), outside)  # [r]·X: the G1 component is gone
    assert not be.is_identity(torsion) and be.is_identity_up_to_torsion(torsion)
    assert not be.is_identity_up_to_torsion(outside)
    assert not be.is_identity_up_to_torsion(be.generator())
    assert be.is_identity_up_to_torsion(be.identity())


def test_bad_point_error_names_its_slot(valid):
    for slot in H.point_slots(2):
        msg = expect_decode_error(H.replace(valid.proof, slot, off_curve_point()))
        assert H.mentions(msg, slot), msg


# --- scalars ---------------------------------------------------------------------------------------

BAD_SCALARS = {
    "r": lambda old: R.to_bytes(32, "big"),
    "r-plus-value": lambda old: (int.from_bytes(old, "big") + R).to_bytes(32, "big"),
    "all-ones": lambda old: b"\xff" * 32,
}


@pytest.mark.parametrize("backend", H.backends_param())
@pytest.mark.parametrize("kind", sorted(BAD_SCALARS))
@pytest.mark.parametrize("slot", H.scalar_slots(2))
def test_non_canonical_scalar_in_any_slot(valid, backend, kind, slot):
    old = H.get(valid.proof, slot)
    msg = expect_decode_error(H.replace(valid.proof, slot, BAD_SCALARS[kind](old)), backend, match="non-canonical")
    assert H.mentions(msg, slot), msg


@pytest.mark.parametrize("slot", H.scalar_slots(2))
def test_largest_canonical_scalar_decodes_twin(valid, slot):
    data = H.replace(valid.proof, slot, (R - 1).to_bytes(32, "big"))
    assert R1CSProof.from_bytes(data).to_bytes() == data
    zero = H.replace(valid.proof, slot, bytes(32))
    assert R1CSProof.from_bytes(zero).to_bytes() == zero


# --- the verifier and lg_n --------------------------------------------------------------------------


def test_verifier_rejects_proof_with_lg_n_not_fitting_its_circuit(valid):
    def bigger(cs):  # 8 gates: needs 3 rounds, the proof has 2
        range_check(cs, cs.inputs[0], 8, "v")

    def smaller(cs):  # 1 gate: needs 0 rounds
        range_check(cs, cs.inputs[0], 1, "v")

    for build, need in ((bigger, 3), (smaller, 0)):
        with pytest.raises(VerificationError, match=f"circuit needs {need}"):
            H.check(build, valid)
    H.check(small, valid)  # twin
