"""Reading and writing the project's files: atomic writes (``atomic``).

Modules here may import :mod:`zkmargin.errors` and the standard library only. Used by the bundle,
the document models and the workflows (openings, keys).
"""
