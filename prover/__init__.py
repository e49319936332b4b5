"""``zkmargin.prover``: making a Bulletproofs R1CS proof (:mod:`.r1cs`) and its inner-product
argument (:mod:`.ipa`).

May import :mod:`zkmargin.crypto`, :mod:`zkmargin.circuits.cs` and :mod:`zkmargin.errors`. Used by
the API (``prove``) and the custodian workflows (``commit``).
"""
