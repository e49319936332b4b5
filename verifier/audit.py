"""Audit of a verification log: the Merkle tree recomputed from the stored entries, every signed
tree head checked, older signed heads and receipts held by others checked against the log,
challenges accepted twice, the stored policies and snapshots, and the accepted proofs re-verified
(all, or a seeded random sample) with batch verification.

What the audit reports (see :mod:`zkmargin.verifier.log` and ``docs/notes/transparency-log.md``):

* **edited** — entries whose fields no longer hash to their stored leaf hash, accepted entries
  whose stored bundle (or attestations) no longer hash to the logged hash, and an entry the signed
  heads pinpoint (the head before it matches the recomputed tree, the head at it does not);
* **deleted** / **reordered** — sequence numbers missing inside the log / entries sitting at
  another position than the one they were written at;
* **heads** — stored signed heads whose signature does not verify under the venue key, or whose
  root is not the root of the recomputed tree at their size (an entry they cover was changed);
  heads larger than the log (**truncated**: signed entries are gone) and entries no head covers;
* **evidence** — each older signed head (``--sth``) and receipt (``--receipt``) an auditor or a
  trader kept: it must verify under the venue key, the log must still hold its tree as a prefix
  (a consistency proof from its size to the current one is computed and verified, RFC 9162
  §2.1.4), and a receipt's entry must still be in the log, unchanged;
* **reused challenges** — a challenge accepted by more than one entry (the log's unique index
  forbids it, so only a hand-edited log shows one).

The key: with ``venue_key`` every signature is checked against the venue's public key as the
auditor knows it; without it, against the key the log names itself — which only shows the log is
self-consistent (an insider who rewrote the log could have replaced the key too), and the report
says so.

Then every accepted entry in the sample is re-verified against the policy and snapshot stored
with it — grouped by (policy, market, threshold), one batch MSM per group of up to
``BATCH_SIZE`` proofs, bisected on failure to name the failing entries — and the venue's trust
rule (the stored policy's ``trust`` section, :func:`zkmargin.trust.recheck_accepted`) is applied
again at the entry's logged time: an entry accepted without the attestations or the challenge the
policy requires fails.
"""

from __future__ import annotations

import dataclasses
import random
import secrets
import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

from zkmargin.errors import InputError, LogError, LogTamperedError, ReceiptRejectedError, ZkMarginError

from .log import LogEntry, VerificationLog, as_bytes, sha256_hex
from .merkle import MerkleTree, verify_consistency
from .receipt import Receipt, check_receipt, entry_leaf_hash
from .sth import SignedTreeHead

BATCH_SIZE = 256
KEY_FROM_LOG = ("the log itself (unauthenticated: whoever could rewrite the log could replace its key too; "
                "pass --venue-key)")


def _ranges(values: Sequence[int]) -> str:
    """[1, 2, 3, 7] -> '1-3, 7' (long lists stay one short line)."""
    out, vals = [], sorted(values)
    i = 0
    while i < len(vals):
        j = i
        while j + 1 < len(vals) and vals[j + 1] == vals[j] + 1:
            j += 1
        out.append(str(vals[i]) if i == j else f"{vals[i]}-{vals[j]}")
        i = j + 1
    return ", ".join(out)


