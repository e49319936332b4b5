"""Verify and record: :func:`verify_and_log` and :func:`verify_batch_and_log` verify bundles under
the policy's trust rule (exactly :func:`zkmargin.verify` / :func:`zkmargin.verify_batch`) and
append every outcome, accepted or rejected, to the venue's log, returning its receipt.

A challenge the log accepted before is refused with :class:`~zkmargin.errors.ReplayError` before
any verification work, and that refusal is logged too. Errors in the verifier's own inputs
(policy, market, threshold, challenge, subject, the log and its key) are raised without
recording: there is no statement to record them under.

May import the API and the modules of the log beside it. Used by the service, the CLI (``verify
--log``, ``verify-batch --log``) and the tests.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from zkmargin.errors import InputError, ReplayError, ZkMarginError

from .entry import replay_error
from .verification_log import Appended, VerificationLog


def _open_for_append(log, log_key) -> tuple[VerificationLog | None, bool]:
    """(the log, whether we opened it) for a path or an open log; checks it can sign."""
    if log is None:
        return None, False
    if isinstance(log, VerificationLog):
        log.require_signing_key()
        return log, False
    lg = VerificationLog(log, signing_key=log_key)
    try:
        lg.require_signing_key()
    except BaseException:
        lg.close()
        raise
    return lg, True


def _attach(outcome, entry: Appended) -> None:
    """Put the entry and its receipt on the result (accepted) or the error (rejected)."""
    if isinstance(outcome, ZkMarginError):
        outcome.log_entry = entry.summary()
        outcome.receipt = entry.receipt.to_json_dict()
    else:
        outcome.extra["log"] = entry.summary()
        outcome.extra["receipt"] = entry.receipt.to_json_dict()


# --- verify and record ---------------------------------------------------------------------------


def verify_prepared(verifier, bundle, challenge: bytes | None, *, subject: str | None = None, now=None,
                    max_age=None):
    """Exactly :func:`zkmargin.api.verify` (the policy's trust rule included), with a prepared
    ``api._Verifier`` (plan and circuit built once per policy, market and threshold — what a
    service verifying many proofs wants)."""
    from zkmargin.api import _verify_prepared

    return _verify_prepared(verifier, bundle, challenge, subject=subject, now=now, max_age=max_age)


def verify_and_log(bundle, market, policy, threshold=0, challenge: bytes | None = None, *,
                   log=None, log_key=None, subject: str | None = None, now=None,
                   max_age: float | None = None, backend=None, verifier=None):
    """Verify a bundle under the policy's trust rule (:func:`zkmargin.verify`: ``subject``,
    ``now`` and ``max_age`` as there; the attestations travel in the bundle) and record the
    outcome in ``log`` (a path, with ``log_key`` the venue's signing key, or an open
    :class:`VerificationLog`; None records nothing). A challenge the log accepted before is
    refused with :class:`ReplayError` before any verification work, and that refusal is logged.
    Returns the :class:`VerificationResult` with ``extra["trust"]`` (who vouched),
    ``extra["receipt"]`` and ``extra["log"]`` (id, result, leaf hash, tree size, root), or raises
    the rejection after recording it, with ``exc.receipt`` and ``exc.log_entry``. Errors in the
    verifier's own inputs (policy, market, threshold, challenge, subject, max_age, now, the log and
    its key) are raised without recording: there is no statement to record them under."""
    from zkmargin.api import _bundle, _challenge, _Verifier
    from zkmargin.documents.trust import parse_now, require_subject

    v = verifier or _Verifier(market, policy, threshold, backend)
    ch = _challenge(challenge)  # the verifier's own inputs: an error here is not logged
    require_subject(v.trust_rule.tightened(max_age), subject)
    clock = parse_now(now)
    # the entry's time is the verifier's: the clock it verified at (an audit re-checks the trust
    # rule at the logged time)
    logged = None if now is None else clock.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lg, opened = _open_for_append(log, log_key)
    try:
        prior = lg.accepted_seq(ch) if lg is not None else None
        try:
            b = _bundle(bundle)
        except ZkMarginError as exc:
            b, outcome = bundle, exc
        else:
            if prior is not None:
                outcome = replay_error(ch, prior)  # refused before any verification work
            else:
                try:
                    outcome = verify_prepared(v, b, ch, subject=subject, now=clock, max_age=max_age)
                except ZkMarginError as exc:
                    outcome = exc
        if lg is not None:
            entry = lg.record(b, v.policy, v.market, v.threshold, ch, outcome,
                              circuit_digest=v.cs.digest().hex(), subject=subject, now=logged)
            if entry.replay is not None:  # another writer accepted the same challenge meanwhile
                outcome = entry.replay
            _attach(outcome, entry)
    finally:
        if opened and lg is not None:
            lg.close()
    if isinstance(outcome, ZkMarginError):
        raise outcome
    return outcome


def verify_batch_and_log(bundles: Sequence[Any], market, policy, threshold=0, challenge=None, *, log=None,
                         log_key=None, subject=None, now=None, max_age: float | None = None, backend=None):
    """Batch-verify (one MSM) under the policy's trust rule and record one entry per bundle, all in
    one transaction. ``subject`` is None, one string for all or one per bundle. Challenges the log accepted before
    (or that two bundles of the batch share) are refused as replays. When the batch fails, every
    bundle is checked alone, so each entry carries its own outcome; the error then raised names
    the invalid bundles, as :func:`zkmargin.api.verify_batch` does. ``extra["receipt"]`` (or
    ``exc.receipt``) is the list of receipts, one per bundle, in order; ``extra["trust"]`` the
    trust reports."""
    from zkmargin.api import VerificationResult, _bundle, _challenge, _verified, _Verifier
    from zkmargin.documents.trust import check_subjects, parse_now, subjects_for
    from zkmargin.errors import VerificationError
    from zkmargin.verifier.r1cs import verify_batch as r1cs_verify_batch

    t0 = time.perf_counter()
    if not bundles:
        raise InputError("no proofs to verify")
    if challenge is None or isinstance(challenge, (bytes, bytearray)):
        given = [challenge] * len(bundles)
    else:
        given = list(challenge)
        if len(given) != len(bundles):
            raise InputError(f"{len(bundles)} bundles but {len(given)} challenges", field="challenge")
    challenges = [_challenge(c) for c in given]
    v = _Verifier(market, policy, threshold, backend)
    rule = v.trust_rule.tightened(max_age)
    subjects = check_subjects(rule, subjects_for(subject, len(bundles)))
    clock = parse_now(now)
    logged = None if now is None else clock.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # as verify_and_log
    lg, opened = _open_for_append(log, log_key)
    entries: list[Appended] = []
    reports: dict = {}
    try:
        parsed: list = []
        outcomes: list = []
        items: list = []
        for i, (b, c, s) in enumerate(zip(bundles, challenges, subjects)):
            try:
                pb = _bundle(b)
                parsed.append(pb)
                prior = lg.accepted_seq(c) if lg is not None else None
                if prior is not None:
                    outcomes.append(ReplayError(f"bundle {i}: {replay_error(c, prior).message}"))
                    continue
                item, reports[i] = _verified(v, pb, c, rule, s, clock, i)
                items.append((i, item))
                outcomes.append(None)
            except ZkMarginError as exc:
                if len(parsed) <= i:
                    parsed.append(b)
                outcomes.append(exc)
        if items:
            try:
                r1cs_verify_batch([it for _, it in items], backend=v.be)
                ok = [i for i, _ in items]
            except VerificationError:
                ok = []
                for i, it in items:
                    try:
                        r1cs_verify_batch([it], backend=v.be)
                        ok.append(i)
                    except VerificationError as exc:
                        outcomes[i] = VerificationError(f"bundle {i}: {exc.message}")
            for i in ok:
                pb = parsed[i]
                outcomes[i] = VerificationResult(valid=True, statement=pb.statement, gates=v.cs.total_gates,
                                                 proof_bytes=len(pb.proof), seconds=0.0, backend=v.be.name,
                                                 extra={"trust": reports[i]})
        if lg is not None:  # one transaction: every entry of the batch, or none
            entries = lg.record_many(v.policy, v.market, v.threshold, list(zip(parsed, challenges, outcomes, subjects)),
                                     circuit_digest=v.cs.digest().hex(), now=logged)
            for i, entry in enumerate(entries):
                if entry.replay is not None:
                    outcomes[i] = ReplayError(f"bundle {i}: {entry.replay.message}")
    finally:
        if opened and lg is not None:
            lg.close()
    summaries = [e.summary() for e in entries]
    receipts = [e.receipt.to_json_dict() for e in entries]
    bad = [i for i, out in enumerate(outcomes) if isinstance(out, ZkMarginError)]
    if bad:
        first = outcomes[bad[0]]
        err = first if len(bad) == 1 else VerificationError(f"the batch does not verify: invalid bundle(s) {bad}")
        err.log_entries = summaries
        err.receipt = receipts
        raise err
    res = VerificationResult(valid=True, statement=parsed[0].statement, gates=v.cs.total_gates,
                             proof_bytes=sum(len(p.proof) for p in parsed), seconds=time.perf_counter() - t0,
                             backend=v.be.name, proofs=len(parsed))
    res.extra["trust"] = [reports[i] for i in range(len(parsed))]
    res.extra["log"] = summaries
    res.extra["receipt"] = receipts
    return res
