"""One proof verified from its bytes with the decompression beside the MSM
(``zkmargin.verifier.r1cs.verify_encoded``), and the pieces it stands on: the encoding checks
that need no curve arithmetic (``encoding_x``, ``R1CSProof.parse``), the MSM started on the pool
(``msm_le_start``) and the chunk plan that keeps every chunk at or below a power of two
(``msm_chunks``).

The property that matters: the pipelined path decides exactly as the decode-first path
(``R1CSProof.from_bytes`` + ``verify``) on any input, valid or damaged; it never accepts before
every point has decoded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
import log_helpers as L  # noqa: E402
import r1cs_helpers as H  # noqa: E402
from test_proof_encoding import BAD_POINTS, non_subgroup_point, off_curve_point, small  # noqa: E402

import zkmargin  # noqa: E402
from zkmargin.crypto.backends import (
    arkworks,  # noqa: E402
    get_backend,  # noqa: E402
)
from zkmargin.crypto.backends.base import FIELD_P, IDENTITY_ENCODING, encoding_x  # noqa: E402
from zkmargin.crypto.generators import get_generators  # noqa: E402
from zkmargin.crypto.proof import R1CSProof  # noqa: E402
from zkmargin.crypto.transcript import Transcript  # noqa: E402
from zkmargin.errors import DecodeError, MalformedProofError, VerificationError  # noqa: E402
from zkmargin.verifier.r1cs import verify, verify_encoded  # noqa: E402

ARK = get_backend("arkworks")


@pytest.fixture(scope="module")
def valid():
    return H.make(small, [9])


def encoded_outcome(made, backend, proof: bytes | None = None, V: list[bytes] | None = None) -> str:
    """"ok", "decode" (a DecodeError at parse or decompression) or "reject" (VerificationError)."""
    be = get_backend(backend)
    cs = H.verifier_cs(small, made.m)
    try:
        parsed = R1CSProof.parse(made.proof if proof is None else proof)
        verify_encoded(cs, parsed, made.V if V is None else V, made.public, backend=be)
    except DecodeError:
        return "decode"
    except VerificationError:
        return "reject"
    return "ok"


def decoded_outcome(made, backend, proof: bytes | None = None, V: list[bytes] | None = None) -> str:
    """The same decision by the decode-first path (every point decoded, then one MSM)."""
    be = get_backend(backend)
    cs = H.verifier_cs(small, made.m)
    try:
        p = R1CSProof.from_bytes(made.proof if proof is None else proof, backend=be)
        Vs = [be.decode(v, subgroup=False) for v in (made.V if V is None else V)]
        verify(cs, p, Vs, made.public, backend=be)
    except DecodeError:
        return "decode"
    except VerificationError:
        return "reject"
    return "ok"


# --- the pipelined path decides as the decode-first path --------------------------------------------


@pytest.mark.parametrize("backend", H.backends_param())
def test_a_valid_proof_verifies_from_its_bytes(valid, backend):
    assert encoded_outcome(valid, backend) == decoded_outcome(valid, backend) == "ok"


@pytest.mark.parametrize("backend", H.backends_param())
def test_a_changed_scalar_is_rejected_twin(valid, backend):
    t_x = H.get(valid.proof, "t_x")
    bumped = H.replace(valid.proof, "t_x", (int.from_bytes(t_x, "big") ^ 1).to_bytes(32, "big"))
    assert encoded_outcome(valid, backend, proof=bumped) == decoded_outcome(valid, backend, proof=bumped) == "reject"


@pytest.mark.parametrize("kind", sorted(BAD_POINTS))
@pytest.mark.parametrize("slot", H.point_slots(2))
def test_a_bad_point_in_any_slot_is_a_decode_error_naming_it(valid, kind, slot):
    """Off the curve: parse lets it through (no curve arithmetic there) and the decompression
    beside the MSM refuses it. Every other kind: parse refuses it. Never accepted."""
    data = H.replace(valid.proof, slot, BAD_POINTS[kind]())
    cs = H.verifier_cs(small, valid.m)
    with pytest.raises(DecodeError) as info:
        verify_encoded(cs, R1CSProof.parse(data), valid.V, valid.public, backend=ARK)
    assert H.mentions(info.value.message, slot) and H.one_line(info.value.message)
    assert decoded_outcome(valid, "arkworks", proof=data) == "decode"


def test_only_the_curve_equation_is_left_for_the_decompression(valid):
    """The twin split: an x with no square root passes parse and fails only when decompressed."""
    data = H.replace(valid.proof, "T_3", off_curve_point())
    parsed = R1CSProof.parse(data)
    assert parsed.T_3 == off_curve_point()
    with pytest.raises(DecodeError, match="T_3: not on the curve"):
        parsed.decompressed(ARK)
    assert R1CSProof.parse(valid.proof).decompressed(ARK).to_bytes() == valid.proof


@pytest.mark.parametrize("backend", H.backends_param())
def test_a_commitment_off_the_curve_is_a_decode_error(valid, backend):
    bad = [off_curve_point()] + list(valid.V[1:])
    with pytest.raises(DecodeError, match="commitment 0"):
        verify_encoded(H.verifier_cs(small, valid.m), R1CSProof.parse(valid.proof), bad, valid.public,
                       backend=get_backend(backend))
    assert decoded_outcome(valid, backend, V=bad) == "decode"


@pytest.mark.parametrize("slot", H.point_slots(2))
def test_a_point_outside_the_subgroup_decodes_and_the_proof_is_rejected(valid, slot):
    data = H.replace(valid.proof, slot, non_subgroup_point())
    assert encoded_outcome(valid, "arkworks", proof=data) == decoded_outcome(valid, "arkworks", proof=data) == "reject"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pos=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7), extra=st.integers(0, 3))
def test_any_bit_flip_gets_the_same_decision_both_ways(valid, pos, bit, extra):
    """A flipped bit anywhere in the proof or in a commitment: the pipelined and the
    decode-first paths give the same outcome (never "ok")."""
    blob = bytearray(valid.proof + b"".join(valid.V))
    i = pos % len(blob)
    blob[i] ^= 1 << bit
    if extra:  # sometimes a second flip nearby
        blob[(i + 7 * extra) % len(blob)] ^= 1 << ((bit + extra) % 8)
    proof, rest = bytes(blob[: len(valid.proof)]), bytes(blob[len(valid.proof) :])
    V = [rest[k : k + 48] for k in range(0, len(rest), 48)]
    a, b = encoded_outcome(valid, "arkworks", proof, V), decoded_outcome(valid, "arkworks", proof, V)
    assert a == b and a != "ok"


# --- the checks without curve arithmetic -------------------------------------------------------------


@pytest.mark.parametrize("backend", H.backends_param())
@settings(max_examples=60, deadline=None)
@given(k=st.integers(min_value=1, max_value=2**64), sign=st.booleans())
def test_encoding_x_never_refuses_what_decode_accepts(backend, k, sign):
    be = get_backend(backend)
    enc = be.encode(be.mul(be.generator(), k))
    if sign:
        enc = be.encode(be.neg(be.decode(enc)))
    assert encoding_x(enc) == int.from_bytes(enc, "big") & ((1 << 381) - 1)
    assert be.encode(be.decode(enc)) == enc


@pytest.mark.parametrize("kind", sorted(BAD_POINTS))
def test_encoding_x_refuses_all_but_the_off_curve_kind(kind):
    data = BAD_POINTS[kind]()
    if kind == "off-curve":
        assert encoding_x(data) is not None  # the curve equation is decode's
    else:
        with pytest.raises(DecodeError):
            encoding_x(data)
    assert encoding_x(IDENTITY_ENCODING, allow_identity=True) is None  # twin: the one identity


def test_field_modulus_is_the_curve_libraries_one():
    from py_ecc.optimized_bls12_381 import field_modulus

    assert FIELD_P == field_modulus


def test_the_transcript_refuses_the_identity_encoding_twin_accepts_a_point():
    t = Transcript(b"test")
    with pytest.raises(DecodeError, match="identity"):
        t.append_point_bytes(b"V", IDENTITY_ENCODING)
    t.append_point_bytes(b"V", ARK.encode(ARK.generator()))


# --- the MSM: chunks and the started form ------------------------------------------------------------


@pytest.mark.parametrize("n", [1024, 2048, 2049, 4096, 4097, 4152, 4500, 5000, 9496, 17920])
@pytest.mark.parametrize("workers", [1, 2, 3, 4])
def test_the_chunk_plan_covers_every_point_once(n, workers):
    chunks = arkworks.msm_chunks(n, workers)
    assert chunks[0][0] == 0 and chunks[-1][1] == n
    assert all(a < b for a, b in chunks) and all(b == c for (_, b), (c, _) in zip(chunks, chunks[1:]))
    assert len(chunks) <= workers + 1


def test_a_verifier_sized_msm_keeps_its_chunks_at_the_power_of_two():
    """4,096 generator points and 56 others: two chunks of 2,048 and the rest apart, not two of
    2,076 (the binding's bucket width steps up past 2,048). Twin: where the rest is large, the
    even split is cheaper and is kept."""
    assert arkworks.msm_chunks(4152, 2) == [(0, 2048), (2048, 4096), (4096, 4152)]
    assert arkworks.msm_chunks(4096, 2) == [(0, 2048), (2048, 4096)]
    assert arkworks.msm_chunks(6000, 2) == [(0, 3000), (3000, 6000)]
    assert arkworks.msm_window(2048) == 9 and arkworks.msm_window(2049) == 10
    assert arkworks.msm_cost(2076) > arkworks.msm_cost(2048) * 1.05


@contextlib.contextmanager
def msm_case(n: int):
    """``n`` generator points, random scalars as ints and as little-endian bytes; the MSM thread
    count is restored afterwards."""
    pts = get_generators(ARK).G(n)
    scalars = [secrets.randbelow(ARK.order) for _ in pts]
    before = arkworks._WORKERS
    try:
        yield pts, scalars, b"".join(k.to_bytes(32, "little") for k in scalars)
    finally:
        ARK.set_msm_threads(before)


def test_chunked_started_and_one_thread_msms_agree():
    be = ARK
    with msm_case(4152) as (pts, scalars, le):
        be.set_msm_threads(2)
        chunked = be.encode(be.msm(pts, scalars))
        started = be.encode(be.msm_le_start(pts, le).result())
        be.set_msm_threads(1)
        single = be.encode(be.msm(pts, scalars))
    assert chunked == started == single
    scalars[4151] += 1  # twin: the last chunk (the remainder) counts
    assert be.encode(be.msm(pts, scalars)) != single


def test_a_started_msm_returns_while_its_first_chunk_runs_even_on_one_thread():
    """With one MSM thread, 2,100 points are cut into 2,048 + 52: the first chunk takes the thread
    and the remainder queues. Starting must not wait for the remainder to start (that would wait
    for the first chunk to finish, and the caller would decompress nothing meanwhile)."""
    be = ARK
    with msm_case(2100) as (pts, scalars, le):
        be.set_msm_threads(1)
        assert arkworks.msm_chunks(2100, 1) == [(0, 2048), (2048, 2100)]
        pending = be.msm_le_start(pts, le)
        assert not pending._parts[0].done()  # the caller is free while the first chunk runs
        result = be.encode(pending.result())
    assert result == be.encode(be.msm(pts, scalars))  # twin: and the sum is the whole MSM


# --- the bundle paths name the commitment too ---------------------------------------------------


def test_both_bundle_paths_name_the_commitment_off_the_curve():
    """A batch decodes every point first (``verification.decode``), one proof beside its MSM
    (``verify_encoded``): both say which bundle and which commitment (the twin: untouched, the
    same bundles verify)."""
    made = [L.prove(i) for i in (1, 2)]
    pol = zkmargin.load_policy(L.POLICY)
    mkt = zkmargin.load_market(L.MARKET, pol)
    bundles = [b for b, _ch, _r in made]
    chs = [ch for _b, ch, _r in made]
    assert zkmargin.verify_batch(bundles, mkt, pol, 0, chs).valid
    k = len(bundles[1].commitments) - 1
    bad = dataclasses.replace(bundles[1], commitments=[*bundles[1].commitments[:k], off_curve_point()])
    with pytest.raises(MalformedProofError, match=rf"bundle 1: commitment {k}: not on the curve"):
        zkmargin.verify_batch([bundles[0], bad], mkt, pol, 0, chs, workers=1)
    with pytest.raises(MalformedProofError, match=rf"commitment {k}: not on the curve"):
        zkmargin.verify(bad, mkt, pol, 0, chs[1])
