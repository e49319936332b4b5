"""Group backends: ``arkworks`` (native, default) and ``py_ecc`` (pure-Python reference).

Choose one with ``get_backend(name)``, a ``backend=`` argument, or ``ZKMARGIN_BACKEND``. A backend
module is imported only when first used, so the reference backend costs nothing unless asked for
and the native one is not required to read this module.

Imports :mod:`zkmargin.errors` and :mod:`.base`. Used by the generators, the proof encoding, the
prover, the verifier, the API, the workflows and the command line (``--backend``).
"""

from __future__ import annotations

import importlib
import os

from ...errors import BackendError
from .base import POINT_BYTES, GroupBackend

BACKENDS = {
    "arkworks": ("zkmargin.crypto.backends.arkworks", "ArkworksBackend"),
    "py_ecc": ("zkmargin.crypto.backends.pyecc", "PyEccBackend"),
}
DEFAULT_BACKEND = "arkworks"
ENV_VAR = "ZKMARGIN_BACKEND"

_instances: dict[str, GroupBackend] = {}


def backend_name(name: str | None = None) -> str:
    chosen = name or os.environ.get(ENV_VAR) or DEFAULT_BACKEND
    if chosen not in BACKENDS:
        raise BackendError(
            f"unknown backend {chosen!r} (choose one of {', '.join(sorted(BACKENDS))})",
            source=None if name else ENV_VAR,
        )
    return chosen


def get_backend(backend: str | GroupBackend | None = None) -> GroupBackend:
    """The backend named by ``backend``, else by ``$ZKMARGIN_BACKEND``, else arkworks."""
    if isinstance(backend, GroupBackend):
        return backend
    name = backend_name(backend)
    if name not in _instances:
        module_name, class_name = BACKENDS[name]
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise BackendError(f"backend {name!r} is not available: {exc}") from None
        _instances[name] = getattr(module, class_name)()
    return _instances[name]


__all__ = ["BACKENDS", "DEFAULT_BACKEND", "ENV_VAR", "POINT_BYTES", "GroupBackend", "backend_name", "get_backend"]
