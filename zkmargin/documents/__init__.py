"""The documents a proof travels with, and the venue's rule over them.

=================  ===========================================================================
``bundle``         ``zkmargin.proof/2``: the proof bundle (statement, commitments, proof, the
                   attestations), reading it from what a caller holds, the challenge's bounds
``attestation``    ``zkmargin.attestation/2``: a custodian's signed commitments; the rules by
                   which several custodians' attestations cover a circuit's slots
``openings``       ``zkmargin.openings/1``: value and blinding per slot (private, the trader's)
``trust``          the venue's trust rule (the policy's ``trust`` section) over a bundle's
                   attestations, enforced by :func:`zkmargin.verify`
=================  ===========================================================================

Below the API: may import :mod:`zkmargin.errors`, :mod:`zkmargin.files`, :mod:`zkmargin.crypto`,
:mod:`zkmargin.rules` and the prover's Pedersen ``commit`` (for openings); never the API, the
workflows or the CLI. Used by the API, the workflows, the transparency log and the CLI. Nothing is
imported here, so ``import zkmargin`` loads only what the API needs (the bundle; the attestation
loads when a bundle is parsed).
"""
