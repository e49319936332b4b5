"""The small interface every group backend implements.

A backend provides the BLS12-381 G1 group: points in its own native type, scalars as Python ints
in ``[0, r)``. Points only cross between backends as bytes (the standard 48-byte compressed form),
so a proof made with one backend verifies with another and re-encodes byte for byte.

Imports :mod:`zkmargin.errors`, :mod:`zkmargin.crypto.field` and :mod:`zkmargin.crypto.scalar_ops`. Implemented by :mod:`.arkworks` and :mod:`.pyecc`; used
by the generators and the proof encoding.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from ...errors import DecodeError
from ..field import G1_COFACTOR, R
from ..scalar_ops import INT_OPS, ScalarOps, le_ints

if TYPE_CHECKING:
    from ..fixed_base import FixedBaseTable

POINT_BYTES = 48
#: RFC 9380 suite used for every hash-to-curve in zkmargin.
HASH_TO_CURVE_SUITE = "BLS12381G1_XMD:SHA-256_SSWU_RO_"

Point = Any  # a backend's native point type

#: The base field's modulus p: a G1 point's coordinates are integers mod p (381 bits).
FIELD_P = 0x1A0111EA397FE69A4B1BA7B6434BACD764774B84F38512BF6730D2A0F6B0F6241EABFFFEB153FFFFB9FEFFFFFFFFAAAB
FLAG_COMPRESSED, FLAG_INFINITY, FLAG_SORT = 0x80, 0x40, 0x20
#: The one encoding of the identity: both flags, nothing else.
IDENTITY_ENCODING = bytes([FLAG_COMPRESSED | FLAG_INFINITY]) + bytes(POINT_BYTES - 1)
_X_MASK = (1 << 381) - 1


def encoding_x(data: bytes, *, allow_identity: bool = False) -> int | None:
    """The checks on a compressed encoding that need no curve arithmetic: 48 bytes, the
    compression flag set, the identity only as :data:`IDENTITY_ENCODING` (and only when
    ``allow_identity``), x below p. Returns x, or None for the identity; raises
    :class:`DecodeError`. What is left for :meth:`GroupBackend.decode` is whether x³ + 4 has a
    square root (and the subgroup test); the verifier runs these checks on a bundle before its
    trust rule and the decompression later (:func:`zkmargin.verifier.r1cs.verify_encoded`)."""
    if not isinstance(data, (bytes, bytearray)) or len(data) != POINT_BYTES:
        size = len(data) if isinstance(data, (bytes, bytearray)) else type(data).__name__
        raise DecodeError(f"point: expected {POINT_BYTES} bytes, got {size}")
    flags = data[0]
    if not flags & FLAG_COMPRESSED:
        raise DecodeError("point: not a compressed encoding (compression flag clear)")
    x = int.from_bytes(data, "big") & _X_MASK
    if flags & FLAG_INFINITY:
        if flags & FLAG_SORT or x:
            raise DecodeError("point: identity encoding with other bits set")
        if not allow_identity:
            raise DecodeError("point: the identity is not allowed here")
        return None
    if x >= FIELD_P:
        raise DecodeError("point: non-canonical encoding (x not below the field modulus)")
    return x


class PendingPoint:
    """A multi-scalar multiplication under way (:meth:`GroupBackend.msm_le_start`): the sum of
    ``parts``, futures of points, added by ``add`` once each is done. :meth:`result` waits."""

    def __init__(self, parts: Sequence[Future[Point]], add: Any) -> None:
        self._parts = list(parts)
        self._add = add

    def result(self) -> Point:
        total = self._parts[0].result()
        for part in self._parts[1:]:
            total = self._add(total, part.result())
        return total

    @classmethod
    def done(cls, point: Point) -> PendingPoint:
        """An MSM computed already (a backend without threads)."""
        f: Future[Point] = Future()
        f.set_result(point)
        return cls([f], None)


class GroupBackend(ABC):
    """BLS12-381 G1 with scalars mod ``r``."""

    name: str = "abstract"
    order: int = R

    @abstractmethod
    def identity(self) -> Point: ...

    @abstractmethod
    def generator(self) -> Point:
        """The standard BLS12-381 G1 generator."""

    @abstractmethod
    def add(self, p: Point, q: Point) -> Point: ...

    @abstractmethod
    def neg(self, p: Point) -> Point: ...

    @abstractmethod
    def mul(self, p: Point, k: int) -> Point:
        """``k·p`` for an integer ``k`` (reduced mod r)."""

    @abstractmethod
    def msm(self, points: Sequence[Point], scalars: Sequence[int]) -> Point:
        """``Σ scalars[i]·points[i]``; points must already be validated (decoded or derived)."""

    @abstractmethod
    def eq(self, p: Point, q: Point) -> bool: ...

    @abstractmethod
    def is_identity(self, p: Point) -> bool: ...

    @abstractmethod
    def encode(self, p: Point) -> bytes:
        """Standard 48-byte compressed encoding (ZCash flags)."""

    @abstractmethod
    def decode(self, data: bytes, *, allow_identity: bool = False, subgroup: bool = True) -> Point:
        """Strict decoding: 48 bytes, on the curve, in the prime-order subgroup, canonical,
        and not the identity unless ``allow_identity``. Raises :class:`DecodeError`.

        ``subgroup=False`` skips only the subgroup test, for the argument's own messages inside a
        proof, which the verifier checks up to torsion (:meth:`is_identity_up_to_torsion`;
        docs/notes/protocol.md, "Points outside the subgroup")."""

    @abstractmethod
    def hash_to_curve(self, msg: bytes, dst: bytes) -> Point:
        """RFC 9380 hash-to-G1 with suite ``BLS12381G1_XMD:SHA-256_SSWU_RO_``."""

    # Shared helpers ----------------------------------------------------------------------------

    def sub(self, p: Point, q: Point) -> Point:
        return self.add(p, self.neg(q))

    @property
    def scalar_ops(self) -> ScalarOps:
        """The vector arithmetic the verifier computes its scalars with (the reference ints by
        default)."""
        return INT_OPS

    def msm_le(self, points: Sequence[Point], scalars: bytes) -> Point:
        """:meth:`msm` with the scalars as canonical 32-byte little-endian integers, concatenated
        (what :meth:`ScalarOps.to_le` gives)."""
        return self.msm(points, le_ints(scalars))

    def msm_le_start(self, points: Sequence[Point], scalars: bytes) -> PendingPoint:
        """:meth:`msm_le`, started on the backend's threads so that the caller can work (decode
        points, compute a smaller MSM) until it asks for the :meth:`PendingPoint.result`. A
        backend without threads computes it here."""
        return PendingPoint.done(self.msm_le(points, scalars))

    #: Does this backend take fixed-base tables (:meth:`msm_fixed_start`, ``dump_affine``)? Only
    #: the native one; the others' columns take :meth:`msm_le_start`.
    fixed_base: bool = False

    def msm_fixed_start(self, columns: Sequence[tuple[FixedBaseTable, bytes]]) -> PendingPoint:
        """The sum over ``columns`` of each fixed-base table's MSM over its first points with the
        given 32-byte little-endian scalars, started on the backend's threads
        (:mod:`zkmargin.crypto.fixed_base`; public scalars only)."""
        raise NotImplementedError(f"the {self.name} backend has no fixed-base MSM")

    def set_msm_threads(self, count: int) -> None:
        """Use at most ``count`` threads per MSM in this process (a backend without threads
        ignores it)."""
        return None

    def is_identity_up_to_torsion(self, p: Point) -> bool:
        """Is the prime-order component of ``p`` the identity, i.e. [h]·p = O for the cofactor h?
        The verifier's final check: a proof's argument points may carry a component outside G1,
        which this ignores, so that one proof and a batch decide alike."""
        return self.is_identity(self.mul(p, G1_COFACTOR))

    def msm_pairs(self, pairs: Sequence[tuple[int, Point]]) -> Point:
        return self.msm([p for _, p in pairs], [s for s, _ in pairs])

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
