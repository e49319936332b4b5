"""Native backend: ``py_arkworks_bls12381`` (Rust arkworks). The default.

Its multi-scalar multiplication releases the GIL, so large MSMs are split across the machine's
cores with a small thread pool; scalars cross the boundary as 32-byte little-endian strings
(``Scalar.from_le_bytes``, ~0.2 µs) rather than through ``Scalar(int)`` (~4.5 µs).

Imports ``py_arkworks_bls12381``, :mod:`zkmargin.errors`, :mod:`zkmargin.crypto.field` and
:mod:`.base`. Loaded by :func:`zkmargin.crypto.backends.get_backend` on first use.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from operator import itemgetter
from struct import iter_unpack
from typing import Any

from py_arkworks_bls12381 import G1Point, Scalar

from ...errors import DecodeError
from .. import fr_vectors
from ..field import R
from ..fr_vectors import FrVecOps
from ..scalar_ops import INT_OPS, ScalarOps
from .base import POINT_BYTES, GroupBackend, Point

#: Below this many points an MSM runs on the calling thread (splitting costs more than it saves).
PARALLEL_MSM_MIN = 1024
#: Environment variable: threads per MSM in this process (default: the cores, at most 4). A
#: process that runs beside others doing the same work (the service's workers, a batch's forked
#: workers) takes its share of the cores instead, so that the threads do not outnumber them.
THREADS_ENV = "ZKMARGIN_MSM_THREADS"


def msm_threads_default() -> int:
    env = os.environ.get(THREADS_ENV, "")
    if env.isdigit() and int(env) >= 1:
        return min(64, int(env))
    return max(1, min(4, os.cpu_count() or 1))


_WORKERS = msm_threads_default()
_pool: ThreadPoolExecutor | None = None


def set_msm_threads(count: int) -> None:
    """Use ``count`` threads per MSM from now on in this process (the pool is rebuilt lazily)."""
    global _WORKERS, _pool
    count = max(1, int(count))
    if count != _WORKERS:
        _WORKERS = count
        old, _pool = _pool, None
        if old is not None:
            old.shutdown(wait=False)


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="zkmargin-msm")
    return _pool


def _forget_pool_after_fork() -> None:
    """In a forked child: drop the parent's pool. The child inherits the executor object but not
    its threads, so work queued on it would never run (the child hung on its first MSM of
    ``PARALLEL_MSM_MIN`` points or more); the child starts its own pool on first use."""
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def _scalar(k: int) -> Scalar:
    return Scalar.from_le_bytes((k % R).to_bytes(32, "little"))


class ArkworksBackend(GroupBackend):
    name = "arkworks"

    def __init__(self) -> None:
        self._identity = G1Point.identity()
        self._generator = G1Point()
        #: wall-clock seconds spent inside native MSM calls (for the benchmark's "MSM share")
        self.msm_seconds = 0.0
        self._ops: ScalarOps = FrVecOps() if fr_vectors.available() else INT_OPS

    @property
    def scalar_ops(self) -> ScalarOps:
        return self._ops

    def identity(self) -> Point:
        return self._identity

    def generator(self) -> Point:
        return self._generator

    def add(self, p: Point, q: Point) -> Point:
        return p + q

    def neg(self, p: Point) -> Point:
        return -p

    def sub(self, p: Point, q: Point) -> Point:
        return p - q

    def mul(self, p: Point, k: int) -> Point:
        return p * _scalar(k)

    def native_scalars(self, scalars: Sequence[int]) -> list[Scalar]:
        return [Scalar.from_le_bytes((k % R).to_bytes(32, "little")) for k in scalars]

    def set_msm_threads(self, count: int) -> None:
        set_msm_threads(count)

    def msm(self, points: Sequence[Point], scalars: Sequence[int]) -> Point:
        if len(points) != len(scalars):
            raise ValueError("msm: points and scalars differ in length")
        return self._msm(points, scalars, self.native_scalars)

    def msm_le(self, points: Sequence[Point], scalars: bytes) -> Point:
        if len(scalars) != 32 * len(points):
            raise ValueError("msm: points and scalars differ in length")
        # iter_unpack cuts the 32-byte pieces in C; from_le_bytes reads canonical scalars
        pieces = list(map(itemgetter(0), iter_unpack("32s", scalars)))
        return self._msm(points, pieces, lambda chunk: list(map(Scalar.from_le_bytes, chunk)))

    def _msm(self, points: Sequence[Point], scalars: Sequence[Any], convert: Callable[[Sequence[Any]], list[Scalar]]) -> Point:
        """The MSM, split over the pool when large. Each chunk's scalars are converted to the
        binding's ``Scalar`` just before the chunk is handed to a thread, so the conversion of
        the next chunk overlaps the multiplication of the previous one."""
        n = len(points)
        if n == 0:
            return self._identity
        t0 = time.perf_counter()
        if n < PARALLEL_MSM_MIN or _WORKERS == 1:
            total = G1Point.multiexp_unchecked(list(points), convert(scalars))
        else:
            step = -(-n // _WORKERS)
            pool = _executor()
            futures = [pool.submit(G1Point.multiexp_unchecked, list(points[i : i + step]), convert(scalars[i : i + step]))
                       for i in range(0, n, step)]
            total = futures[0].result()
            for f in futures[1:]:
                total = total + f.result()
        self.msm_seconds += time.perf_counter() - t0
        return total

    def msm_many(self, jobs: Sequence[tuple[Sequence[Point], Sequence[int]]]) -> list[Point]:
        """Several independent MSMs, run concurrently (the GIL is released inside each)."""
        prepared = [(list(p), self.native_scalars(s)) for p, s in jobs]
        t0 = time.perf_counter()
        out = list(_executor().map(lambda c: G1Point.multiexp_unchecked(c[0], c[1]) if c[0] else self._identity, prepared))
        self.msm_seconds += time.perf_counter() - t0
        return out

    def eq(self, p: Point, q: Point) -> bool:
        return bool(p == q)

    def is_identity(self, p: Point) -> bool:
        return bool(p == self._identity)

    def encode(self, p: Point) -> bytes:
        return bytes(p.to_compressed_bytes())

    def decode(self, data: bytes, *, allow_identity: bool = False, subgroup: bool = True) -> Point:
        if not isinstance(data, (bytes, bytearray)) or len(data) != POINT_BYTES:
            size = len(data) if isinstance(data, (bytes, bytearray)) else type(data).__name__
            raise DecodeError(f"point: expected {POINT_BYTES} bytes, got {size}")
        data = bytes(data)
        try:
            # Decompression solves y² = x³ + 4, so what it returns is on the curve (an x without a
            # square root fails here); the binding's checked loader adds a subgroup test by a full
            # multiplication by r, about twice the cost of the endomorphism test below (the
            # verifier decodes ~50 points per proof).
            point = G1Point.from_compressed_bytes_unchecked(data)
        except (ValueError, OverflowError):
            raise DecodeError("point: not a valid compressed G1 point (off the curve, not in the subgroup, or bad flags)") from None
        # Load-bearing: the binding accepts some malformed identity encodings (sort flag set on
        # the identity, infinity flag with x != 0, all-ones) and returns the identity for them.
        # Re-encoding and comparing makes the accepted set exactly the canonical encodings.
        if bytes(point.to_compressed_bytes()) != data:
            raise DecodeError("point: non-canonical encoding")
        if not allow_identity and point == self._identity:
            raise DecodeError("point: the identity is not allowed here")
        # tests/test_backends.py::test_decode_wrong_subgroup and the parity tests against the
        # reference backend pin that points of the curve outside G1 are refused here
        if subgroup and not point.is_in_subgroup():
            raise DecodeError("point: not a valid compressed G1 point (off the curve, not in the subgroup, or bad flags)")
        return point

    def hash_to_curve(self, msg: bytes, dst: bytes) -> Point:
        return G1Point.hash_to_curve(bytes(msg), bytes(dst))

    # Generator cache support (zkmargin.crypto.generators) -------------------------------------------

    @staticmethod
    def dump_affine(points: Sequence[Point]) -> bytes:
        """Concatenated 96-byte little-endian affine (x || y) encodings."""
        return b"".join(bytes(p.to_xy_bytes_le()) for p in points)

    @staticmethod
    def load_affine_unchecked(data: bytes, count: int) -> list[Point]:
        """Inverse of :meth:`dump_affine`. Checks each point is on the curve, not the subgroup:
        callers must compare the result against a pinned digest before trusting it."""
        if len(data) != 96 * count:
            raise ValueError("affine point table has the wrong length")
        return [G1Point.from_xy_bytes_unchecked_le(data[i : i + 96]) for i in range(0, len(data), 96)]

