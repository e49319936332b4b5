"""The service's micro-batcher (:mod:`zkmargin.workflows.service.batching`) on its own, with a
batch function that stands in for the verification (it sleeps, as the MSM takes time): under
closed-loop load (clients that wait for their answer before sending again) the batches gather
the whole population instead of splitting into alternating groups; a lone request is not held;
a batch that expects more than come waits at most ``follow`` after the last arrival, and never
more than ``max_wait`` in all. Each has its twin."""

from __future__ import annotations

import threading
import time

import pytest

from zkmargin.workflows.service.batching import MicroBatcher


class Recorder:
    """A batch function: sleeps ``seconds`` (the verification), records each batch's size and
    when it started, answers each job with its own argument."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.sizes: list[int] = []
        self.started: list[float] = []

    def __call__(self, jobs):
        self.started.append(time.monotonic())
        self.sizes.append(len(jobs))
        time.sleep(self.seconds)
        return list(jobs)


def closed_loop(batcher: MicroBatcher, clients: int, rounds: int, stagger: float) -> None:
    """``clients`` threads, each sending ``rounds`` requests one after the other; client ``i``
    takes ``i * stagger`` seconds between an answer and its next request (parsing, the network),
    so the answered requests come back spread out."""
    start = threading.Barrier(clients)
    errors: list[BaseException] = []

    def client(i: int) -> None:
        try:
            start.wait()
            for r in range(rounds):
                assert batcher.submit((i, r)) == (i, r)
                time.sleep(i * stagger)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


@pytest.mark.parametrize("follow", [0.5, 0.0], ids=["follows-the-load", "window-only"])
def test_closed_loop_load_is_gathered_into_one_batch_per_round(follow):
    rec = Recorder(0.1)
    b = MicroBatcher(rec, window=0.005, max_batch=64, follow=follow, max_wait=2.0)
    try:
        closed_loop(b, clients=8, rounds=5, stagger=0.01)  # the 8 come back over 70 ms
    finally:
        b.close()
    assert sum(rec.sizes) == 40 and b.jobs == 40
    if follow:
        # after the first batch (which expected 1) every round is one batch of all 8
        assert rec.sizes[-3:] == [8, 8, 8], rec.sizes
        assert len(rec.sizes) <= 7, rec.sizes
    else:
        # the twin: with the window alone, the returning requests split into several batches,
        # each paying the generators' MSM
        assert any(s < 8 for s in rec.sizes[2:]), rec.sizes
        assert len(rec.sizes) > 7, rec.sizes


def test_a_lone_request_waits_only_the_window():
    rec = Recorder(0.0)
    b = MicroBatcher(rec, window=0.005, follow=1.0, max_wait=5.0)
    try:
        t0 = time.monotonic()
        assert b.submit("alone") == "alone"
        assert time.monotonic() - t0 < 0.9  # nothing expected more: not held for `follow`
    finally:
        b.close()
    assert rec.sizes == [1]


def test_expected_requests_that_do_not_come_cost_one_follow_then_the_expectation_drops():
    rec = Recorder(0.05)
    b = MicroBatcher(rec, window=0.005, follow=0.3, max_wait=5.0)
    try:
        b._expected = 6  # as if the last batch had ended with 6 requests held
        t0 = time.monotonic()
        b.submit("one")  # only one comes: held `follow` after it, not `max_wait`
        held = time.monotonic() - t0
        assert 0.25 <= held < 2.0, held
        t0 = time.monotonic()
        b.submit("again")  # the twin: the expectation is now 1, so no `follow`
        assert time.monotonic() - t0 < 0.25
    finally:
        b.close()


def test_arrivals_that_keep_coming_are_cut_at_max_wait():
    rec = Recorder(0.0)
    b = MicroBatcher(rec, window=0.005, follow=0.4, max_wait=0.6, max_batch=64)
    b._expected = 64  # as if the last batch had ended with 64 requests held
    stop = threading.Event()
    threads = []

    def one():
        b.submit("x")

    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.5 and not stop.is_set():  # one request every 0.1 s
            t = threading.Thread(target=one)
            t.start()
            threads.append(t)
            time.sleep(0.1)
    finally:
        for t in threads:
            t.join(10)
        b.close()
    # every arrival came within `follow` of the one before, so only `max_wait` ended the first
    # batch: about 0.6 s of arrivals (6-7 requests), not all 15 in one batch
    assert 3 <= rec.sizes[0] <= 10, rec.sizes
    assert sum(rec.sizes) == len(threads)
