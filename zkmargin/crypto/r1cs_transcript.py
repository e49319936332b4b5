"""The opening of every R1CS transcript, shared by prover and verifier.

Before the first challenge the transcript binds, in this order: the protocol version (domain
label), the generator set (its identity digest for the padded size n), the circuit (n, m, q and the
digest of W_L, W_R, W_O, W_V, c), every public input the caller supplies (labeled), and every
commitment V_j.
"""

from __future__ import annotations

from typing import Sequence

from .transcript import Transcript

PROTOCOL = b"zkmargin.r1cs/v1"


def start_transcript(backend, gens, cs, n: int, public_inputs: Sequence[tuple[bytes, bytes]], V: Sequence) -> Transcript:
    t = Transcript(PROTOCOL)
    t.append_message(b"generators", gens.identity_digest(n))
    t.append_u64(b"n", n)
    t.append_u64(b"m", cs.m)
    t.append_u64(b"q", len(cs.constraints))
    t.append_message(b"circuit", cs.digest())
    for label, data in public_inputs:
        t.append_message(b"public:" + bytes(label), bytes(data))
    for point in V:
        t.append_point(b"V", point, backend)
    return t