@dataclass
class Evidence:
    """One older signed head or receipt checked against the log."""

    source: str
    kind: str  # "sth" or "receipt"
    tree_size: Optional[int] = None
    index: Optional[int] = None
    ok: bool = False
    problem: Optional[str] = None
    consistency_proof: Optional[list] = None

    def to_json_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class AuditReport:
    path: str
    log_id: str = ""
    key: str = ""
    key_source: str = ""
    entries: int = 0
    tree_size: int = 0
    root_hash: str = ""
    signed_size: int = 0
    signed_root: Optional[str] = None
    heads: int = 0
    edited: list = field(default_factory=list)
    deleted: list = field(default_factory=list)
    reordered: list = field(default_factory=list)
    truncated: list = field(default_factory=list)
    unsigned: list = field(default_factory=list)
    bad_signatures: list = field(default_factory=list)
    mismatched_heads: list = field(default_factory=list)
    evidence: list = field(default_factory=list)
    reused_challenges: list = field(default_factory=list)
    replays_refused: int = 0
    notes: list = field(default_factory=list)
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
    def log_intact(self) -> bool:
        """The entries, the tree, the signed heads and the evidence all agree."""
        return not (self.edited or self.deleted or self.reordered or self.truncated or self.unsigned
                    or self.bad_signatures or self.mismatched_heads or self.notes
                    or any(not ev.ok for ev in self.evidence))

    chain_intact = log_intact  # the name audits of zkmargin.log/1 used

    @property
    def clean(self) -> bool:
        return (self.log_intact and not self.reused_challenges and not self.store_errors
                and not self.failed_proofs)

    def problems(self) -> list[str]:
        out = []
        if self.edited:
            out.append(f"edited entries: {self.edited}")
        if self.deleted:
            out.append(f"deleted entries: {self.deleted}")
        if self.reordered:
            out.append(f"reordered entries: {self.reordered}")
        if self.truncated:
            out.append(f"truncated: entries {_ranges(self.truncated)} were signed but are gone")
        if self.unsigned:
            out.append(f"entries {_ranges(self.unsigned)} are not covered by any signed tree head")
        if self.bad_signatures:
            out.append(f"signed tree heads whose signature does not verify under the key (tree sizes "
                       f"{_ranges(self.bad_signatures)})")
        if self.mismatched_heads:
            out.append(f"signed tree heads that do not match the entries (tree sizes "
                       f"{_ranges(self.mismatched_heads)}): entries they signed were changed")
        for ev in self.evidence:
            if not ev.ok:
                out.append(f"{ev.kind} {ev.source}: {ev.problem}")
        for r in self.reused_challenges:
            out.append(f"challenge {r['challenge'][:16]}… accepted more than once (entries {r['ids']})")
        out.extend(self.notes)
        out.extend(self.store_errors)
        for f in self.failed_proofs:
            out.append(f"entry {f['id']} no longer verifies: {f['reason']}")
        return out

    def to_json_dict(self) -> dict:
        return {
            "log": self.path,
            "clean": self.clean,
            "log_intact": self.log_intact,
            "key": {"log_id": self.log_id, "checked_with": self.key, "source": self.key_source},
            "entries": self.entries,
            "tree": {"size": self.tree_size, "root_hash": self.root_hash},
            "signed_head": {"tree_size": self.signed_size, "root_hash": self.signed_root, "heads": self.heads},
            "edited": self.edited,
            "deleted": self.deleted,
            "reordered": self.reordered,
            "truncated": self.truncated,
            "unsigned": self.unsigned,
            "bad_signatures": self.bad_signatures,
            "mismatched_heads": self.mismatched_heads,
            "evidence": [ev.to_json_dict() for ev in self.evidence],
            "reused_challenges": self.reused_challenges,
            "replays_refused": self.replays_refused,
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
            f"key: {self.key} (from {self.key_source})",
            f"entries: {self.entries}; latest signed head: tree size {self.signed_size}, root {self.signed_root}",
            f"log: {'intact' if self.log_intact else 'BROKEN'} (Merkle tree recomputed, {self.heads} signed "
            f"head(s) checked)",
        ]
        for ev in self.evidence:
            what = f"tree size {ev.tree_size}" + (f", entry {ev.index + 1}" if ev.index is not None else "")
            lines.append(f"  {ev.kind} {ev.source} ({what}): "
                         + ("the log only grew since (consistency proof verified)" if ev.ok else "FAILED"))
        for p in self.problems():
            lines.append(f"  - {p}")
        scope = "all" if self.sample is None else f"a sample of {self.sample} (seed {self.seed})"
        lines.append(f"proofs: {self.accepted} accepted, {self.rejected} rejected ({self.replays_refused} replayed "
                     f"challenges refused); re-verified {self.checked} ({scope}), {len(self.failed_proofs)} failed")
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


def stored_leaf(e: LogEntry) -> Optional[bytes]:
    """The leaf hash recomputed from the row's hashed fields (None when they cannot be hashed)."""
    try:
        return entry_leaf_hash(e.fields())
    except (TypeError, ValueError):
        return None


def bodies_intact(e: LogEntry) -> bool:
    """An accepted entry still holds the bundle (and attestations) its hashed fields name."""
    if e.result != "accepted":
        return True
    if not isinstance(e.bundle, (bytes, bytearray)) or sha256_hex(bytes(e.bundle)) != e.bundle_hash:
        return False
    if e.attestations_hash is None:
        return e.attestations is None
    return isinstance(e.attestations, (bytes, bytearray)) and sha256_hex(bytes(e.attestations)) == e.attestations_hash


def _check_tree(rows: list[LogEntry], leaves: list[Optional[bytes]], heads, key_hex: str, report: AuditReport,
                tree: MerkleTree) -> None:
    """Positions, leaf hashes and the signed heads against the recomputed tree."""
    n = len(rows)
    edited = set()
    for e, leaf in zip(rows, leaves):
        if leaf is None or leaf.hex() != e.leaf_hash:
            edited.add(e.id)
    report.reordered = sorted(e.id for e in rows if e.seq != e.id and e.id not in edited)
    seen = {e.id for e in rows}
    report.deleted = sorted(set(range(1, max(seen, default=0) + 1)) - seen)
    from zkmargin.attest import load_public_key

    key = load_public_key(key_hex, "venue public key", InputError)  # parsed once, not once per head
    last_ts, good_sizes, bad_sizes = -1, [0], []
    for row, sth in heads:
        report.heads += 1
        if sth is None:
            report.notes.append(f"the signed head stored for tree size {row.get('tree_size')!r} is malformed")
            continue
        if not sth.signature_valid(key):
            report.bad_signatures.append(sth.tree_size)
            continue
        if sth.timestamp < last_ts:
            report.notes.append(f"the signed head of tree size {sth.tree_size} is older than the one before it")
        last_ts = sth.timestamp
        if sth.tree_size > n:  # signed entries are missing: inside (deleted) or at the tail
            top = max(seen, default=0)
            report.truncated = list(range(top + 1, sth.tree_size + 1))
        elif tree.root(sth.tree_size) != sth.root_hash:
            bad_sizes.append(sth.tree_size)
        else:
            good_sizes.append(sth.tree_size)
    report.mismatched_heads = bad_sizes
    if bad_sizes:  # pinpoint: the head just before the first divergence still matched
        first = bad_sizes[0]
        if max(s for s in good_sizes if s < first) == first - 1 and first <= n:
            edited.add(rows[first - 1].id)
    report.edited = sorted(edited)
    covered = max(report.signed_size, 0)
    if n > covered:
        report.unsigned = list(range(covered + 1, n + 1))


