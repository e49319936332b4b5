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
rule (the stored policy's ``trust`` section, :func:`zkmargin.documents.trust.recheck_accepted`)
is applied again at the entry's logged time: an entry accepted without the attestations or the
challenge the policy requires fails.

=============  ================================================================================
``run``        :func:`audit`: one streaming pass over a log opened read-only
``tree``       leaf hashes, positions, signed heads, older heads and receipts (consistency)
``proofs``     the stored documents, the accepted proofs re-verified in batches, the trust rule
``report``     :class:`AuditReport` and :class:`Evidence`, as text and JSON
=============  ================================================================================

May import the API and everything below it, and the log. Used by the CLI (``audit``), the
benchmarks and the tests.
"""

from .proofs import BATCH_SIZE
from .report import KEY_FROM_LOG, AuditReport, Evidence
from .run import audit

__all__ = ["BATCH_SIZE", "KEY_FROM_LOG", "AuditReport", "Evidence", "audit"]
