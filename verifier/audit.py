"""Audit of a verification log: the hash chain end to end, the stored policies and snapshots, and
the accepted proofs re-verified (all, or a seeded random sample) with batch verification.

What the chain check reports, by entry id (see :mod:`zkmargin.verifier.log` for the format):

* **edited** — a row whose fields no longer hash to its ``entry_hash`` (or whose bundle or
  attestations no longer hash to the stored hashes), or a row that was rewritten with a fresh hash
  (the next entry's ``prev_hash`` then points elsewhere), or the last row when the head's tip
  differs from it;
* **deleted** — positions (``seq``) missing inside the chain;
* **reordered** — intact rows sitting at another position than the one they were written at
  (their hashed ``seq`` differs from their ``id``);
* **truncated** — positions missing at the tail: the head (updated in the same transaction as
  each append) counts more entries than the log holds; and, with ``expect_tip``, a tip hash seen
  at an earlier audit that is no longer in the chain (catches a truncation that also rewrote the
  head).

Then every accepted entry in the sample is re-verified against the policy and snapshot stored
with it — grouped by (policy, market, threshold), one batch MSM per group of up to
``BATCH_SIZE`` proofs, bisected on failure to name the failing entries — and its custodian
attestations, when it has any, are checked again.
"""

from __future__ import annotations

import dataclasses
import json
import random
import secrets
import time
from dataclasses import dataclass, field
from typing import Optional

from zkmargin.errors import LogError, LogTamperedError, ZkMarginError

from .log import GENESIS, LogEntry, VerificationLog, as_bytes, entry_hash, sha256_hex

BATCH_SIZE = 256


@dataclass
class AuditReport:
    path: str
    entries: int = 0
    head_count: int = 0
    head_tip: str = GENESIS
    edited: list = field(default_factory=list)
    deleted: list = field(default_factory=list)
    reordered: list = field(default_factory=list)
    truncated: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    expect_tip: Optional[str] = None
    expect_tip_found: Optional[bool] = None
    store_errors: list = field(default_factory=list)
    accepted: int = 0
    rejected: int = 0
    checked: int = 0
    failed_proofs: list = field(default_factory=list)
    sample: Optional[int] = None
    seed: Optional[int] = None
    sampled_ids: Optional[list] = None
    timings: dict = field(default_factory=dict)

    @property
    def chain_intact(self) -> bool:
        return not (self.edited or self.deleted or self.reordered or self.truncated or self.notes
                    or self.expect_tip_found is False)

    @property
    def clean(self) -> bool:
        return self.chain_intact and not self.store_errors and not self.failed_proofs

    def problems(self) -> list[str]:
        out = []
        if self.edited:
            out.append(f"edited entries: {self.edited}")
        if self.deleted:
            out.append(f"deleted entries: {self.deleted}")
        if self.reordered:
            out.append(f"reordered entries: {self.reordered}")
        if self.truncated:
            out.append(f"truncated at the tail: entries {self.truncated} are missing")
        if self.expect_tip_found is False:
            out.append("the expected tip is not in the chain: the log was truncated or rewritten")
        out.extend(self.notes)
        out.extend(self.store_errors)
        for f in self.failed_proofs:
            out.append(f"entry {f['id']} no longer verifies: {f['reason']}")
        return out

    def to_json_dict(self) -> dict:
        return {
            "log": self.path,
            "clean": self.clean,
            "chain_intact": self.chain_intact,
            "entries": self.entries,
            "head": {"count": self.head_count, "tip": self.head_tip},
            "edited": self.edited,
            "deleted": self.deleted,
            "reordered": self.reordered,
            "truncated": self.truncated,
            "expect_tip": self.expect_tip,
            "expect_tip_found": self.expect_tip_found,
            "store_errors": self.store_errors,
            "notes": self.notes,
            "proofs": {"accepted": self.accepted, "rejected": self.rejected, "checked": self.checked,
                       "sample": self.sample, "seed": self.seed, "sampled_ids": self.sampled_ids,
                       "failed": self.failed_proofs},
            "timings": {k: round(v, 6) for k, v in self.timings.items()},
            "problems": self.problems(),
        }

    def to_text(self) -> str:
        t = self.timings
        lines = [
            f"log: {self.path}",
            f"entries: {self.entries} (head: {self.head_count}, tip {self.head_tip})",
            f"chain: {'intact' if self.chain_intact else 'BROKEN'}",
        ]
        for p in self.problems():
            lines.append(f"  - {p}")
        scope = "all" if self.sample is None else f"a sample of {self.sample} (seed {self.seed})"
        lines.append(f"proofs: {self.accepted} accepted, {self.rejected} rejected; re-verified {self.checked} "
                     f"({scope}), {len(self.failed_proofs)} failed")
        total = t.get("total", 0.0)
        bv = t.get("batch_verify", 0.0)
        share = f" ({100 * bv / total:.0f}%)" if total > 0 else ""
        lines.append(f"time: {total:.3f} s total, {bv:.3f} s in batch verification{share}")
        lines.append(f"result: {'clean' if self.clean else 'TAMPERED OR FAILED'}")
        return "\n".join(lines) + "\n"

    def raise_if_not_clean(self) -> "AuditReport":
        if not self.clean:
            raise LogTamperedError("; ".join(self.problems()), source=self.path)
        return self


