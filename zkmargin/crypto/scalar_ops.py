"""Vectorised arithmetic on scalars mod ``r`` for the verifier's per-proof work.

The verifier turns every proof into a few thousand scalars (docs/notes/protocol.md,
"Verification"). Done one Python ``int`` at a time, the multiplications and reductions cost more
than the multi-scalar multiplication itself, and every ``int`` then has to be converted to the
backend's native scalar. A backend therefore offers its own :class:`ScalarOps`: the verifier
computes in the backend's native scalar type with whole-vector operations (``map`` over C
functions, no interpreter loop per element) and hands the result straight to
:meth:`~zkmargin.crypto.backends.base.GroupBackend.msm_native`.

:class:`IntOps` is the reference: plain ``int`` in ``[0, r)``, every result reduced. The native
backend's ops (``arkworks.NativeScalarOps``) must agree with it element for element
(tests/test_prepared.py checks both on the same inputs).

Imports :mod:`zkmargin.crypto.field` only. Used by the backends and ``zkmargin.verifier``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate, repeat
from operator import add, mul, neg, sub
from typing import Any

from .field import R

Native = Any  # a backend's native scalar (an int in [0, r) for IntOps)


class ScalarOps:
    """Scalars mod r in some representation; every method returns that representation."""

    name = "abstract"

    def of(self, k: int) -> Native:  # pragma: no cover - abstract
        raise NotImplementedError

    def of_many(self, ks: Sequence[int]) -> list[Native]:
        return [self.of(k) for k in ks]

    def to_int(self, x: Native) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    # element-wise and reductions ------------------------------------------------------------------

    def mul(self, a: Native, b: Native) -> Native:  # pragma: no cover - abstract
        raise NotImplementedError

    def vmul(self, xs: Sequence[Native], ys: Sequence[Native]) -> list[Native]:  # pragma: no cover
        raise NotImplementedError

    def vscale(self, xs: Sequence[Native], c: Native) -> list[Native]:  # pragma: no cover
        raise NotImplementedError

    def vadd(self, xs: Sequence[Native], ys: Sequence[Native]) -> list[Native]:  # pragma: no cover
        raise NotImplementedError

    def vsub(self, xs: Sequence[Native], ys: Sequence[Native]) -> list[Native]:  # pragma: no cover
        raise NotImplementedError

    def vneg(self, xs: Sequence[Native]) -> list[Native]:  # pragma: no cover
        raise NotImplementedError

    def to_bytes_many(self, xs: Sequence[Native]) -> bytes:
        """The scalars as 32-byte little-endian integers, concatenated (to cross a process)."""
        return b"".join((self.to_int(x) % R).to_bytes(32, "little") for x in xs)

    @staticmethod
    def ints_from_bytes(blob: bytes) -> list[int]:
        """Inverse of :meth:`to_bytes_many`, as ints."""
        return [int.from_bytes(blob[i : i + 32], "little") for i in range(0, len(blob), 32)]

    def prefix_sums(self, xs: Sequence[Native]) -> list[Native]:
        """``[0, x0, x0+x1, …]`` (len(xs) + 1 entries); IntOps leaves them unreduced."""
        raise NotImplementedError  # pragma: no cover

    def vdiff(self, prefix: Sequence[Native], ends: Sequence[int], starts: Sequence[int]) -> list[Native]:
        """``prefix[e] − prefix[s]`` for each pair: the sums of the segments [s, e)."""
        raise NotImplementedError  # pragma: no cover

    def total(self, xs: Sequence[Native]) -> Native:  # pragma: no cover - abstract
        raise NotImplementedError

    def powers(self, base: Native, count: int, start: Native) -> list[Native]:
        """``[start, start·base, …, start·base^(count−1)]``."""
        out = [start] * count
        acc = start
        for i in range(1, count):
            acc = self.mul(acc, base)
            out[i] = acc
        return out

    def doubling(self, start: Native, factors: Sequence[Native]) -> list[Native]:
        """The vector of length 2^len(factors) whose entry i is start·Π_{j: bit j of i set}
        factors[j] (one multiplication per entry)."""
        out = [start]
        for f in factors:
            out += self.vscale(out, f)
        return out


class IntOps(ScalarOps):
    """The reference: Python ints in [0, r), every result reduced mod r."""

    name = "int"

    def of(self, k: int) -> int:
        return k % R

    def of_many(self, ks: Sequence[int]) -> list[int]:
        return [k % R for k in ks]

    def to_int(self, x: int) -> int:
        return x % R

    def powers(self, base: int, count: int, start: int) -> list[int]:
        out = [0] * count
        acc = start % R
        for i in range(count):
            out[i] = acc
            acc = acc * base % R
        return out

    def mul(self, a: int, b: int) -> int:
        return a * b % R

    def vmul(self, xs: Sequence[int], ys: Sequence[int]) -> list[int]:
        return [x * y % R for x, y in zip(xs, ys)]

    def vscale(self, xs: Sequence[int], c: int) -> list[int]:
        return [x * c % R for x in xs]

    def vadd(self, xs: Sequence[int], ys: Sequence[int]) -> list[int]:
        return [(x + y) % R for x, y in zip(xs, ys)]

    def vsub(self, xs: Sequence[int], ys: Sequence[int]) -> list[int]:
        return [(x - y) % R for x, y in zip(xs, ys)]

    def vneg(self, xs: Sequence[int]) -> list[int]:
        return [(-x) % R for x in xs]

    def prefix_sums(self, xs: Sequence[int]) -> list[int]:
        return list(accumulate(xs, add, initial=0))

    def vdiff(self, prefix: Sequence[int], ends: Sequence[int], starts: Sequence[int]) -> list[int]:
        return [(prefix[e] - prefix[s]) % R for e, s in zip(ends, starts)]

    def total(self, xs: Sequence[int]) -> int:
        return sum(xs) % R


class OperatorOps(ScalarOps):
    """Ops for a native scalar type whose ``+``, ``-``, ``*`` and unary ``-`` are the field's
    (reduced by the type itself): whole vectors go through ``map`` over the operators."""

    def __init__(self, zero: Native, one: Native) -> None:
        self.zero = zero
        self.one = one

    def mul(self, a: Native, b: Native) -> Native:
        return a * b

    def vmul(self, xs: Sequence[Native], ys: Sequence[Native]) -> list[Native]:
        return list(map(mul, xs, ys))

    def vscale(self, xs: Sequence[Native], c: Native) -> list[Native]:
        return list(map(mul, xs, repeat(c, len(xs))))

    def vadd(self, xs: Sequence[Native], ys: Sequence[Native]) -> list[Native]:
        return list(map(add, xs, ys))

    def vsub(self, xs: Sequence[Native], ys: Sequence[Native]) -> list[Native]:
        return list(map(sub, xs, ys))

    def vneg(self, xs: Sequence[Native]) -> list[Native]:
        return list(map(neg, xs))

    def prefix_sums(self, xs: Sequence[Native]) -> list[Native]:
        return list(accumulate(xs, add, initial=self.zero))

    def powers(self, base: Native, count: int, start: Native) -> list[Native]:
        if count <= 0:
            return []
        return list(accumulate(repeat(base, count - 1), mul, initial=start))

    def vdiff(self, prefix: Sequence[Native], ends: Sequence[int], starts: Sequence[int]) -> list[Native]:
        return list(map(sub, map(prefix.__getitem__, ends), map(prefix.__getitem__, starts)))

    def total(self, xs: Sequence[Native]) -> Native:
        acc = self.zero
        for x in xs:
            acc = acc + x
        return acc


INT_OPS = IntOps()
