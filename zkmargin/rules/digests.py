"""Canonical bytes and SHA-256 digests of policies, market snapshots and accounts.

The canonical form of a document is its parsed and *normalized* model (see :mod:`zkmargin.rules.models`:
defaults filled in, bracket amounts from the recursion, ``initial_factor`` filled in, timestamps in
UTC) dumped as JSON with

* every decimal as its canonical string (no exponent, no trailing zeros, ``"0"`` for zero), so
  ``"1.50"``, ``1.5`` and ``"1.5"`` are the same;
* integers (scales, bit widths, rounding decimals) as JSON integers;
* null fields left out (an omitted optional field and an explicit ``null`` are the same);
* object keys sorted, compact separators (``,`` and ``:``), ASCII only (``\\uXXXX`` escapes).

List order is kept (the order of instruments fixes the circuit's slots).

A digest is ``SHA-256(domain || canonical_bytes)`` in lowercase hex, with a domain separator per
document kind, e.g. ``b"zkmargin.policy/1\\0"``, so a policy and a snapshot can never share one.

Imports pydantic, :mod:`zkmargin.errors` and :mod:`zkmargin.rules.models`. Used by the API, the engine's
report, the workflows, the verification log and audit, and the command line.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel

from ..errors import InputError
from .models import (
    ACCOUNT_FORMAT,
    MARKET_FORMAT,
    POLICY_FORMAT,
    Account,
    Market,
    Policy,
    dump_document,
)

__all__ = ["DOMAINS", "canonical_json", "canonical_bytes", "digest", "policy_digest",
           "market_digest", "account_digest"]

#: Domain separators, one per document kind.
DOMAINS = {
    Policy: POLICY_FORMAT.encode() + b"\0",
    Market: MARKET_FORMAT.encode() + b"\0",
    Account: ACCOUNT_FORMAT.encode() + b"\0",
}


def canonical_json(model: BaseModel) -> dict[str, Any]:
    """The normalized model as a JSON-ready dict (decimals as canonical strings)."""
    return dump_document(model)


def canonical_bytes(model: BaseModel) -> bytes:
    """The canonical serialization (sorted keys, compact, ASCII) of a normalized model."""
    return json.dumps(canonical_json(model), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True, allow_nan=False).encode("ascii")


def digest(model: BaseModel) -> str:
    """Domain-separated SHA-256 of :func:`canonical_bytes`, lowercase hex."""
    if isinstance(model, Policy) and model.instruments and not model._by_symbol:
        from .models import validate_policy

        model = validate_policy(model)  # digest the normalized form only
    for cls, domain in DOMAINS.items():
        if isinstance(model, cls):
            return hashlib.sha256(domain + canonical_bytes(model)).hexdigest()
    raise InputError(f"no digest is defined for {type(model).__name__}")


def policy_digest(policy: Policy) -> str:
    return digest(policy)


def market_digest(market: Market) -> str:
    return digest(market)


def account_digest(account: Account) -> str:
    """Digest of an account (private: for the trader's own records, never published)."""
    return digest(account)
