"""``zkmargin.circuits``: the constraint systems, written once for prover and verifier.

:mod:`.cs` (the R1CS builder), :mod:`.gadgets` (booleans, range checks, absolute values) and
:mod:`.margin` (the margin circuit: the plan, one module per rule family). May import
:mod:`zkmargin.crypto.field`, :mod:`zkmargin.errors` and the margin rules' public numbers
(:mod:`zkmargin.rules`, :mod:`zkmargin.rules.models`); never the prover, the verifier or the API. Used by
the prover, the verifier, the API and the workflows.
"""
