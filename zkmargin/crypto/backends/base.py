"""The small interface every group backend implements.

A backend provides the BLS12-381 G1 group: points in its own native type, scalars as Python ints
in ``[0, r)``. Points only cross between backends as bytes (the standard 48-byte compressed form),
so a proof made with one backend verifies with another and re-encodes byte for byte.

Imports :mod:`zkmargin.crypto.field` only. Implemented by :mod:`.arkworks` and :mod:`.pyecc`; used
by the generators and the proof encoding.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from ..field import G1_COFACTOR, R
from ..scalar_ops import INT_OPS, ScalarOps, le_ints

POINT_BYTES = 48
#: RFC 9380 suite used for every hash-to-curve in zkmargin.
HASH_TO_CURVE_SUITE = "BLS12381G1_XMD:SHA-256_SSWU_RO_"

Point = Any  # a backend's native point type


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
