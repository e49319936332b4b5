"""The audit itself: :func:`audit` opens a log read-only and makes one streaming pass over it — the
tree and the heads (:mod:`.tree`), the evidence given, the challenges accepted twice, then the
accepted proofs (:mod:`.proofs`) — into an :class:`~.report.AuditReport`.

May import the API's prepared verifier, :mod:`zkmargin.crypto.ed25519`, the log and the audit's
other modules. Used by the CLI (``audit``), the service's tests and the benchmarks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import secrets
import time
from collections.abc import Sequence

from zkmargin.crypto.ed25519 import load_public_key, public_key_hex
from zkmargin.errors import AuditIncompleteError, InputError, ReceiptRejectedError, ZkMarginError

from ..log.entry import LogEntry
from ..log.merkle import MerkleTree
from ..log.receipt import Receipt, check_receipt
from ..log.sth import SignedTreeHead
from ..log.verification_log import VerificationLog
from .proofs import BATCH_SIZE, load_documents, verify_chunk
from .report import KEY_FROM_LOG, AuditReport, Evidence
from .tree import bodies_intact, check_evidence, check_tree, stored_leaf


def audit(path, *, venue_key=None, sths: Sequence = (), receipts: Sequence = (), sample: int | None = None,
          seed: int | None = None, backend=None, verify_proofs: bool = True, scheduler: str | None = None,
          workers: int | None = None, dask_client=None) -> AuditReport:
    """Audit the log at ``path``; never raises on tampering — inspect :attr:`AuditReport.clean`
    (or call :meth:`AuditReport.raise_if_not_clean)`. ``venue_key`` is the venue's public key as
    the auditor knows it; ``sths`` and ``receipts`` are older signed heads and receipts (paths,
    dicts or parsed) the log must still be an extension of. Raises :class:`LogError` when the file
    is not a zkmargin log, :class:`InputError` / :class:`FormatError` on bad arguments or a
    malformed head, receipt or key.

    The accepted proofs are re-verified in this process, or on a Dask cluster when ``scheduler``
    (``tcp://host:port``), ``workers`` (a LocalCluster of that many processes) or an open
    ``dask_client`` is given (:mod:`.cluster`); a distributed audit that does not finish raises
    :class:`AuditIncompleteError` instead of reporting."""
    from zkmargin.api import _Verifier
    t0 = time.perf_counter()
    if sample is not None and sample < 0:
        raise InputError("the sample size must be >= 0", field="sample")
    given_key = None
    if venue_key is not None:
        given_key = public_key_hex(load_public_key(venue_key, "venue public key", InputError))
    old_heads = [(_name(s), SignedTreeHead.load(s)) for s in sths]
    held = [(_name(r), Receipt.load(r), r) for r in receipts]
    report = AuditReport(path=str(path), sample=sample)
    timings = report.timings
    with VerificationLog(path, create=False, read_only=True) as log:
        report.path = log.path  # a database URL without its password
        report.log_id = log.log_id
        if given_key is not None:
            report.key, report.key_source = given_key, "the venue key given"
            if given_key != log.log_id:
                report.notes.append(f"the log names another key ({log.log_id[:16]}…) than the venue key given")
        else:
            report.key, report.key_source = log.log_id, KEY_FROM_LOG
        # one streaming pass over the rows: leaves recomputed, bodies hashed then dropped
        rows: list[LogEntry] = []
        leaves: list[bytes | None] = []
        bad_bodies = set()
        for e in log.entries(bodies=True):
            leaves.append(stored_leaf(e))
            if not bodies_intact(e):
                bad_bodies.add(e.id)
            rows.append(dataclasses.replace(e, bundle=b"" if e.bundle is not None else None,
                                            attestations=b"" if e.attestations is not None else None))
        report.entries = len(rows)
        tree = MerkleTree(leaf if leaf is not None else b"\xff" * 32 for leaf in leaves)
        root = tree.root()
        report.tree_size, report.root_hash = tree.size, root.hex()
        t1 = time.perf_counter()
        timings["tree"] = t1 - t0
        heads = list(log.heads())
        latest = [sth for _row, sth in heads if sth is not None]
        if latest:
            report.signed_size, report.signed_root = latest[-1].tree_size, latest[-1].root_hash.hex()
        elif rows:
            report.notes.append("the log has entries but no signed tree head")
        check_tree(rows, leaves, heads, report.key, report, tree)
        report.edited = sorted(set(report.edited) | bad_bodies)
        timings["heads"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        for name, sth in old_heads:
            ev = Evidence(source=name, kind="sth")
            ev.ok = check_evidence(ev, sth, report.key, tree, root)
            report.evidence.append(ev)
        for name, r, _src in held:
            ev = Evidence(source=name, kind="receipt", index=r.index)
            try:
                check_receipt(r, report.key)
            except ReceiptRejectedError as exc:
                ev.problem = f"{exc.message}: it is not evidence about this log"
                report.evidence.append(ev)
                continue
            ev.tree_size = r.sth.tree_size
            if r.index >= len(rows):
                ev.problem = f"entry {r.index + 1} is gone from the log"
            elif leaves[r.index] != r.leaf_hash:
                ev.problem = f"entry {r.index + 1} was changed after the receipt was issued"
            else:  # the entry is there, unchanged: and the tree it was signed in is still a prefix
                ev.ok = check_evidence(ev, r.sth, report.key, tree, root)
            report.evidence.append(ev)
        by_challenge: dict[str, list[int]] = {}
        for e in rows:
            if e.result == "accepted" and e.challenge is not None:
                by_challenge.setdefault(str(e.challenge), []).append(e.id)
            if e.result == "rejected" and e.code == "ReplayError":
                report.replays_refused += 1
        report.reused_challenges = [{"challenge": c, "ids": ids} for c, ids in by_challenge.items() if len(ids) > 1]
        timings["evidence"] = time.perf_counter() - t2
        t3 = time.perf_counter()
        policies, markets = load_documents(log, report)
        timings["documents"] = time.perf_counter() - t3
        accepted = [e for e in rows if e.result == "accepted"]
        report.accepted = len(accepted)
        report.rejected = sum(1 for e in rows if e.result == "rejected")
        if sample is not None and sample < len(accepted):
            if seed is None:
                seed = secrets.randbits(32)
            chosen = random.Random(seed).sample(accepted, sample)
            chosen.sort(key=lambda e: e.id)
            report.seed = seed
            report.sampled_ids = [e.id for e in chosen]
        else:
            chosen = accepted
        if not verify_proofs:
            timings["total"] = time.perf_counter() - t0
            return report
        report.checked = len(chosen)
        failed: dict[int, str] = {}
        groups: dict[tuple, list[LogEntry]] = {}
        for e in chosen:
            groups.setdefault((e.policy_digest, e.market_digest, e.threshold), []).append(e)
        for key in ("batch_verify", "decode", "attestations"):
            timings[key] = 0.0
        if dask_client is not None or scheduler is not None or workers is not None:
            from .cluster import dask_client as open_client
            from .cluster import verify_groups_on_cluster

            be_name = backend if isinstance(backend, str) or backend is None else getattr(backend, "name", None)
            with contextlib.ExitStack() as stack:
                client = dask_client or stack.enter_context(open_client(scheduler, workers))
                try:
                    verify_groups_on_cluster(log, groups, policies, markets, failed, timings, client=client,
                                             backend=be_name, chunk=BATCH_SIZE)
                except AuditIncompleteError as exc:  # the one line names the log audited
                    exc.source = exc.source or log.path
                    raise
                n = len(client.scheduler_info().get("workers", {}))
                report.cluster = f"Dask, {n} worker{'' if n == 1 else 's'}"
            groups = {}
        for (pd, md, thr), entries in groups.items():
            pol, mkt = policies.get(pd), markets.get(md)
            if pol is None or mkt is None:
                for e in entries:
                    failed[e.id] = "its policy or market snapshot is missing from the log or corrupt"
                continue
            try:
                v = _Verifier(mkt, pol, thr, backend)
            except ZkMarginError as exc:
                for e in entries:
                    failed[e.id] = f"cannot rebuild its statement ({exc.one_line()})"
                continue
            for k in range(0, len(entries), BATCH_SIZE):
                chunk = log.entries_by_id([e.id for e in entries[k:k + BATCH_SIZE]])
                verify_chunk(chunk, v, pd, pol.mode, failed, timings)
    report.failed_proofs = [{"id": i, "reason": r} for i, r in sorted(failed.items())]
    timings["total"] = time.perf_counter() - t0
    return report


def _name(src) -> str:
    if isinstance(src, (str, os.PathLike)) and not str(src).lstrip().startswith("{"):
        return os.fspath(src)
    return "(given)"
