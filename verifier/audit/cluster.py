"""Audit and bulk verification on a Dask distributed cluster (the ``dask`` extra).

The costly part of an audit is re-verifying the accepted proofs (:mod:`.proofs`). Here it is cut
into tasks: one per chunk of up to :data:`~.proofs.BATCH_SIZE` entries of one (policy, market,
threshold) group, each carrying what it needs — the entries' stored rows and the group's stored
policy and snapshot (canonical JSON) — so a worker on another machine needs no access to the
log. A worker builds the prepared verifier once per group (cached in its process) and runs
exactly :func:`~.proofs.verify_chunk`: one batch MSM, bisection on failure, the trust rule at the
entry's logged time. The client merges the failures in log order.

Where it runs: a ``LocalCluster`` of ``workers`` processes on this machine (one thread each), or
the cluster whose scheduler is at ``scheduler`` (``tcp://host:port``; workers started there with
``dask worker tcp://host:port`` on machines that have this zkmargin installed —
``docs/workflows.md`` has the recipe).

Never clean on partial work: every task returns the ids it checked; a task that fails (its worker
died more often than the scheduler's ``allowed-failures``, the cluster went away) or a result that
misses an id makes the whole audit raise :class:`~zkmargin.errors.AuditIncompleteError` —
the audit then has no report to call clean. A worker killed mid-audit costs a retry of its tasks
on the other workers (Dask reschedules them), not the audit.

:func:`verify_batch_on_cluster` is the same for a bulk ``verify-batch``: bundles of one policy,
market and threshold in chunks, each verified with one MSM on a worker (statement and trust rule
included), the invalid ones named by their index.

May import the API's prepared verifier, the documents, the audit's :mod:`.proofs` and dask
(inside the functions). Used by the audit (:mod:`.run`), the CLI and the benchmarks.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

from zkmargin.errors import AuditIncompleteError, InputError, MissingExtraError

DASK_HINT = "a distributed audit needs the 'dask' extra: pip install 'zkmargin[dask]'"
VERIFY_CHUNK = 64


def _dask():
    try:
        import distributed
    except ImportError:
        raise MissingExtraError(DASK_HINT) from None
    return distributed


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """A Dask client: of the scheduler at ``scheduler``, or of a LocalCluster of ``workers``
    processes (default 2) started here and stopped on exit."""
    distributed = _dask()
    if scheduler is not None:
        if not isinstance(scheduler, str) or "://" not in scheduler:
            raise InputError("a scheduler address is tcp://host:port", field="--scheduler")
        try:
            client = distributed.Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot reach the Dask scheduler ({exc})", field="--scheduler") from None
        try:
            yield client
        finally:
            client.close()
        return
    n = 2 if workers is None else workers
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 256:
        raise InputError("must be an integer from 1 to 256", field="--workers")
    with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        yield client


def _scatter(client, body: bytes):
    """``body`` sent once to every worker, under a key of its own (``hash=False``): with the
    content hash as key, a second run's scatter races the release of the first run's copy and
    its tasks fail with "lost dependencies"."""
    return client.scatter(body, broadcast=True, hash=False)


# --- the audit's re-verification ------------------------------------------------------------------


def _audit_task(rows: list[dict], policy_body: bytes, market_body: bytes, threshold: str, policy_digest: str,
                backend: str | None) -> tuple[list[int], dict[int, str], dict[str, float]]:
    """On a worker: re-verify one chunk. Returns (ids checked, {id: reason}, timings)."""
    from zkmargin.api import _Verifier
    from zkmargin.errors import ZkMarginError
    from zkmargin.rules.models import load_policy, parse_market
    from zkmargin.verifier.log.entry import LogEntry

    from .proofs import verify_chunk

    ids = [int(r["id"]) for r in rows]
    failed: dict[int, str] = {}
    timings = {"decode": 0.0, "batch_verify": 0.0, "attestations": 0.0}
    pol = load_policy(policy_body)
    try:
        v = _Verifier(parse_market(market_body), pol, threshold, backend)
    except ZkMarginError as exc:
        return ids, {i: f"cannot rebuild its statement ({exc.one_line()})" for i in ids}, timings
    verify_chunk([LogEntry(**r) for r in rows], v, policy_digest, pol.mode, failed, timings)
    return ids, failed, timings


def verify_groups_on_cluster(log, groups: dict, policies: dict, markets: dict, failed: dict, timings: dict, *,
                             client, backend: str | None, chunk: int) -> None:
    """The audit's proof re-verification (``groups``: (policy, market, threshold) -> entries, in
    log order) as tasks on ``client``'s cluster; failures merged into ``failed``."""
    from zkmargin.rules.digests import canonical_bytes

    futures = []
    expected: list[int] = []
    for (pd, md, thr), entries in groups.items():
        pol, mkt = policies.get(pd), markets.get(md)
        if pol is None or mkt is None:
            for e in entries:
                failed[e.id] = "its policy or market snapshot is missing from the log or corrupt"
            continue
        pol_body, mkt_body = _scatter(client, canonical_bytes(pol)), _scatter(client, canonical_bytes(mkt))
        for k in range(0, len(entries), chunk):
            rows = [dataclasses.asdict(e) for e in log.entries_by_id([e.id for e in entries[k:k + chunk]])]
            expected.extend(int(r["id"]) for r in rows)
            futures.append(client.submit(_audit_task, rows, pol_body, mkt_body, thr, pd, backend, pure=False))
    checked: set[int] = set()
    try:
        for fut in futures:  # in submission order: log order within each group
            ids, bad, t = fut.result()
            checked.update(ids)
            failed.update(bad)
            for key, val in t.items():
                timings[key] = timings.get(key, 0.0) + val
    except Exception as exc:  # noqa: BLE001 - any failure of the cluster: the audit is not complete
        for fut in futures:
            fut.cancel()
        raise AuditIncompleteError(f"the distributed audit did not finish ({type(exc).__name__}: "
                                   f"{str(exc)[:200]}); no report: re-run it") from None
    missing = set(expected) - checked
    if missing:
        raise AuditIncompleteError(f"the distributed audit did not check {len(missing)} entries "
                                   f"(first {min(missing)}); no report: re-run it")


