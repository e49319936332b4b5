"""zkmargin: prove in zero knowledge that a hidden derivatives account meets a venue's margin
requirement (Bulletproofs for arithmetic circuits over BLS12-381, no trusted setup).

The flat public API::

    from zkmargin import load_policy, load_market, load_account, check, prove, verify, verify_batch

May import :mod:`.errors`, :mod:`.api`, :mod:`.rules`, :mod:`.documents` and :mod:`.zone_proofs`
(what it re-exports, all but the errors on first use).
Used by every user of the library and the command line.
"""

import os as _os
from typing import TYPE_CHECKING as _TYPE_CHECKING

# Running from a source checkout (``python -m pytest`` puts the repository root first on sys.path,
# so ``import zkmargin`` finds this folder rather than the installed copy): let the subpackages
# that pyproject.toml maps from top-level folders (circuits/, prover/, verifier/, cli/) resolve
# from the same checkout. Never taken for an installed copy, which has no pyproject.toml beside it.
_root = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if (
    _os.path.isfile(_os.path.join(_root, "pyproject.toml"))
    and _os.path.isfile(_os.path.join(_root, "circuits", "margin", "__init__.py"))
    and _root not in __path__
):
    __path__.append(_root)

from .errors import *  # noqa: E402,F401,F403
from .errors import MalformedProofError  # noqa: E402,F401  (the API's name for it, named in __all__)
from .errors import __all__ as _errors_all  # noqa: E402

#: The flat API's names and the module each comes from, imported on first use (PEP 562): ``import
#: zkmargin`` loads the error hierarchy only, so ``zkmargin --help`` and a verification that finds
#: its prepared verifier on disk (``zkmargin.prepared_store``) never pay for the document models
#: (pydantic), the margin engine or the circuits. ``from zkmargin import verify`` works as before.
_LAZY: dict[str, str] = {
    "VerificationResult": "api", "check": "api", "prove": "api",
    "statement_for": "api", "verify": "api", "verify_batch": "api",
    "BUNDLE_FORMAT": "documents.bundle", "ProofBundle": "documents.bundle",
    "account_digest": "rules.digests", "market_digest": "rules.digests", "policy_digest": "rules.digests",
    "MarginReport": "rules.engine",
    "Account": "rules.models", "Market": "rules.models", "Policy": "rules.models",
    "load_account": "rules.models", "load_market": "rules.models", "load_policy": "rules.models",
    "prove_zone": "zone_proofs", "verify_zone": "zone_proofs",
}


if _TYPE_CHECKING:  # what type checkers see: the same names, imported eagerly
    from .api import VerificationResult, check, prove, statement_for, verify, verify_batch
    from .documents.bundle import BUNDLE_FORMAT, ProofBundle
    from .rules.digests import account_digest, market_digest, policy_digest
    from .rules.engine import MarginReport
    from .rules.models import Account, Market, Policy, load_account, load_market, load_policy
    from .zone_proofs import prove_zone, verify_zone


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'zkmargin' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

__all__ = [
    "Account", "BUNDLE_FORMAT", "MalformedProofError", "MarginReport", "Market", "Policy",
    "ProofBundle", "VerificationResult", "account_digest", "check", "load_account", "load_market",
    "load_policy", "market_digest", "policy_digest", "prove", "statement_for", "verify",
    "verify_batch", "prove_zone", "verify_zone", "__version__",
] + list(_errors_all)
