"""Re-verifying what a log accepted: the stored policies and snapshots checked against their
digests, then every accepted entry of the sample verified again with its own stored documents —
one batch multi-scalar multiplication per group of up to :data:`BATCH_SIZE` proofs, bisected on
failure to name the failing entries — and the venue's trust rule applied again at the entry's
logged time (:func:`zkmargin.documents.trust.recheck_accepted`).

This is the part of an audit that costs, and the part a distributed audit spreads over workers:
each :func:`verify_chunk` call is one chunk of one (policy, market, threshold) group.

May import the API's prepared verifier, the documents, :mod:`zkmargin.verifier.r1cs` and the log.
Used by :mod:`.run`.
"""

from __future__ import annotations

import time

from zkmargin.documents.bundle import ProofBundle
from zkmargin.documents.trust import recheck_accepted
from zkmargin.errors import VerificationError, ZkMarginError
from zkmargin.verifier.r1cs import verify_batch as r1cs_verify_batch

from ..log.entry import LogEntry, as_bytes
from ..log.verification_log import VerificationLog
from .report import AuditReport

BATCH_SIZE = 256


def load_documents(log: VerificationLog, report: AuditReport) -> tuple[dict, dict]:
    from zkmargin.rules.digests import market_digest, policy_digest
    from zkmargin.rules.models import load_policy, parse_market

    policies, markets = {}, {}
    for d, body in log.documents("policies"):
        try:
            p = load_policy(body)
            if policy_digest(p) != d:
                raise ValueError
            policies[d] = p
        except (ZkMarginError, ValueError):
            report.store_errors.append(f"the stored policy {d[:16]}… does not match its digest")
    for d, body in log.documents("markets"):
        try:
            m = parse_market(body)
            if market_digest(m) != d:
                raise ValueError
            markets[d] = m
        except (ZkMarginError, ValueError):
            report.store_errors.append(f"the stored market snapshot {d[:16]}… does not match its digest")
    return policies, markets


def _bisect(items: list, ids: list, be, timings: dict) -> list:
    if not items:
        return []
    t0 = time.perf_counter()
    try:
        r1cs_verify_batch(items, backend=be)
        return []
    except VerificationError:
        if len(items) == 1:
            return ids
    finally:
        timings["batch_verify"] = timings.get("batch_verify", 0.0) + time.perf_counter() - t0
    mid = len(items) // 2
    return _bisect(items[:mid], ids[:mid], be, timings) + _bisect(items[mid:], ids[mid:], be, timings)


def verify_chunk(chunk: list[LogEntry], v, policy_digest: str, mode: str, failed: dict, timings: dict) -> None:
    """Re-verify up to BATCH_SIZE entries of one (policy, market, threshold) with one batch MSM
    (bisected on failure), then the policy's trust rule at each entry's logged time."""
    td = time.perf_counter()
    items, ids, bundles = [], [], {}
    circuit = v.cs.digest().hex()
    for e in chunk:
        if e.circuit_digest is not None and e.circuit_digest != circuit:
            failed[e.id] = (f"logged for another circuit build (circuit digest {e.circuit_digest[:16]}…, "
                            f"this zkmargin builds {circuit[:16]}…); re-audit with the software that "
                            f"wrote it ({e.software})")
            continue
        try:
            b = ProofBundle.from_json(as_bytes(e.bundle))
            ch = bytes.fromhex(e.challenge) if e.challenge is not None else None
            items.append(v.item(b, ch))
            ids.append(e.id)
            bundles[e.id] = b
        except ZkMarginError as exc:
            failed[e.id] = exc.one_line()
        except (ValueError, TypeError):
            failed[e.id] = "its stored challenge is unreadable"
    timings["decode"] += time.perf_counter() - td
    for i in _bisect(items, ids, v.be, timings):
        failed[i] = "the proof does not verify"
    ta = time.perf_counter()
    for e in chunk:  # the policy's trust rule at the entry's logged time (zkmargin.documents.trust)
        if e.id in failed or e.id not in bundles:
            continue
        try:
            ch = bytes.fromhex(e.challenge) if e.challenge is not None else None
            recheck_accepted(bundles[e.id], v.policy, v.market, ch, e.time, subject=e.subject,
                             backend=v.be, rule=v.trust_rule)
        except ZkMarginError as exc:
            failed[e.id] = f"accepted against the venue's trust rule: {exc.one_line()}"
    timings["attestations"] += time.perf_counter() - ta
