"""The R1CS transcript shared by prover and verifier (protocol ``zkmargin.r1cs/v2``).

Before the first challenge the transcript binds, in this order: the protocol version (domain
label), the generator set (its identity digest for the padded size n, which counts both phases'
gates), the circuit (n, m, q and the digest of W_L, W_R, W_O, W_V, c and of every randomized
block's label, gate count and descriptor), every public input the caller supplies (labeled), and
every commitment V_j. Then, in the order of docs/notes/transcript.md:

    A_I, A_O, S                          phase-1 commitments
    [phase-2 challenges, A_I2, A_O2, S2]  only for a circuit with randomized constraints
    y, z, T_1, T_3, T_4, T_5, T_6, [φ], x, t_x, t_x_blinding, e_blinding, w, (L, R, u)…

φ (dalek's ``u``) combines the two phases' commitments; it is drawn only in a two-phase proof.

May import :mod:`.transcript` (the circuit is any object with the
:class:`CircuitShape` of a constraint system). Used by the prover, the verifier and the API.
"""

from __future__ import annotations

from collections.abc import Sequence, Sized
from typing import TYPE_CHECKING, Protocol

from .transcript import Transcript

if TYPE_CHECKING:
    from .generators import Generators

PROTOCOL = b"zkmargin.r1cs/v2"
#: the protocol label of proofs made before the second phase existed (refused, never misread)
OLD_PROTOCOLS = (b"zkmargin.r1cs/v1",)
PHASE1_LABELS = (b"A_I", b"A_O", b"S")
PHASE2_LABELS = (b"A_I2", b"A_O2", b"S2")
T_LABELS = (b"T_1", b"T_3", b"T_4", b"T_5", b"T_6")
PHI_LABEL = b"phi"


class CircuitShape(Protocol):
    """What the transcript binds of a circuit (a :class:`zkmargin.circuits.cs.ConstraintSystem`)."""

    @property
    def m(self) -> int: ...

    @property
    def constraints(self) -> Sized: ...

    def digest(self) -> bytes: ...


def start_transcript(gens: Generators, cs: CircuitShape, n: int, public_inputs: Sequence[tuple[bytes, bytes]],
                     V: Sequence[bytes]) -> Transcript:
    """The transcript up to the first challenge; ``V``: the commitments' 48-byte encodings."""
    t = Transcript(PROTOCOL)
    t.append_message(b"generators", gens.identity_digest(n))
    t.append_u64(b"n", n)
    t.append_u64(b"m", cs.m)
    t.append_u64(b"q", len(cs.constraints))
    t.append_message(b"circuit", cs.digest())
    for label, data in public_inputs:
        t.append_message(b"public:" + bytes(label), bytes(data))
    for encoded in V:
        t.append_point_bytes(b"V", encoded)
    return t
