"""The Fiat–Shamir transcript (zkmargin/crypto/transcript.py).

Frozen vectors pin the byte-exact behaviour; one of them is re-derived here with hashlib from the
specification in the module docstring, so the spec and the code cannot drift apart. The rest shows
that records cannot be confused with each other (labels and data are length-prefixed, kinds are
distinct) and that every challenge depends on everything appended before it.
"""

from __future__ import annotations

import hashlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkmargin.crypto.backends import get_backend
from zkmargin.errors import DecodeError
from zkmargin.crypto.field import R
from zkmargin.crypto.transcript import Transcript

PROTOCOL = b"zkmargin.test/v1"
# The standard BLS12-381 G1 generator, compressed (ZCash encoding).
GENERATOR_HEX = "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"

# Frozen from the implementation (zkmargin r1cs v1). Changing the transcript breaks every proof
# ever issued: if these change, bump the protocol label and regenerate them deliberately.
VECTOR_C_BYTES = (
    "4a366c5dfe59538ef31319680be03f67b38f9c1c15925ff3d2559defed1d102d"
    "1950eb317cda4d2234e746b1bcb829716d84599e0445ac0aea3c82aebbb7a867"
)
VECTOR_Y1 = 0x223056FA4509A11685C302CD3C5C7F642F7DC0E6BD58BD9B700A323181C22205
VECTOR_Y2 = 0x6706AC6D6234A3E62525E7BBC6FF6D89A697EFAB1E392D8127C448A989936220

ARK = get_backend("arkworks")


def vector_transcript() -> Transcript:
    t = Transcript(PROTOCOL)
    t.append_message(b"msg", b"hello world")
    t.append_u64(b"n", 2048)
    t.append_scalar(b"s", 123456789)
    t.append_point(b"P", ARK.generator(), ARK)
    return t


# --- the spec, restated independently --------------------------------------------------------------


def spec_record(kind: int, label: bytes, data: bytes) -> bytes:
    # kind (1 byte) || u32le(len(label)) || label || u64le(len(data)) || data
    return bytes([kind]) + struct.pack("<I", len(label)) + label + struct.pack("<Q", len(data)) + data


def test_frozen_vector():
    t = vector_transcript()
    assert t.challenge_bytes(b"c").hex() == VECTOR_C_BYTES
    assert t.challenge_scalar(b"y") == VECTOR_Y1
    assert t.challenge_scalar(b"y") == VECTOR_Y2


def test_frozen_vector_twin_any_change_moves_it():
    t = vector_transcript()
    t.append_u64(b"extra", 0)
    assert t.challenge_bytes(b"c").hex() != VECTOR_C_BYTES


def test_spec_rederived_with_hashlib():
    """The module docstring's byte-exact spec, implemented from scratch, gives the same bytes."""
    state = spec_record(0x01, b"zkmargin.transcript", PROTOCOL)
    state += spec_record(0x02, b"msg", b"hello world")
    state += spec_record(0x02, b"n", (2048).to_bytes(8, "little"))
    state += spec_record(0x02, b"s", (123456789).to_bytes(32, "big"))
    state += spec_record(0x02, b"P", bytes.fromhex(GENERATOR_HEX))
    state += spec_record(0x03, b"c", b"")
    c = hashlib.sha512(state).digest()
    assert c.hex() == VECTOR_C_BYTES
    state += spec_record(0x04, b"c", c)
    state += spec_record(0x03, b"y", b"")
    out = hashlib.sha512(state).digest()
    assert int.from_bytes(out, "little") % R == VECTOR_Y1
    state += spec_record(0x04, b"y", out) + spec_record(0x03, b"y", b"")
    assert int.from_bytes(hashlib.sha512(state).digest(), "little") % R == VECTOR_Y2


def test_spec_rederivation_twin_big_endian_reduction_differs():
    """Guards the test above: reading the output big-endian would not match."""
    state = b"".join(
        [
            spec_record(1, b"zkmargin.transcript", PROTOCOL),
            spec_record(2, b"msg", b"hello world"),
            spec_record(2, b"n", (2048).to_bytes(8, "little")),
            spec_record(2, b"s", (123456789).to_bytes(32, "big")),
            spec_record(2, b"P", bytes.fromhex(GENERATOR_HEX)),
            spec_record(3, b"c", b""),
        ]
    )
    c = hashlib.sha512(state).digest()
    state += spec_record(4, b"c", c) + spec_record(3, b"y", b"")
    out = hashlib.sha512(state).digest()
    assert int.from_bytes(out, "big") % R != VECTOR_Y1


def test_point_is_appended_compressed():
    """append_point == append_message of the 48-byte compressed form == append_point_bytes."""
    t1, t2, t3 = Transcript(PROTOCOL), Transcript(PROTOCOL), Transcript(PROTOCOL)
    t1.append_point(b"P", ARK.generator(), ARK)
    t2.append_message(b"P", bytes.fromhex(GENERATOR_HEX))
    t3.append_point_bytes(b"P", bytes.fromhex(GENERATOR_HEX))
    assert t1.challenge_bytes(b"c") == t2.challenge_bytes(b"c") == t3.challenge_bytes(b"c")


