"""The log's structure checked against itself and against evidence: the leaf hashes recomputed
from the stored fields, positions (deleted, reordered entries), every signed tree head (its
signature, its root against the recomputed tree, an edited entry pinpointed between two heads),
and an older signed head or receipt held by someone else (the log must still hold its tree as a
prefix: a consistency proof, RFC 9162 §2.1.4).

May import :mod:`zkmargin.errors`, :mod:`zkmargin.crypto.ed25519` and the log
(:mod:`zkmargin.verifier.log`). Used by :mod:`.run`.
"""

from __future__ import annotations

from zkmargin.crypto.ed25519 import load_public_key
from zkmargin.errors import InputError

from ..log.entry import LogEntry, entry_leaf_hash, sha256_hex
from ..log.merkle import MerkleTree, verify_consistency
from ..log.sth import SignedTreeHead
from .report import AuditReport, Evidence, ranges


def stored_leaf(e: LogEntry) -> bytes | None:
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


def check_tree(rows: list[LogEntry], leaves: list[bytes | None], heads, key_hex: str, report: AuditReport,
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


def check_evidence(ev: Evidence, sth: SignedTreeHead, key_hex: str, tree: MerkleTree, current_root: bytes) -> bool:
    """An older signed head against the recomputed tree: the log must still hold it as a prefix."""
    ev.tree_size = sth.tree_size
    if sth.log_id.hex() != key_hex or not sth.signature_valid(key_hex):
        ev.problem = "not signed by the venue key: it is not evidence about this log"
        return False
    n = tree.size
    if sth.tree_size > n:
        ev.problem = (f"the venue signed a tree of {sth.tree_size} entries but the log holds {n}: "
                      f"entries {ranges(range(n + 1, sth.tree_size + 1))} were removed")
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
