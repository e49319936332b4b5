"""Vectors of scalars mod ``r`` for the verifier's per-proof work.

The verifier turns every proof into a few thousand scalars (docs/notes/protocol.md,
"Verification"): the flattened weights, powers of y⁻¹, the doubling construction of s, their
products and sums. :class:`ScalarOps` is the small interface it computes them through, whole
vectors at a time. A vector is opaque to the caller (``Vec``); single scalars cross the interface
as Python ``int`` in ``[0, r)``; a vector leaves as canonical 32-byte little-endian scalars
(:meth:`ScalarOps.to_le`), which is what the backends' MSM (``msm_le``) and the batch workers'
pipes take.

Two implementations, which must agree element for element (tests/test_fr_vectors.py runs one
parametrized suite over both):

* :class:`IntOps` — the reference: a list of Python ints, every result reduced;
* ``fr_vectors.FrVecOps`` — the same operations in C over packed Montgomery-form buffers
  (``zkmargin/crypto/_frvec.c``), about thirty times faster; the default wherever it is built.

Imports :mod:`zkmargin.crypto.field` only. Used by the backends and ``zkmargin.verifier``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from itertools import accumulate
from operator import add
from typing import Any

from .field import R

Vec = Any  # an implementation's vector (a list of ints for IntOps, bytes for FrVecOps)
Index = Any  # an implementation's index array (a list of ints for IntOps, packed int32 for FrVecOps)


class ScalarOps(ABC):
    """Vectors of scalars mod r; every method returns a new vector (or an int in [0, r))."""

    name = "abstract"

    # conversions ------------------------------------------------------------------------------

    @abstractmethod
    def from_ints(self, ks: Sequence[int]) -> Vec:
        ...

    def from_le(self, blob: bytes) -> Vec:
        """Canonical 32-byte little-endian scalars (each below r), concatenated."""
        return self.from_ints(le_ints(blob))

    @abstractmethod
    def to_ints(self, v: Vec) -> list[int]:
        ...

    def to_le(self, v: Vec) -> bytes:
        """The vector as canonical 32-byte little-endian scalars, concatenated."""
        return b"".join(k.to_bytes(32, "little") for k in self.to_ints(v))

    @abstractmethod
    def index(self, ks: Sequence[int]) -> Index:
        ...

    # shape --------------------------------------------------------------------------------------

    @abstractmethod
    def length(self, v: Vec) -> int:
        ...

    @abstractmethod
    def concat(self, *vs: Vec) -> Vec:
        ...

    @abstractmethod
    def slice(self, v: Vec, start: int, stop: int) -> Vec:
        ...

    def fill(self, c: int, count: int) -> Vec:
        """``count`` copies of ``c``."""
        return self.from_ints([c % R] * count)

    # arithmetic ---------------------------------------------------------------------------------

    @abstractmethod
    def mul(self, a: Vec, b: Vec) -> Vec:
        ...

    @abstractmethod
    def add(self, a: Vec, b: Vec) -> Vec:
        ...

    @abstractmethod
    def sub(self, a: Vec, b: Vec) -> Vec:
        ...

    @abstractmethod
    def neg(self, a: Vec) -> Vec:
        ...

    @abstractmethod
    def scale(self, a: Vec, c: int) -> Vec:
        ...

    @abstractmethod
    def powers(self, base: int, count: int, start: int) -> Vec:
        """``[start, start·base, …, start·base^(count−1)]``."""
        ...

    @abstractmethod
    def doubling(self, start: int, factors: Sequence[int]) -> Vec:
        """The vector of length 2^len(factors) whose entry i is start·Π_{j: bit j of i set}
        factors[j] (one multiplication per entry)."""
        ...

    @abstractmethod
    def dot(self, a: Vec, b: Vec) -> int:
        ...

    @abstractmethod
    def total(self, a: Vec) -> int:
        ...

    @abstractmethod
    def take(self, v: Vec, idx: Index) -> Vec:
        """``[v[idx_0], v[idx_1], …]``."""
        ...

    @abstractmethod
    def segment_sums(self, v: Vec, idx: Index, starts: Index, ends: Index) -> Vec:
        """``out[i] = Σ_{k ∈ [starts_i, ends_i)} v[idx_k]`` (a sparse matrix times a vector)."""
        ...


def le_ints(blob: bytes) -> list[int]:
    """Concatenated 32-byte little-endian integers, as ints."""
    if len(blob) % 32:
        raise ValueError("scalars: a multiple of 32 bytes")
    return [int.from_bytes(blob[i : i + 32], "little") for i in range(0, len(blob), 32)]


class IntOps(ScalarOps):
    """The reference: lists of Python ints in [0, r), every result reduced mod r."""

    name = "int"

    def from_ints(self, ks: Sequence[int]) -> list[int]:
        return [k % R for k in ks]

    def from_le(self, blob: bytes) -> list[int]:
        ks = le_ints(blob)
        if any(k >= R for k in ks):
            raise ValueError("scalars: an element is not below r")
        return ks

    def to_ints(self, v: list[int]) -> list[int]:
        return list(v)

    def index(self, ks: Sequence[int]) -> list[int]:
        return list(ks)

    def length(self, v: list[int]) -> int:
        return len(v)

    def concat(self, *vs: list[int]) -> list[int]:
        return [k for v in vs for k in v]

    def slice(self, v: list[int], start: int, stop: int) -> list[int]:
        return v[start:stop]

    def fill(self, c: int, count: int) -> list[int]:
        return [c % R] * count

    def mul(self, a: list[int], b: list[int]) -> list[int]:
        _same(a, b)
        return [x * y % R for x, y in zip(a, b)]

    def add(self, a: list[int], b: list[int]) -> list[int]:
        _same(a, b)
        return [(x + y) % R for x, y in zip(a, b)]

    def sub(self, a: list[int], b: list[int]) -> list[int]:
        _same(a, b)
        return [(x - y) % R for x, y in zip(a, b)]

    def neg(self, a: list[int]) -> list[int]:
        return [(-x) % R for x in a]

    def scale(self, a: list[int], c: int) -> list[int]:
        return [x * c % R for x in a]

    def powers(self, base: int, count: int, start: int) -> list[int]:
        out = [0] * count
        acc = start % R
        for i in range(count):
            out[i] = acc
            acc = acc * base % R
        return out

    def doubling(self, start: int, factors: Sequence[int]) -> list[int]:
        out = [start % R]
        for f in factors:
            out += [x * f % R for x in out]
        return out

    def dot(self, a: list[int], b: list[int]) -> int:
        _same(a, b)
        return sum(x * y for x, y in zip(a, b)) % R

    def total(self, a: list[int]) -> int:
        return sum(a) % R

    def take(self, v: list[int], idx: list[int]) -> list[int]:
        if idx and not 0 <= min(idx) <= max(idx) < len(v):
            raise ValueError("take: an index outside the vector")
        return [v[i] for i in idx]

    def segment_sums(self, v: list[int], idx: list[int], starts: list[int], ends: list[int]) -> list[int]:
        if len(starts) != len(ends):
            raise ValueError("segment_sums: starts and ends differ in length")
        prefix = list(accumulate(self.take(v, idx), add, initial=0))
        if any(not 0 <= s <= e <= len(idx) for s, e in zip(starts, ends)):
            raise ValueError("segment_sums: a segment outside the summands")
        return [(prefix[e] - prefix[s]) % R for s, e in zip(starts, ends)]


def _same(a: Sequence[int], b: Sequence[int]) -> None:
    if len(a) != len(b):
        raise ValueError(f"vectors of {len(a)} and {len(b)} elements")


INT_OPS = IntOps()