def _evidence(ev: Evidence, sth: SignedTreeHead, key_hex: str, tree: MerkleTree, current_root: bytes) -> bool:
    """An older signed head against the recomputed tree: the log must still hold it as a prefix."""
    ev.tree_size = sth.tree_size
    if sth.log_id.hex() != key_hex or not sth.signature_valid(key_hex):
        ev.problem = "not signed by the venue key: it is not evidence about this log"
        return False
    n = tree.size
    if sth.tree_size > n:
        ev.problem = (f"the venue signed a tree of {sth.tree_size} entries but the log holds {n}: "
                      f"entries {_ranges(range(n + 1, sth.tree_size + 1))} were removed")
        return False
    if tree.root(sth.tree_size) != sth.root_hash:
        ev.problem = (f"the log's first {sth.tree_size} entries are not the ones the venue signed at that size: "
                      "the log was rewritten")
        return False
    proof = tree.consistency_proof(sth.tree_size)
    if not verify_consistency(sth.tree_size, n, sth.root_hash, current_root, proof):
        ev.problem = "the consistency proof to the current tree does not verify"
        return False
    ev.consistency_proof = [p.hex() for p in proof]
    return True


def _load_documents(log: VerificationLog, report: AuditReport) -> tuple[dict, dict]:
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
    (bisected on failure), then the policy's trust rule at each entry's logged time."""
    from zkmargin.bundle import ProofBundle
    from zkmargin.trust import recheck_accepted

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
    for e in chunk:  # the policy's trust rule at the entry's logged time (zkmargin.trust)
        if e.id in failed or e.id not in bundles:
            continue
        try:
            ch = bytes.fromhex(e.challenge) if e.challenge is not None else None
            recheck_accepted(bundles[e.id], v.policy, v.market, ch, e.time, subject=e.subject,
                             backend=v.be, rule=v.trust_rule)
        except ZkMarginError as exc:
            failed[e.id] = f"accepted against the venue's trust rule: {exc.one_line()}"
    timings["attestations"] += time.perf_counter() - ta


def audit(path, *, venue_key=None, sths: Sequence = (), receipts: Sequence = (), sample: Optional[int] = None,
          seed: Optional[int] = None, backend=None, verify_proofs: bool = True) -> AuditReport:
    """Audit the log at ``path``; never raises on tampering — inspect :attr:`AuditReport.clean`
    (or call :meth:`AuditReport.raise_if_not_clean)`. ``venue_key`` is the venue's public key as
    the auditor knows it; ``sths`` and ``receipts`` are older signed heads and receipts (paths,
    dicts or parsed) the log must still be an extension of. Raises :class:`LogError` when the file
    is not a zkmargin log, :class:`InputError` / :class:`FormatError` on bad arguments or a
    malformed head, receipt or key."""
    from zkmargin.api import _Verifier
    from zkmargin.attest import load_public_key, public_key_hex

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
        report.log_id = log.log_id
        if given_key is not None:
            report.key, report.key_source = given_key, "the venue key given"
            if given_key != log.log_id:
                report.notes.append(f"the log names another key ({log.log_id[:16]}…) than the venue key given")
        else:
            report.key, report.key_source = log.log_id, KEY_FROM_LOG
        # one streaming pass over the rows: leaves recomputed, bodies hashed then dropped
        rows: list[LogEntry] = []
        leaves: list[Optional[bytes]] = []
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
        _check_tree(rows, leaves, heads, report.key, report, tree)
        report.edited = sorted(set(report.edited) | bad_bodies)
        timings["heads"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        for name, sth in old_heads:
            ev = Evidence(source=name, kind="sth")
            ev.ok = _evidence(ev, sth, report.key, tree, root)
            report.evidence.append(ev)
        for name, r, src in held:
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
                ev.ok = _evidence(ev, r.sth, report.key, tree, root)
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
        policies, markets = _load_documents(log, report)
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


def _name(src) -> str:
    import os

    if isinstance(src, (str, os.PathLike)) and not str(src).lstrip().startswith("{"):
        return os.fspath(src)
    return "(given)"
