"""``zkmargin.verifier``: checking proofs and keeping the record.

:mod:`.r1cs` verifies one proof or a batch with one multi-scalar multiplication; it may import
:mod:`zkmargin.crypto`, :mod:`zkmargin.circuits.cs` and :mod:`zkmargin.errors`, and is used by the
API and the audit. :mod:`.log` (the venue's transparency log: entries, Merkle tree, signed heads,
receipts, the storage behind :class:`~.log.LogStore`, verify-and-record) and :mod:`.audit` (the
auditor's re-check) are packages above the API and may import it; they are used by the command
line and the service.
"""
