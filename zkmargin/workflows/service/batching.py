"""Micro-batching: verification requests that arrive within a few milliseconds are verified
together, with one multi-scalar multiplication, and each gets its own answer.

:class:`MicroBatcher` owns one thread. A request thread hands it a job and waits; the batcher
takes the first job waiting, gathers more (below), and runs the batch function on all of them
(:func:`zkmargin.verifier.log.record_many.verify_each_and_log`: one MSM, bisection naming the bad
proofs, one log transaction for the batch). While it verifies, new requests queue up. A batch
function that raises (the database went away before anything was written) fails every request
of that batch with its error.

How long a batch gathers. Every batch pays one 4,096-point MSM for the generators whatever its
size, so a batch of 2 costs nearly what a batch of 16 does. Under load from clients that each
wait for their answer before sending again, a batcher that starts as soon as a few requests are
there settles into two alternating groups — the requests that queued during the last batch, then
the ones that batch answered, as they come back — and pays the generators' MSM twice per round
(measured on two workers at 32 connections: batches of 2 and 17, 3 and 10, alternating). So the
batcher expects as many requests as it held when the last batch ended (that batch and the queue
behind it) and waits for them while they keep arriving: at most ``follow`` seconds after the
latest arrival and ``max_wait`` after the first, or until ``max_batch`` are there. A request on an
idle batcher waits ``window`` seconds (the expectation is then 1); when the load drops, a batch
waits at most ``follow`` for requests that no longer come, and the next expects what it saw.

May import :mod:`zkmargin.errors`. Used by the app.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

DEFAULT_WINDOW = 0.005
DEFAULT_MAX_BATCH = 64
DEFAULT_FOLLOW = 0.05
DEFAULT_MAX_WAIT = 0.15


class _Job:
    __slots__ = ("args", "done", "outcome")

    def __init__(self, args: Any):
        self.args = args
        self.done = threading.Event()
        self.outcome: Any = None


class MicroBatcher:
    """Gathers jobs (the module docstring says for how long; at most ``max_batch``) and runs
    ``run_batch(list of job args) -> list of outcomes`` on them in its own thread. An outcome
    that is an exception is raised in the submitting thread. ``follow=0`` gathers for
    ``window`` only, whatever the load."""

    def __init__(self, run_batch: Callable[[Sequence[Any]], list], *, window: float = DEFAULT_WINDOW,
                 max_batch: int = DEFAULT_MAX_BATCH, follow: float = DEFAULT_FOLLOW,
                 max_wait: float = DEFAULT_MAX_WAIT):
        self.run_batch = run_batch
        self.window = float(window)
        self.max_batch = int(max_batch)
        self.follow = float(follow)
        self.max_wait = max(float(max_wait), self.window)
        self._expected = 1  # the requests held when the last batch ended
        self._queue: list[_Job] = []
        self._cond = threading.Condition()
        self._closed = False
        self.batches = 0
        self.jobs = 0
        self._thread = threading.Thread(target=self._loop, name="zkmargin-microbatch", daemon=True)
        self._thread.start()

    def submit(self, args: Any) -> Any:
        """Run one job in the next batch; returns its outcome or raises it."""
        job = _Job(args)
        with self._cond:
            if self._closed:
                raise RuntimeError("the micro-batcher is closed")
            self._queue.append(job)
            self._cond.notify_all()
        job.done.wait()
        if isinstance(job.outcome, BaseException):
            raise job.outcome
        return job.outcome

    def _take(self) -> list[_Job] | None:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if not self._queue:
                return None
            first = latest = time.monotonic()
            seen = len(self._queue)
            expected = min(self.max_batch, self._expected)
            while len(self._queue) < self.max_batch and not self._closed:
                now = time.monotonic()
                if len(self._queue) != seen:
                    seen, latest = len(self._queue), now
                until = first + self.window
                if seen < expected and self.follow > 0:  # more are coming: wait while they do
                    until = max(until, min(latest + self.follow, first + self.max_wait))
                if until <= now:
                    break
                self._cond.wait(until - now)
            batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
            return batch

    def _loop(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            try:
                outcomes = list(self.run_batch([j.args for j in batch]))
                if len(outcomes) != len(batch):
                    raise RuntimeError("the batch function returned the wrong number of outcomes")
            except BaseException as exc:  # noqa: BLE001 - handed to every waiting request
                outcomes = [exc] * len(batch)
            with self._cond:
                self._expected = len(batch) + len(self._queue)
            self.batches += 1
            self.jobs += len(batch)
            for job, out in zip(batch, outcomes):
                job.outcome = out
                job.done.set()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=30)
