"""The R1CS proof and its compact, versioned, strictly decoded binary encoding (version 2).

    offset  size        field
    0       4           magic b"zkmR"
    4       1           version (2)
    5       1           lg_n = log2 of the padded number of multiplication gates (0..18)
    6       1           phases: 1 (no randomized constraints) or 2
    7       3·48        A_I, A_O, S                               (phase 1; compressed G1)
    ...     3·48        A_I2, A_O2, S2                            (phase 2; only when phases = 2)
    ...     5·48        T_1, T_3, T_4, T_5, T_6
    ...     3·32        t_x, t_x_blinding (τ_x), e_blinding (μ)  (big-endian, < r)
    ...     lg_n·2·48   L_0, R_0, L_1, R_1, ...                   (inner-product rounds)
    ...     2·32        a, b                                       (final inner-product scalars)

Total 551 + 96·lg_n bytes for one phase (1607 at 2048 gates), 144 more for two. Decoding checks
the version, the phase count and the length before anything else, then every point (on curve,
canonical, not the identity — a phase-2 commitment is always blinded, so never the identity
either) and every scalar (< r). The points here are the argument's own messages; membership of
the prime-order subgroup is not tested for them (a test costs twice the decompression), because the
verifier checks its equation up to torsion: a component outside G1 can neither help a forgery nor
make one proof and a batch disagree (docs/notes/protocol.md, "Points outside the subgroup"). A version-1 proof (zkmargin.r1cs/v1, no phase byte) is
refused with a message that says so: it is never read as a version-2 one.

May import :mod:`zkmargin.errors`, :mod:`.field` and :mod:`.backends`. Used by the prover, the
verifier and the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import DecodeError
from .backends import POINT_BYTES, GroupBackend, get_backend
from .backends.base import Point
from .field import SCALAR_BYTES, scalar_from_bytes, scalar_to_bytes

MAGIC = b"zkmR"
PROOF_VERSION = 2
MAX_LG_N = 18
PHASE1_NAMES = ("A_I", "A_O", "S")
PHASE2_NAMES = ("A_I2", "A_O2", "S2")
T_NAMES = ("T_1", "T_3", "T_4", "T_5", "T_6")
#: the points of a one-phase proof, in encoding order
POINT_NAMES = PHASE1_NAMES + T_NAMES
SCALAR_NAMES = ("t_x", "t_x_blinding", "e_blinding")
HEADER = 7

OLD_VERSION_MESSAGE = (
    "proof: made by an older zkmargin (zkmargin.r1cs/v1, proof version 1); this version reads "
    f"zkmargin.r1cs/v2 proofs (version {PROOF_VERSION}) only: prove again"
)


def point_names(phases: int) -> tuple[str, ...]:
    """The points of a proof with ``phases`` phases, in encoding order."""
    return PHASE1_NAMES + (PHASE2_NAMES if phases == 2 else ()) + T_NAMES


def proof_size(lg_n: int, phases: int = 1) -> int:
    return (
        HEADER
        + len(point_names(phases)) * POINT_BYTES
        + len(SCALAR_NAMES) * SCALAR_BYTES
        + lg_n * 2 * POINT_BYTES
        + 2 * SCALAR_BYTES
    )


@dataclass
class R1CSProof:
    A_I: Any
    A_O: Any
    S: Any
    T_1: Any
    T_3: Any
    T_4: Any
    T_5: Any
    T_6: Any
    t_x: int
    t_x_blinding: int
    e_blinding: int
    L_vec: list[Point] = field(default_factory=list)
    R_vec: list[Point] = field(default_factory=list)
    a: int = 0
    b: int = 0
    backend: GroupBackend | None = None
    A_I2: Any = None
    A_O2: Any = None
    S2: Any = None

    @property
    def lg_n(self) -> int:
        return len(self.L_vec)

    @property
    def phases(self) -> int:
        return 2 if self.A_I2 is not None else 1

    def to_bytes(self) -> bytes:
        be = self.backend or get_backend()
        phases = self.phases
        if phases == 2 and (self.A_O2 is None or self.S2 is None):
            raise ValueError("a two-phase proof needs A_I2, A_O2 and S2")
        out = [MAGIC, bytes([PROOF_VERSION, self.lg_n, phases])]
        out += [be.encode(getattr(self, name)) for name in point_names(phases)]
        out += [scalar_to_bytes(getattr(self, name)) for name in SCALAR_NAMES]
        for L, R in zip(self.L_vec, self.R_vec):
            out += [be.encode(L), be.encode(R)]
        out += [scalar_to_bytes(self.a), scalar_to_bytes(self.b)]
        return b"".join(out)

    @classmethod
    def from_bytes(cls, data: bytes, backend: str | GroupBackend | None = None) -> R1CSProof:
        be = get_backend(backend)
        if not isinstance(data, (bytes, bytearray)):
            raise DecodeError("proof: expected bytes")
        data = bytes(data)
        if len(data) < 5:
            raise DecodeError(f"proof: truncated ({len(data)} bytes)")
        if data[:4] != MAGIC:
            raise DecodeError("proof: not a zkmargin R1CS proof (bad magic)")
        if data[4] == 1:
            raise DecodeError(OLD_VERSION_MESSAGE)
        if data[4] != PROOF_VERSION:
            raise DecodeError(f"proof: unsupported version {data[4]} (this build reads {PROOF_VERSION})")
        if len(data) < HEADER:
            raise DecodeError(f"proof: truncated ({len(data)} bytes)")
        lg_n = data[5]
        if lg_n > MAX_LG_N:
            raise DecodeError(f"proof: {lg_n} inner-product rounds is more than the {MAX_LG_N} supported")
        phases = data[6]
        if phases not in (1, 2):
            raise DecodeError(f"proof: {phases} phases (a proof has 1 or 2)")
        expected = proof_size(lg_n, phases)
        if len(data) != expected:
            raise DecodeError(f"proof: expected {expected} bytes for {lg_n} rounds and {phases} phase(s), got {len(data)}")
        pos = HEADER

        def point(name: str) -> Point:
            nonlocal pos
            try:
                p = be.decode(data[pos : pos + POINT_BYTES], subgroup=False)
            except DecodeError as exc:
                raise DecodeError(f"{name}: {exc.message.removeprefix('point: ')}") from None
            pos += POINT_BYTES
            return p

        def scalar(name: str) -> int:
            nonlocal pos
            s = scalar_from_bytes(data[pos : pos + SCALAR_BYTES], name)
            pos += SCALAR_BYTES
            return s

        try:
            points = {name: point(name) for name in point_names(phases)}
            scalars = {name: scalar(name) for name in SCALAR_NAMES}
            L_vec, R_vec = [], []
            for k in range(lg_n):
                L_vec.append(point(f"L_{k}"))
                R_vec.append(point(f"R_{k}"))
            a, b = scalar("a"), scalar("b")
        except DecodeError as exc:
            raise DecodeError(f"proof: {exc.message}") from None
        return cls(**points, **scalars, L_vec=L_vec, R_vec=R_vec, a=a, b=b, backend=be)
