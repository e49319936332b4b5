"""``zkmargin.verifier``: checking proofs and keeping the record.

:mod:`.r1cs` verifies one proof or a batch with one multi-scalar multiplication; it may import
:mod:`zkmargin.crypto`, :mod:`zkmargin.circuits.cs` and :mod:`zkmargin.errors`, and is used by the
API. :mod:`.log` (the venue's verification log) and :mod:`.audit` (the auditor's re-check) sit
above the API and may import it; they are used by the command line and the service.
"""
