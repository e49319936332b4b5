"""Scalar vectors in C: :class:`FrVecOps`, the :class:`~zkmargin.crypto.scalar_ops.ScalarOps` the
verifier uses wherever the extension ``zkmargin.crypto._frvec`` is built.

A vector is a ``bytes`` object of 32-byte elements in Montgomery form (``_frvec.c``); slicing and
concatenation are byte operations, arithmetic is one C call per vector. Single scalars enter and
leave as ints. :func:`available` tells whether the extension loaded; the native backend falls
back to the reference :class:`~zkmargin.crypto.scalar_ops.IntOps` (about thirty times slower per
element, same results) where it did not, and ``tests/test_fr_vectors.py`` fails on a checkout
where it was not built.

Imports :mod:`zkmargin.crypto.scalar_ops` and the extension. Used by the native backend.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from types import ModuleType

from .field import R
from .scalar_ops import ScalarOps, le_ints


def _load() -> ModuleType | None:
    try:
        from . import _frvec  # typed by _frvec.pyi
    except ImportError:  # pragma: no cover - depends on the install (no C compiler)
        return None
    return _frvec


#: the extension module (its functions take and return bytes), or None where it was not built
_ext = _load()


def available() -> bool:
    """Was the C extension built and importable?"""
    return _ext is not None


def _le(k: int) -> bytes:
    return (k % R).to_bytes(32, "little")


class FrVecOps(ScalarOps):
    """Vectors as packed Montgomery-form ``bytes``, arithmetic in ``_frvec``."""

    name = "frvec"

    def __init__(self) -> None:
        from . import _frvec  # ImportError where it was not built

        self._x = _frvec

    def _s(self, k: int) -> bytes:
        """One scalar in Montgomery form."""
        return self._x.to_mont(_le(k))

    def from_ints(self, ks: Sequence[int]) -> bytes:
        return self._x.to_mont(b"".join((k % R).to_bytes(32, "little") for k in ks))

    def from_le(self, blob: bytes) -> bytes:
        return self._x.to_mont(blob)  # ValueError unless every element is below r

    def to_ints(self, v: bytes) -> list[int]:
        return le_ints(self._x.from_mont(v))

    def to_le(self, v: bytes) -> bytes:
        return self._x.from_mont(v)

    def index(self, ks: Sequence[int]) -> bytes:
        return array("i", ks).tobytes()

    def length(self, v: bytes) -> int:
        return len(v) // 32

    def concat(self, *vs: bytes) -> bytes:
        return b"".join(vs)

    def slice(self, v: bytes, start: int, stop: int) -> bytes:
        return v[32 * start : 32 * stop]

    def fill(self, c: int, count: int) -> bytes:
        return self._s(c) * count

    def mul(self, a: bytes, b: bytes) -> bytes:
        return self._x.mul(a, b)

    def add(self, a: bytes, b: bytes) -> bytes:
        return self._x.add(a, b)

    def sub(self, a: bytes, b: bytes) -> bytes:
        return self._x.sub(a, b)

    def neg(self, a: bytes) -> bytes:
        return self._x.neg(a)

    def scale(self, a: bytes, c: int) -> bytes:
        return self._x.scale(a, self._s(c))

    def powers(self, base: int, count: int, start: int) -> bytes:
        return self._x.powers(self._s(base), count, self._s(start))

    def doubling(self, start: int, factors: Sequence[int]) -> bytes:
        return self._x.doubling(self._s(start), self.from_ints(factors))

    def dot(self, a: bytes, b: bytes) -> int:
        return int.from_bytes(self._x.from_mont(self._x.dot(a, b)), "little")

    def total(self, a: bytes) -> int:
        return int.from_bytes(self._x.from_mont(self._x.total(a)), "little")

    def take(self, v: bytes, idx: bytes) -> bytes:
        return self._x.take(v, idx)

    def segment_sums(self, v: bytes, idx: bytes, starts: bytes, ends: bytes) -> bytes:
        return self._x.segment_sums(v, idx, starts, ends)