def test_point_twin_negated_point_differs():
    t1, t2 = Transcript(PROTOCOL), Transcript(PROTOCOL)
    t1.append_point(b"P", ARK.generator(), ARK)
    t2.append_point(b"P", ARK.neg(ARK.generator()), ARK)
    assert t1.challenge_bytes(b"c") != t2.challenge_bytes(b"c")


# --- separation -------------------------------------------------------------------------------------


def challenge_after(*ops) -> bytes:
    t = Transcript(PROTOCOL)
    for label, data in ops:
        t.append_message(label, data)
    return t.challenge_bytes(b"c")


def test_same_appends_same_challenge():
    """Twin of the separation tests: the transcript is deterministic."""
    assert challenge_after((b"ab", b"c")) == challenge_after((b"ab", b"c"))
    assert challenge_after((b"x", b"a"), (b"x", b"bc")) == challenge_after((b"x", b"a"), (b"x", b"bc"))


def test_label_data_boundary_is_bound():
    assert challenge_after((b"ab", b"c")) != challenge_after((b"a", b"bc"))
    assert challenge_after((b"abc", b"")) != challenge_after((b"", b"abc"))


def test_data_split_is_bound():
    one = challenge_after((b"x", b"abc"))
    assert challenge_after((b"x", b"a"), (b"x", b"bc")) != challenge_after((b"x", b"ab"), (b"x", b"c"))
    assert challenge_after((b"x", b"a"), (b"x", b"bc")) != one
    assert challenge_after((b"x", b"abc"), (b"x", b"")) != one


def test_protocol_label_is_bound():
    a, b = Transcript(b"zkmargin.r1cs/v1"), Transcript(b"zkmargin.r1cs/v2")
    assert a.challenge_bytes(b"c") != b.challenge_bytes(b"c")


def test_challenge_label_is_bound():
    a, b = Transcript(PROTOCOL), Transcript(PROTOCOL)
    assert a.challenge_bytes(b"y") != b.challenge_bytes(b"z")


def test_record_kinds_are_distinct():
    """An APPEND of the challenge's own OUTPUT bytes is not the same as drawing the challenge."""
    a = Transcript(PROTOCOL)
    a.challenge_bytes(b"c")
    b = Transcript(PROTOCOL)
    b.append_message(b"c", b"")
    assert a.challenge_bytes(b"d") != b.challenge_bytes(b"d")


def test_u64_and_scalar_encodings_are_fixed_width():
    t1, t2 = Transcript(PROTOCOL), Transcript(PROTOCOL)
    t1.append_u64(b"n", 5)
    t2.append_message(b"n", (5).to_bytes(8, "little"))
    assert t1.challenge_bytes(b"c") == t2.challenge_bytes(b"c")
    t3, t4 = Transcript(PROTOCOL), Transcript(PROTOCOL)
    t3.append_scalar(b"s", 5)
    t4.append_message(b"s", (5).to_bytes(32, "big"))
    assert t3.challenge_bytes(b"c") == t4.challenge_bytes(b"c")
    # twin: the same number as a u64 and as a scalar are different records
    t5, t6 = Transcript(PROTOCOL), Transcript(PROTOCOL)
    t5.append_u64(b"n", 5)
    t6.append_scalar(b"n", 5)
    assert t5.challenge_bytes(b"c") != t6.challenge_bytes(b"c")


def test_scalar_is_reduced_mod_r():
    t1, t2 = Transcript(PROTOCOL), Transcript(PROTOCOL)
    t1.append_scalar(b"s", -1)
    t2.append_scalar(b"s", R - 1)
    assert t1.challenge_bytes(b"c") == t2.challenge_bytes(b"c")
    t3, t4 = Transcript(PROTOCOL), Transcript(PROTOCOL)  # twin: −1 is not 1
    t3.append_scalar(b"s", -1)
    t4.append_scalar(b"s", 1)
    assert t3.challenge_bytes(b"c") != t4.challenge_bytes(b"c")


# --- identity refused --------------------------------------------------------------------------------


def test_identity_point_refused_and_state_untouched():
    t = Transcript(PROTOCOL)
    with pytest.raises(DecodeError, match="identity") as info:
        t.append_point(b"V", ARK.identity(), ARK)
    assert "V" in str(info.value)
    # the refused append left no trace
    assert t.challenge_bytes(b"c") == Transcript(PROTOCOL).challenge_bytes(b"c")


def test_identity_twin_generator_accepted():
    t = Transcript(PROTOCOL)
    t.append_point(b"V", ARK.generator(), ARK)
    assert t.challenge_bytes(b"c") != Transcript(PROTOCOL).challenge_bytes(b"c")


# --- challenges -------------------------------------------------------------------------------------


def test_challenge_scalar_range_and_chaining():
    t = Transcript(PROTOCOL)
    xs = [t.challenge_scalar(b"x") for _ in range(8)]
    assert all(0 < x < R for x in xs)
    assert len(set(xs)) == 8  # the same label twice gives a new challenge (OUTPUT record chains)


