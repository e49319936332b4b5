"""What an audit finds: :class:`AuditReport` (the log's state, every problem by kind, the proofs
re-verified, the timings) and :class:`Evidence` (one older signed head or receipt checked against
the log), as text and as JSON.

May import :mod:`zkmargin.errors`. Used by the audit's other modules and the CLI (``audit``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from zkmargin.errors import LogTamperedError

KEY_FROM_LOG = ("the log itself (unauthenticated: whoever could rewrite the log could replace its key too; "
                "pass --venue-key)")


def ranges(values: Sequence[int]) -> str:
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
    tree_size: int | None = None
    index: int | None = None
    ok: bool = False
    problem: str | None = None
    consistency_proof: list | None = None

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
    signed_root: str | None = None
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
    sample: int | None = None
    seed: int | None = None
    sampled_ids: list | None = None
    timings: dict = field(default_factory=dict)
    cluster: str | None = None  # where the proofs were re-verified, when not in this process

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
            out.append(f"truncated: entries {ranges(self.truncated)} were signed but are gone")
        if self.unsigned:
            out.append(f"entries {ranges(self.unsigned)} are not covered by any signed tree head")
        if self.bad_signatures:
            out.append(f"signed tree heads whose signature does not verify under the key (tree sizes "
                       f"{ranges(self.bad_signatures)})")
        if self.mismatched_heads:
            out.append(f"signed tree heads that do not match the entries (tree sizes "
                       f"{ranges(self.mismatched_heads)}): entries they signed were changed")
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
                       "failed": self.failed_proofs, "cluster": self.cluster},
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

    def raise_if_not_clean(self) -> AuditReport:
        if not self.clean:
            raise LogTamperedError("; ".join(self.problems()), source=self.path)
        return self
