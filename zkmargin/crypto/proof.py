"""The R1CS proof and its compact, versioned, strictly decoded binary encoding.

    offset  size        field
    0       4           magic b"zkmR"
    4       1           version (1)
    5       1           lg_n = log2 of the padded number of multiplication gates (0..16)
    6       8·48        A_I, A_O, S, T_1, T_3, T_4, T_5, T_6   (compressed G1, identity refused)
    390     3·32        t_x, t_x_blinding (τ_x), e_blinding (μ)  (big-endian, < r)
    486     lg_n·2·48   L_0, R_0, L_1, R_1, ...                   (inner-product rounds)
    ...     2·32        a, b                                       (final inner-product scalars)

Total 550 + 96·lg_n bytes (1606 at 2048 gates). Decoding checks the length before anything else,
then every point (on curve, in subgroup, canonical, not the identity) and every scalar (< r).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .backends import POINT_BYTES, GroupBackend, get_backend
from ..errors import DecodeError
from .field import SCALAR_BYTES, scalar_from_bytes, scalar_to_bytes

MAGIC = b"zkmR"
PROOF_VERSION = 1
MAX_LG_N = 16
POINT_NAMES = ("A_I", "A_O", "S", "T_1", "T_3", "T_4", "T_5", "T_6")
SCALAR_NAMES = ("t_x", "t_x_blinding", "e_blinding")
HEADER = 6


def proof_size(lg_n: int) -> int:
    return HEADER + len(POINT_NAMES) * POINT_BYTES + len(SCALAR_NAMES) * SCALAR_BYTES + lg_n * 2 * POINT_BYTES + 2 * SCALAR_BYTES


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
    L_vec: list = field(default_factory=list)
    R_vec: list = field(default_factory=list)
    a: int = 0
    b: int = 0
    backend: GroupBackend | None = None

    @property
    def lg_n(self) -> int:
        return len(self.L_vec)

    def to_bytes(self) -> bytes:
        be = self.backend or get_backend()
        out = [MAGIC, bytes([PROOF_VERSION, self.lg_n])]
        out += [be.encode(getattr(self, name)) for name in POINT_NAMES]
        out += [scalar_to_bytes(getattr(self, name)) for name in SCALAR_NAMES]
        for L, R in zip(self.L_vec, self.R_vec):
            out += [be.encode(L), be.encode(R)]
        out += [scalar_to_bytes(self.a), scalar_to_bytes(self.b)]
        return b"".join(out)

    @classmethod
    def from_bytes(cls, data: bytes, backend=None) -> "R1CSProof":
        be = get_backend(backend)
        if not isinstance(data, (bytes, bytearray)):
            raise DecodeError("proof: expected bytes")
        data = bytes(data)
        if len(data) < HEADER:
            raise DecodeError(f"proof: truncated ({len(data)} bytes)")
        if data[:4] != MAGIC:
            raise DecodeError("proof: not a zkmargin R1CS proof (bad magic)")
        if data[4] != PROOF_VERSION:
            raise DecodeError(f"proof: unsupported version {data[4]} (this build reads {PROOF_VERSION})")
        lg_n = data[5]
        if lg_n > MAX_LG_N:
            raise DecodeError(f"proof: {lg_n} inner-product rounds is more than the {MAX_LG_N} supported")
        expected = proof_size(lg_n)
        if len(data) != expected:
            raise DecodeError(f"proof: expected {expected} bytes for {lg_n} rounds, got {len(data)}")
        pos = HEADER

        def point(name):
            nonlocal pos
            try:
                p = be.decode(data[pos : pos + POINT_BYTES])
            except DecodeError as exc:
                raise DecodeError(f"{name}: {exc.message.removeprefix('point: ')}") from None
            pos += POINT_BYTES
            return p

        def scalar(name):
            nonlocal pos
            s = scalar_from_bytes(data[pos : pos + SCALAR_BYTES], name)
            pos += SCALAR_BYTES
            return s

        try:
            points = {name: point(name) for name in POINT_NAMES}
            scalars = {name: scalar(name) for name in SCALAR_NAMES}
            L_vec, R_vec = [], []
            for k in range(lg_n):
                L_vec.append(point(f"L_{k}"))
                R_vec.append(point(f"R_{k}"))
            a, b = scalar("a"), scalar("b")
        except DecodeError as exc:
            raise DecodeError(f"proof: {exc.message}") from None
        return cls(**points, **scalars, L_vec=L_vec, R_vec=R_vec, a=a, b=b, backend=be)