def test_zero_challenge_is_redrawn(monkeypatch):
    """A challenge that reduces to 0 mod r is drawn again (the spec's re-draw rule)."""
    outputs = iter([R.to_bytes(64, "little"), (2 * R).to_bytes(64, "little"), (7).to_bytes(64, "little")])
    monkeypatch.setattr(Transcript, "challenge_bytes", lambda self, label: next(outputs))
    assert Transcript(PROTOCOL).challenge_scalar(b"x") == 7


def test_zero_challenge_twin_nonzero_taken_at_once(monkeypatch):
    outputs = iter([(R + 3).to_bytes(64, "little"), (7).to_bytes(64, "little")])
    monkeypatch.setattr(Transcript, "challenge_bytes", lambda self, label: next(outputs))
    assert Transcript(PROTOCOL).challenge_scalar(b"x") == 3


labels = st.binary(min_size=0, max_size=6)
datas = st.binary(min_size=0, max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    ops=st.lists(st.tuples(labels, datas), min_size=1, max_size=6),
    where=st.integers(min_value=0, max_value=5),
    what=st.sampled_from(["label", "data", "drop", "insert"]),
    extra=st.binary(min_size=1, max_size=3),
    draws=st.integers(min_value=1, max_value=3),
)
def test_every_challenge_depends_on_everything_before_it(ops, where, what, extra, draws):
    """Changing any one earlier append (label, data, removing it, adding one) changes every
    challenge drawn after it; challenges drawn before the change are unaffected."""
    where %= len(ops)

    def run(seq):
        t = Transcript(PROTOCOL)
        before = t.challenge_scalar(b"pre")
        for label, data in seq:
            t.append_message(label, data)
        return before, [t.challenge_scalar(b"x") for _ in range(draws)]

    changed = list(ops)
    label, data = ops[where]
    if what == "label":
        changed[where] = (label + extra, data)
    elif what == "data":
        changed[where] = (label, data + extra)
    elif what == "drop":
        del changed[where]
    else:
        changed.insert(where, (extra, b""))
    pre_a, after_a = run(ops)
    pre_b, after_b = run(changed)
    assert pre_a == pre_b
    assert all(a != b for a, b in zip(after_a, after_b))
    assert run(ops) == (pre_a, after_a)  # twin: unchanged input, unchanged challenges


# --- the R1CS opening (zkmargin/crypto/r1cs_transcript.py) ----------------------------------------------------


def _r1cs_opening_inputs():
    from zkmargin.circuits.cs import ConstraintSystem
    from zkmargin.circuits.gadgets import range_check
    from zkmargin.crypto.generators import get_generators

    cs = ConstraintSystem.for_verifier(2)
    range_check(cs, cs.inputs[0], 3, "a")
    cs.constrain(cs.inputs[0] - cs.inputs[1], "a = b")
    gens = get_generators(ARK)
    V = [ARK.mul(ARK.generator(), 5), ARK.mul(ARK.generator(), 6)]
    public = [(b"policy", b"p1"), (b"T", b"\x07")]
    return cs, gens, V, public


def test_r1cs_opening_follows_its_docstring_order():
    from zkmargin.crypto.r1cs_transcript import PROTOCOL as R1CS_PROTOCOL
    from zkmargin.crypto.r1cs_transcript import start_transcript

    cs, gens, V, public = _r1cs_opening_inputs()
    n = cs.padded_n()
    manual = Transcript(b"zkmargin.r1cs/v1")
    manual.append_message(b"generators", gens.identity_digest(n))
    manual.append_u64(b"n", n)
    manual.append_u64(b"m", cs.m)
    manual.append_u64(b"q", len(cs.constraints))
    manual.append_message(b"circuit", cs.digest())
    for label, data in public:
        manual.append_message(b"public:" + label, data)
    for p in V:
        manual.append_point(b"V", p, ARK)
    assert R1CS_PROTOCOL == b"zkmargin.r1cs/v1"
    assert start_transcript(ARK, gens, cs, n, public, V).challenge_bytes(b"y") == manual.challenge_bytes(b"y")


def test_r1cs_opening_twin_each_input_moves_the_first_challenge():
    from zkmargin.crypto.r1cs_transcript import start_transcript

    cs, gens, V, public = _r1cs_opening_inputs()
    n = cs.padded_n()
    base = start_transcript(ARK, gens, cs, n, public, V).challenge_bytes(b"y")
    variants = [
        start_transcript(ARK, gens, cs, 2 * n, public, V),  # another padded size (and generator set)
        start_transcript(ARK, gens, cs, n, public[:1], V),
        start_transcript(ARK, gens, cs, n, [(b"policy", b"p2"), public[1]], V),
        start_transcript(ARK, gens, cs, n, public, V[::-1]),
    ]
    cs.constrain(cs.inputs[1] - cs.inputs[1], "extra")  # q changes
    variants.append(start_transcript(ARK, gens, cs, n, public, V))
    ys = [t.challenge_bytes(b"y") for t in variants]
    assert base not in ys and len(set(ys)) == len(ys)
