"""The roles' workflows around a proof, above the API.

=================  ===========================================================================
``custodian/``     attestations, combining custodians' shares, proving over attested
                   commitments, openings for auditors
``service/``       the venue's HTTP verification service: app and routes, challenges, quotas
                   and the client gate, the clients file
``demo``           ``zkmargin demo``: the whole story on the example data
``bench``          the reference workloads and ``msm_reference_seconds``
``report_text``    plain-text tables and the margin report as text (the demo and the CLI)
=================  ===========================================================================

May import the API and everything below it (the documents, the margin rules, the circuits, the
prover and verifier, the cryptographic core); imported by the CLI, the benchmarks and the tests
only. Nothing is imported here: each workflow loads on first use.
"""
