"""Reading and writing the project's files: atomic writes (``atomic``), bounded reads of small
documents (``bounded``).

Modules here may import :mod:`zkmargin.errors` and the standard library only. Used by the document
models, the documents (bundle, attestation, openings), the Ed25519 key files, the clients file and
the CLI.
"""
