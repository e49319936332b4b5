"""Fork safety of the native backend's MSM thread pool (issue 12).

A process forked after the first large MSM inherits the parent's ``ThreadPoolExecutor`` object but
not its threads: before the fix, the child's next MSM of ``PARALLEL_MSM_MIN`` or more points queued
work no thread would ever run, and the child hung. The child here runs that MSM with a deadline;
its twin runs the same MSM below the threshold (on the calling thread), which never needed the pool.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets

import pytest

from zkmargin.crypto.backends import get_backend
from zkmargin.crypto.generators import get_generators

arkworks = pytest.importorskip("zkmargin.crypto.backends.arkworks")

CHILD_DEADLINE = 30.0  # seconds; the MSM itself takes well under one


def _child(points_count: int, conn) -> None:
    be = get_backend("arkworks")
    gens = get_generators(be)
    pts = gens.G(points_count)
    scalars = [(i * 7919 + 1) for i in range(points_count)]
    conn.send(be.encode(be.msm(pts, scalars)))
    conn.close()


def _msm_in_forked_child(points_count: int) -> bytes:
    be = get_backend("arkworks")
    gens = get_generators(be)
    pts = gens.G(points_count)
    # the parent's first large MSM starts the pool's threads
    big = 2 * arkworks.PARALLEL_MSM_MIN
    be.msm(gens.G(big), [secrets.randbelow(1 << 255) for _ in range(big)])
    expected = be.encode(be.msm(pts, [(i * 7919 + 1) for i in range(points_count)]))
    ctx = multiprocessing.get_context("fork")
    parent_end, child_end = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(points_count, child_end))
    proc.start()
    child_end.close()
    try:
        if not parent_end.poll(CHILD_DEADLINE):
            raise AssertionError(f"the forked child's MSM of {points_count} points hung")
        got = parent_end.recv()
    finally:
        if proc.is_alive():
            os.kill(proc.pid, 9)
        proc.join(10)
    assert got == expected
    return got


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_forked_child_runs_a_parallel_msm():
    """The repro: a child forked after a large MSM runs its own MSM of >= PARALLEL_MSM_MIN points."""
    _msm_in_forked_child(arkworks.PARALLEL_MSM_MIN)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_forked_child_small_msm_twin():
    """Twin: below the threshold the MSM never touched the pool (passes before and after the fix,
    so a failure of the test above is the pool, not the fork or the pipe)."""
    _msm_in_forked_child(arkworks.PARALLEL_MSM_MIN // 4)


def test_the_thread_count_changes_the_split_not_the_sum(monkeypatch):
    """``set_msm_threads`` (what a batch's forked workers and the service's workers use to take
    their share of the cores) gives the same MSM with 1 thread and with 3; the environment variable
    sets the default. Twin: another scalar gives another sum."""
    be = get_backend("arkworks")
    gens = get_generators(be)
    n = 2 * arkworks.PARALLEL_MSM_MIN
    pts = gens.G(n)
    scalars = [secrets.randbelow(1 << 255) for _ in range(n)]
    before = arkworks._WORKERS
    try:
        results = []
        for threads in (1, 3):
            be.set_msm_threads(threads)
            assert arkworks._WORKERS == threads
            results.append(be.encode(be.msm(pts, scalars)))
        assert results[0] == results[1]
        assert be.encode(be.msm(pts, [scalars[0] + 1, *scalars[1:]])) != results[0]
    finally:
        be.set_msm_threads(before)
    monkeypatch.setenv(arkworks.THREADS_ENV, "2")
    assert arkworks.msm_threads_default() == 2
    for bad in ("0", "-1", "x", ""):
        monkeypatch.setenv(arkworks.THREADS_ENV, bad)
        assert arkworks.msm_threads_default() == max(1, min(4, os.cpu_count() or 1))