# --- bulk verification ----------------------------------------------------------------------------


def _verify_task(bundles: list[bytes], challenges: list[bytes | None], subjects: list[str | None], offset: int,
                 policy_body: bytes, market_body: bytes, threshold: str, max_age, now, backend: str | None
                 ) -> tuple[int, dict[int, str]]:
    """On a worker: one chunk of a bulk verification (one MSM, bisected on failure)."""
    from zkmargin.api import _bundle, _verified, _Verifier
    from zkmargin.documents.trust import parse_now
    from zkmargin.errors import ZkMarginError
    from zkmargin.rules.models import load_policy, parse_market

    from ..log.record_many import _bisect

    pol = load_policy(policy_body)
    v = _Verifier(parse_market(market_body), pol, threshold, backend)
    rule = v.trust_rule.tightened(max_age)
    clock = parse_now(now)
    bad: dict[int, str] = {}
    items, idx = [], []
    for j, (b, c, s) in enumerate(zip(bundles, challenges, subjects)):
        i = offset + j
        try:
            item, _report = _verified(v, _bundle(b), c, rule, s, clock, i)
            items.append(item)
            idx.append(i)
        except ZkMarginError as exc:
            bad[i] = exc.one_line()
    for i in _bisect(items, idx, v.be):
        bad[i] = f"bundle {i}: the proof does not verify"
    return len(bundles), bad


def verify_batch_on_cluster(bundles: Sequence[Any], market, policy, threshold=0, challenges=None, *, subjects=None,
                            max_age=None, now=None, client, backend: str | None = None,
                            chunk: int = VERIFY_CHUNK) -> dict[int, str]:
    """Verify bundles of one (policy, market, threshold) on ``client``'s cluster in chunks of
    ``chunk``. Returns {index: reason} of the invalid ones (empty: all valid). ``challenges`` and
    ``subjects`` are None, one value, or one per bundle."""
    from zkmargin.api import _bundle, _challenge, _Verifier
    from zkmargin.documents.trust import check_subjects, subjects_for
    from zkmargin.rules.digests import canonical_bytes
    from zkmargin.verifier.log.entry import bundle_bytes

    n = len(bundles)
    if not n:
        raise InputError("no proofs to verify")
    if challenges is None or isinstance(challenges, (bytes, bytearray)):
        chs = [_challenge(challenges)] * n
    else:
        chs = [_challenge(c) for c in challenges]
        if len(chs) != n:
            raise InputError(f"{n} bundles but {len(chs)} challenges", field="challenge")
    v = _Verifier(market, policy, threshold, backend)  # the verifier's own inputs, checked here
    subs = check_subjects(v.trust_rule.tightened(max_age), subjects_for(subjects, n))
    data = [bundle_bytes(_bundle(b)) for b in bundles]
    pol_body, mkt_body = _scatter(client, canonical_bytes(v.policy)), _scatter(client, canonical_bytes(v.market))
    thr = str(v.threshold)
    futures = [client.submit(_verify_task, data[k:k + chunk], chs[k:k + chunk], subs[k:k + chunk], k, pol_body,
                             mkt_body, thr, max_age, now, backend, pure=False) for k in range(0, n, chunk)]
    bad: dict[int, str] = {}
    done = 0
    try:
        for fut in futures:
            count, b = fut.result()
            done += count
            bad.update(b)
    except Exception as exc:  # noqa: BLE001
        for fut in futures:
            fut.cancel()
        raise AuditIncompleteError(f"the distributed verification did not finish ({type(exc).__name__}: "
                                   f"{str(exc)[:200]})") from None
    if done != n:
        raise AuditIncompleteError(f"the distributed verification checked {done} of {n} bundles")
    return dict(sorted(bad.items()))