def entry_intact(e: LogEntry) -> bool:
    """The row's fields, bundle and attestations still hash to what its entry_hash commits to."""
    try:
        ok = entry_hash(e.prev_hash, e.fields()) == e.entry_hash
    except (ValueError, TypeError, AttributeError):
        return False
    if not ok or not isinstance(e.seq, int) or isinstance(e.seq, bool):
        return False
    if not isinstance(e.bundle, (bytes, bytearray)) or sha256_hex(bytes(e.bundle)) != e.bundle_hash:
        return False
    if e.attestations is None:
        return e.attestations_hash is None
    return isinstance(e.attestations, (bytes, bytearray)) and sha256_hex(bytes(e.attestations)) == e.attestations_hash


def check_chain(rows: list[LogEntry], intact_ids: set, head_count: Optional[int], head_tip: str,
                report: AuditReport) -> None:
    """Classify what happened to the chain. ``rows`` in id order (bundles need not be loaded),
    ``intact_ids`` the rows whose stored hashes check out (:func:`entry_intact`)."""
    edited = {e.id for e in rows if e.id not in intact_ids}
    intact = [e for e in rows if e.id in intact_ids]
    report.reordered = sorted(e.id for e in intact if e.seq != e.id)
    by_seq: dict[int, LogEntry] = {}
    for e in intact:
        by_seq.setdefault(e.seq, e)
    seen = set(by_seq) | edited
    max_seq = max(seen, default=0)
    report.deleted = sorted(set(range(1, max_seq + 1)) - seen)
    # links between consecutive intact entries: a predecessor rewritten with a fresh hash
    for s, e in sorted(by_seq.items()):
        if s == 1:
            if e.prev_hash != GENESIS:
                edited.add(e.id)
        elif s - 1 in by_seq and e.prev_hash != by_seq[s - 1].entry_hash:
            edited.add(by_seq[s - 1].id)
    if head_count is None:
        pass  # no usable head: reported by the caller; tail truncation needs expect_tip then
    elif head_count > max_seq:
        report.truncated = list(range(max_seq + 1, head_count + 1))
    elif head_count < max_seq:
        report.notes.append(f"the head counts {head_count} entries but the log holds entries up to {max_seq}")
    elif max_seq in by_seq and by_seq[max_seq].entry_hash != head_tip:
        edited.add(by_seq[max_seq].id)
    if report.expect_tip is not None:
        report.expect_tip_found = any(e.entry_hash == report.expect_tip for e in intact)
    report.edited = sorted(edited)


def _load_documents(log: VerificationLog, report: AuditReport) -> tuple[dict, dict]:
    from zkmargin.rules.digests import market_digest, policy_digest
    from zkmargin.models import load_policy, parse_market

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
    from zkmargin.errors import VerificationError
    from zkmargin.verifier.r1cs import verify_batch as r1cs_verify_batch

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


def _verify_chunk(chunk: list[LogEntry], v, policy_digest: str, mode: str, failed: dict, timings: dict) -> None:
    """Re-verify up to BATCH_SIZE entries of one (policy, market, threshold) with one batch MSM
    (bisected on failure), then their stored attestations."""
    from zkmargin.attest import check_attestations
    from zkmargin.bundle import ProofBundle

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
    for e in chunk:
        if e.attestations is None or e.id in failed or e.id not in bundles:
            continue
        try:
            doc = json.loads(as_bytes(e.attestations))
            check_attestations(bundles[e.id], doc["attestations"], doc["custodian_keys"],
                               policy_digest=policy_digest, mode=mode, backend=v.be)
        except ZkMarginError as exc:
            failed[e.id] = exc.one_line()
        except (ValueError, KeyError, TypeError):
            failed[e.id] = "its stored attestations are unreadable"
    timings["attestations"] += time.perf_counter() - ta


def audit(path, *, sample: Optional[int] = None, seed: Optional[int] = None, expect_tip: Optional[str] = None,
          backend=None, verify_proofs: bool = True) -> AuditReport:
    """Audit the log at ``path``; never raises on tampering — inspect :attr:`AuditReport.clean`
    (or call :meth:`AuditReport.raise_if_not_clean`). Raises :class:`LogError` when the file is
    not a zkmargin log, :class:`InputError` on bad arguments."""
    from zkmargin.api import _Verifier
    from zkmargin.errors import InputError

    t0 = time.perf_counter()
    if sample is not None and sample < 0:
        raise InputError("the sample size must be >= 0", field="sample")
    if expect_tip is not None:
        expect_tip = expect_tip.strip().lower()
        if len(expect_tip) != 64 or any(c not in "0123456789abcdef" for c in expect_tip):
            raise InputError("the expected tip is 64 hex digits", field="expect_tip")
    report = AuditReport(path=str(path), expect_tip=expect_tip, sample=sample)
    timings = report.timings
    with VerificationLog(path, create=False) as log:
        # one streaming pass: hashes checked, bundles dropped (fetched again for the sample only)
        rows, intact_ids = [], set()
        for e in log.entries():
            if entry_intact(e):
                intact_ids.add(e.id)
            rows.append(dataclasses.replace(e, bundle=b"", attestations=b"" if e.attestations is not None else None))
        report.entries = len(rows)
        try:
            report.head_count, report.head_tip = log.head()
            head_ok = True
        except LogError as exc:
            report.notes.append(exc.message)
            head_ok = False
        check_chain(rows, intact_ids, report.head_count if head_ok else None, report.head_tip, report)
        t1 = time.perf_counter()
        timings["chain"] = t1 - t0
        policies, markets = _load_documents(log, report)
        timings["documents"] = time.perf_counter() - t1
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
                _verify_chunk(chunk, v, pd, pol.mode, failed, timings)
    report.failed_proofs = [{"id": i, "reason": r} for i, r in sorted(failed.items())]
    timings["total"] = time.perf_counter() - t0
    return report
