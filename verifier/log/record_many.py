"""Verify many independent requests together and record each: :func:`verify_each_and_log` is what
the service's micro-batcher calls with the requests that arrived within a few milliseconds.

Unlike :func:`~.record.verify_batch_and_log` (one caller, one batch, one answer), every request
here has its own caller, so every one gets its own outcome: a :class:`VerificationResult` or the
:class:`ZkMarginError` it earned, each with its log entry and receipt attached. The proofs that
pass the cheap checks (statement, trust rule, strict decoding) are verified with ONE
multi-scalar multiplication; when that fails, the batch is bisected to name exactly the proofs
that do not verify (each failing half is verified again; a proof is named when it fails alone),
so an honest request in a batch with a forged one is still accepted. Then the outcomes are
appended to the log in arrival order, in one transaction (one commit, one fsync, one signed head
per entry: :meth:`~.verification_log.VerificationLog.record_many`); an append that fails (the
database went away) fails every request of the batch with the log's error — none of them was
answered as accepted, and every one answered as accepted is in the log.

May import the API's prepared verifier, :mod:`zkmargin.verifier.r1cs` and the log beside it. Used
by the service (:mod:`zkmargin.workflows.service.batching`) and the tests.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from zkmargin.errors import LogError, ZkMarginError

from .record import _attach
from .verification_log import VerificationLog


def _bisect(items: list, idx: list[int], be) -> list[int]:
    """The indices (of ``idx``) whose proofs do not verify, by halving failing batches."""
    from zkmargin.errors import VerificationError
    from zkmargin.verifier.r1cs import verify_batch as r1cs_verify_batch

    if not items:
        return []
    try:
        r1cs_verify_batch(items, backend=be)
        return []
    except VerificationError:
        if len(items) == 1:
            return idx
    mid = len(items) // 2
    return _bisect(items[:mid], idx[:mid], be) + _bisect(items[mid:], idx[mid:], be)


def verify_each_and_log(verifier, jobs: Sequence[tuple[Any, bytes | None, str | None]], *,
                        log: VerificationLog | None = None, max_age: float | None = None, now=None) -> list:
    """``jobs``: (bundle, challenge, subject) per request, for the prepared ``verifier``
    (``api._Verifier``). Returns one outcome per job, in order: the result (with
    ``extra["trust"]``, and ``extra["log"]``/``extra["receipt"]`` when logged) or the error
    (with ``log_entry``/``receipt`` when logged). Never raises for one job's fault."""
    from zkmargin.api import VerificationResult, _bundle, _challenge, _verified
    from zkmargin.documents.trust import parse_now, require_subject

    t0 = time.perf_counter()
    v = verifier
    rule = v.trust_rule.tightened(max_age)
    clock = parse_now(now)
    outcomes: list[Any] = [None] * len(jobs)
    parsed: list[Any] = [b for b, _c, _s in jobs]
    challenges: list[bytes | None] = [None] * len(jobs)
    items: list = []
    idx: list[int] = []
    reports: dict[int, Any] = {}
    for i, (b, c, s) in enumerate(jobs):
        try:
            challenges[i] = _challenge(c)
            parsed[i] = _bundle(b)
            require_subject(rule, s)
            item, reports[i] = _verified(v, parsed[i], challenges[i], rule, s, clock)
            items.append(item)
            idx.append(i)
        except ZkMarginError as exc:
            outcomes[i] = exc
    bad = set(_bisect(items, idx, v.be))
    from zkmargin.errors import VerificationError

    per_proof = (time.perf_counter() - t0) / max(1, len(jobs))
    for i in idx:
        if i in bad:
            outcomes[i] = VerificationError("the proof does not verify")
        else:
            pb = parsed[i]
            outcomes[i] = VerificationResult(valid=True, statement=pb.statement, gates=v.cs.total_gates,
                                             proof_bytes=len(pb.proof), seconds=per_proof, backend=v.be.name,
                                             extra={"trust": reports[i]})
    if log is not None:
        try:
            entries = log.record_many(v.policy, v.market, v.threshold,
                                      [(parsed[i], challenges[i], outcomes[i], s) for i, (_b, _c, s) in enumerate(jobs)],
                                      circuit_digest=v.cs.digest().hex())
        except LogError as exc:  # not logged, so not accepted: every request of the batch fails
            return [exc] * len(jobs)
        for i, entry in enumerate(entries):
            if entry.replay is not None:  # another request accepted the same challenge first
                outcomes[i] = entry.replay
            _attach(outcomes[i], entry)
    return outcomes
