"""Micro-batching: verification requests that arrive within a few milliseconds are verified
together, with one multi-scalar multiplication, and each gets its own answer.

:class:`MicroBatcher` owns one thread. A request thread hands it a job and waits; the batcher
takes the first job waiting, waits at most ``window`` seconds for more (or until ``max_batch``
are there), and runs the batch function on all of them
(:func:`zkmargin.verifier.log.record_many.verify_each_and_log`: one MSM, bisection naming the bad
proofs, one log entry per request). While it verifies, new requests queue up; under load the
batches fill by themselves and the window costs nothing, and a lone request waits at most one
window. A batch function that raises (the database went away before anything was written) fails
every request of that batch with its error.

May import :mod:`zkmargin.errors`. Used by the app.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

DEFAULT_WINDOW = 0.005
DEFAULT_MAX_BATCH = 64


class _Job:
    __slots__ = ("args", "done", "outcome")

    def __init__(self, args: Any):
        self.args = args
        self.done = threading.Event()
        self.outcome: Any = None


class MicroBatcher:
    """Collects jobs for up to ``window`` seconds (at most ``max_batch``) and runs
    ``run_batch(list of job args) -> list of outcomes`` on them in its own thread. An outcome
    that is an exception is raised in the submitting thread."""

    def __init__(self, run_batch: Callable[[Sequence[Any]], list], *, window: float = DEFAULT_WINDOW,
                 max_batch: int = DEFAULT_MAX_BATCH):
        self.run_batch = run_batch
        self.window = float(window)
        self.max_batch = int(max_batch)
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
            deadline = time.monotonic() + self.window
            while len(self._queue) < self.max_batch and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
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
