"""zkmargin: prove in zero knowledge that a hidden derivatives account meets a venue's margin
requirement (Bulletproofs for arithmetic circuits over BLS12-381, no trusted setup).

The flat public API::

    from zkmargin import load_policy, load_market, load_account, check, prove, verify, verify_batch

May import :mod:`.errors`, :mod:`.api`, :mod:`.rules` and :mod:`.documents` (what it re-exports).
Used by every user of the library and the command line.
"""

import os as _os

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

from .api import (  # noqa: E402
    MalformedProofError,
    VerificationResult,
    check,
    prove,
    statement_for,
    verify,
    verify_batch,
)
from .documents.bundle import BUNDLE_FORMAT, ProofBundle
from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors_all  # noqa: F401
from .rules.digests import account_digest, market_digest, policy_digest
from .rules.engine import MarginReport
from .rules.models import Account, Market, Policy, load_account, load_market, load_policy
from .zone_proofs import prove_zone, verify_zone

__version__ = "0.1.0"

__all__ = [
    "Account", "BUNDLE_FORMAT", "MalformedProofError", "MarginReport", "Market", "Policy",
    "ProofBundle", "VerificationResult", "account_digest", "check", "load_account", "load_market",
    "load_policy", "market_digest", "policy_digest", "prove", "statement_for", "verify",
    "verify_batch", "prove_zone", "verify_zone", "__version__",
] + list(_errors_all)
