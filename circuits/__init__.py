"""``zkmargin.circuits``: the constraint systems, written once for prover and verifier.

:mod:`.cs` (the R1CS builder; its parts in :mod:`.wires`, :mod:`.bounds`, :mod:`.system`,
:mod:`.randomized`, :mod:`.flatten`), :mod:`.gadgets` (booleans, range checks, absolute values),
:mod:`.lookup` (lookup tables, logUp), :mod:`.layouts` (which margin circuit a policy compiles to)
and :mod:`.margin` (the margin circuit: the plan, one module per rule family). May import
:mod:`zkmargin.crypto.field`, :mod:`zkmargin.errors` and the margin rules' public numbers
(:mod:`zkmargin.rules`); never the prover, the verifier, the documents or the API. Used by
the prover, the verifier, the API and the workflows.
"""
