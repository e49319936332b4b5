"""Native backend: ``py_arkworks_bls12381`` (Rust arkworks). The default.

Its multi-scalar multiplication releases the GIL, so large MSMs are split across the machine's
cores with a small thread pool; scalars cross the boundary as 32-byte little-endian strings
(``Scalar.from_le_bytes``, ~0.2 µs) rather than through ``Scalar(int)`` (~4.5 µs).

Imports ``py_arkworks_bls12381``, :mod:`zkmargin.errors`, :mod:`zkmargin.crypto.field` and
:mod:`.base`. Loaded by :func:`zkmargin.crypto.backends.get_backend` on first use.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from operator import itemgetter
from struct import iter_unpack
from typing import Any

from py_arkworks_bls12381 import G1Point, Scalar

from ...errors import DecodeError
from .. import fr_vectors
from ..field import R
from ..fixed_base import FixedBaseTable
from ..fr_vectors import FrVecOps
from ..scalar_ops import INT_OPS, ScalarOps
from .base import GroupBackend, PendingPoint, Point, encoding_x

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


def msm_window(size: int) -> int:
    """The bucket width the binding's MSM (arkworks 0.4, ``msm_bigint_wnaf``) picks for ``size``
    points: 3 below 32, else ``⌈log2 size⌉·69/100 + 2``. It steps up one bit just past each
    power of two from 2,048 on (2,048 → 9, 2,049 → 10)."""
    if size < 32:
        return 3
    return (size - 1).bit_length() * 69 // 100 + 2


def msm_cost(size: int) -> int:
    """Roughly the group additions of one binding MSM of ``size`` points: per 255-bit digit
    window, one per point and one per bucket. It predicts the measured step at a power of two
    (2,076 points take 8–11 % more per point than 2,048; benchmarks/bench_scale.py)."""
    if size == 0:
        return 0
    c = msm_window(size)
    return -(-255 // c) * (size + (1 << c))


def msm_chunks(n: int, workers: int) -> list[tuple[int, int]]:
    """How an MSM of ``n`` points is cut for ``workers`` threads, as ``(start, end)`` ranges: the
    even split, or — when that lands just past a power of two, as a verifier's 4,096 generator
    columns plus its proof's ~56 points do — ``workers`` chunks of the power of two and a small
    remainder (run on the calling thread), whichever :func:`msm_cost` says is cheaper."""
    step = -(-n // workers)
    even = [(i, min(n, i + step)) for i in range(0, n, step)]
    pow2 = 1 << (step.bit_length() - 1)
    rest = n - workers * pow2
    if pow2 == step or rest <= 0:
        return even
    cut = [(i * pow2, (i + 1) * pow2) for i in range(workers)] + [(workers * pow2, n)]
    if sum(msm_cost(b - a) for a, b in cut) < sum(msm_cost(b - a) for a, b in even):
        return cut
    return even


def _multiexp_started(started: threading.Event, points: list[Point], scalars: list[Scalar]) -> Point:
    started.set()
    return G1Point.multiexp_unchecked(points, scalars)


def _submit(points: list[Point], scalars: list[Scalar]) -> Future[Point]:
    """One chunk on the pool, returning once a thread has taken it. A pool thread needs the GIL
    to start the native call (which then releases it); if the caller went straight on with
    Python work — converting the next chunk, decompressing points — the thread waited for the
    interpreter's switch interval (5 ms) before it could start: 2–6 ms measured per chunk on a
    W1 verification, with a core idle. Waiting on the event hands the GIL over at once."""
    started = threading.Event()
    future = _executor().submit(_multiexp_started, started, points, scalars)
    started.wait()
    return future


def _fixed_piece(table: FixedBaseTable, start: int, scalars: bytes) -> Point:
    xy = table.msm(start, scalars)
    return G1Point.identity() if xy is None else G1Point.from_xy_bytes_unchecked_le(xy)


def _scalar(k: int) -> Scalar:
    return Scalar.from_le_bytes((k % R).to_bytes(32, "little"))


class ArkworksBackend(GroupBackend):
    name = "arkworks"
    fixed_base = True

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
        """The MSM, split over the pool when large (:func:`msm_chunks`). Each chunk's scalars are
        converted to the binding's ``Scalar`` just before the chunk is handed to a thread, so the
        conversion of the next chunk overlaps the multiplication of the previous one; a small
        last chunk runs on the calling thread while the pool works."""
        n = len(points)
        if n == 0:
            return self._identity
        t0 = time.perf_counter()
        if n < PARALLEL_MSM_MIN or _WORKERS == 1:
            total = G1Point.multiexp_unchecked(list(points), convert(scalars))
        else:
            chunks = msm_chunks(n, _WORKERS)
            futures = [_submit(list(points[a:b]), convert(scalars[a:b])) for a, b in chunks[:_WORKERS]]
            total = self._identity
            for a, b in chunks[_WORKERS:]:  # the remainder, if any, here
                total = total + G1Point.multiexp_unchecked(list(points[a:b]), convert(scalars[a:b]))
            for f in futures:
                total = total + f.result()
        self.msm_seconds += time.perf_counter() - t0
        return total

    def msm_le_start(self, points: Sequence[Point], scalars: bytes) -> PendingPoint:
        """Every chunk (:func:`msm_chunks`) on the pool, the remainder too, so that the calling
        thread is free until it asks for the result."""
        n = len(points)
        if len(scalars) != 32 * n:
            raise ValueError("msm: points and scalars differ in length")
        if n < PARALLEL_MSM_MIN:
            return PendingPoint.done(self.msm_le(points, scalars))
        pieces = list(map(itemgetter(0), iter_unpack("32s", scalars)))
        t0 = time.perf_counter()
        chunks = msm_chunks(n, _WORKERS)
        # one chunk per thread, each handed over as it starts; a remainder queues behind them
        # (waiting for it to start would wait for a thread to finish)
        futures = [_submit(list(points[a:b]), list(map(Scalar.from_le_bytes, pieces[a:b])))
                   for a, b in chunks[:_WORKERS]]
        futures += [_executor().submit(G1Point.multiexp_unchecked, list(points[a:b]),
                                       list(map(Scalar.from_le_bytes, pieces[a:b])))
                    for a, b in chunks[_WORKERS:]]
        self.msm_seconds += time.perf_counter() - t0  # the submission; the threads' time is not counted
        return PendingPoint(futures, G1Point.__add__)

    def msm_fixed_start(self, columns: Sequence[tuple[FixedBaseTable, bytes]]) -> PendingPoint:
        """``Σ`` over ``columns`` of each table's MSM over its first points with the given scalars
        (32-byte little-endian each), on the pool: the work is cut into one piece per thread by
        points, across the tables. (:mod:`zkmargin.crypto.fixed_base`; public scalars only.)"""
        total = sum(len(s) // 32 for _, s in columns)
        step = -(-total // _WORKERS) if total else 1
        pieces: list[tuple[FixedBaseTable, int, bytes]] = []
        for table, scalars in columns:
            n = len(scalars) // 32
            for a in range(0, n, step):
                pieces.append((table, a, scalars[32 * a : 32 * min(n, a + step)]))
        t0 = time.perf_counter()
        futures = [_executor().submit(_fixed_piece, table, a, sc) for table, a, sc in pieces]
        self.msm_seconds += time.perf_counter() - t0
        if not futures:
            return PendingPoint.done(self._identity)
        return PendingPoint(futures, G1Point.__add__)

    @staticmethod
    def run_jobs(jobs: Sequence[Callable[[], Any]]) -> list[Any]:
        """Run native jobs that release the GIL on the MSM pool, results in order."""
        return list(_executor().map(lambda job: job(), jobs))

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
        # the flags, the identity's one encoding and x < p, with the same messages on both backends
        if encoding_x(data, allow_identity=allow_identity) is None:
            return self._identity
        data = bytes(data)
        try:
            # Decompression solves y² = x³ + 4, so what it returns is on the curve (an x without a
            # square root fails here); the binding's checked loader adds a subgroup test by a full
            # multiplication by r, about twice the cost of the endomorphism test below.
            point = G1Point.from_compressed_bytes_unchecked(data)
        except (ValueError, OverflowError):
            raise DecodeError("point: not on the curve") from None
        # Load-bearing: the binding's reading of the flags is not the standard's in every corner
        # (it accepts some malformed identity encodings); re-encoding and comparing keeps the
        # accepted set exactly the canonical encodings whatever encoding_x lets through.
        if bytes(point.to_compressed_bytes()) != data:
            raise DecodeError("point: non-canonical encoding")
        # tests/test_backends.py::test_decode_wrong_subgroup and the parity tests against the
        # reference backend pin that points of the curve outside G1 are refused here
        if subgroup and not point.is_in_subgroup():
            raise DecodeError("point: not in the prime-order subgroup")
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

