"""zkmargin: prove in zero knowledge that a hidden derivatives account meets a venue's margin
requirement (Bulletproofs for arithmetic circuits over BLS12-381, no trusted setup).

The flat public API::

    from zkmargin import load_policy, load_market, load_account, check, prove, verify, verify_batch
"""

from .api import (
    MalformedProofError,
    VerificationResult,
    check,
    prove,
    statement_for,
    verify,
    verify_batch,
)
from .bundle import BUNDLE_FORMAT, ProofBundle
from .digests import account_digest, market_digest, policy_digest
from .engine import MarginReport
from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors_all  # noqa: F401
from .models import Account, Market, Policy, load_account, load_market, load_policy

__version__ = "0.1.0"

__all__ = [
    "Account", "BUNDLE_FORMAT", "MalformedProofError", "MarginReport", "Market", "Policy",
    "ProofBundle", "VerificationResult", "account_digest", "check", "load_account", "load_market",
    "load_policy", "market_digest", "policy_digest", "prove", "statement_for", "verify",
    "verify_batch", "__version__",
] + list(_errors_all)
