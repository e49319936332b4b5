"""The custodian's workflow and the trader's side of it: attest, combine, prove over attested
commitments, disclose openings to auditors.

A custodian holding (part of) a trader's book commits to the account's values slot by slot and
signs the commitments (:func:`attest` → a public ``zkmargin.attestation/2`` and the trader's
private ``zkmargin.openings/1``). The trader proves over them (:func:`prove_attested`: the proof's
commitments are exactly the attested ones, summed over several custodians, and the bundle carries
the attestations); the venue's policy says which custodians it accepts, and
:func:`zkmargin.verify` enforces that rule (:mod:`zkmargin.documents.trust`). A trader without a
custodian can draw its own openings (:func:`new_openings`, :func:`prove_with_openings`), and
either can later open chosen commitments to an auditor (:func:`combine_openings`,
:func:`check_openings`).

=================  ===========================================================================
``commit``         :func:`attest` (custodian), :func:`new_openings` (trader), the slot layout
                   and scales a custodian commits to
``combine``        :func:`combine`, :func:`prove_attested`, :func:`prove_with_openings`
``disclosure``     :func:`combine_openings`, :func:`check_openings` (auditor)
=================  ===========================================================================

The documents themselves (:class:`SignedCommitments`, :class:`Openings`) and the Ed25519 key
helpers live below the API (:mod:`zkmargin.documents`, :mod:`zkmargin.crypto.ed25519`); they are
re-exported here so that one import serves a custodian's or a trader's script.

May import the API and everything below it. Used by the CLI, the demo, the benchmarks and the tests.
"""

from ...crypto.ed25519 import (
    generate_private_key,
    key_id,
    load_private_key,
    load_public_key,
    new_key_file,
    private_key_pem,
    public_key_hex,
)
from ...documents.attestation import ATTESTATION_FORMAT, SignedCommitments
from ...documents.openings import OPENINGS_FORMAT, Openings
from ...errors import AttestationError
from ...files.atomic import write_private
from .combine import Combined, combine, prove_attested, prove_with_openings
from .commit import attest, new_openings, slot_scales
from .disclosure import OpeningCheck, check_openings, combine_openings

__all__ = [
    "ATTESTATION_FORMAT", "AttestationError", "Combined", "OPENINGS_FORMAT", "OpeningCheck", "Openings",
    "SignedCommitments", "attest", "check_openings", "combine", "combine_openings", "generate_private_key",
    "key_id", "load_private_key", "load_public_key", "new_key_file", "new_openings", "private_key_pem",
    "prove_attested", "prove_with_openings", "public_key_hex", "slot_scales", "write_private",
]
