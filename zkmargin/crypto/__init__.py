"""The cryptographic core: BLS12-381 scalars and group backends, Pedersen generators, the
Fiat–Shamir transcript, the binary proof encoding and Ed25519 keys.

Nothing here knows what a margin is. Modules here may import :mod:`zkmargin.errors`,
:mod:`zkmargin.files` (key files), each other and the backends' own libraries, nothing else of
zkmargin. Used by the circuits (``field``), the prover,
the verifier, the API and the workflows. This package re-exports nothing: import the module you
need (``from zkmargin.crypto.field import R``).
"""
