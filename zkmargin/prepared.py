"""The prepared verifier: everything a verifier derives from (policy, market, threshold), built
once and shared.

A venue verifies many proofs against one policy and market snapshot: the plan (the public numbers
at their scales), the verifier's circuit, its digest, the statement every proof must carry, the
policy's trust rule and the circuit's weights compiled for flattening
(:class:`~zkmargin.verifier.compiled.CompiledWeights`) are the same for all of them. Rebuilding
them cost more than the proof's own multi-scalar multiplication (circuit build 38 %, digest 11 %,
flattening 5 % of a W1 verification). :func:`prepare` builds them once per
``(policy digest, market digest, threshold)`` and keeps them in an in-process cache that
``verify``, ``verify_batch``, the log, the audit and the service all share (through
``api._Verifier``).

The cache holds only public data derived deterministically from its key; two callers with the same
digests get the same objects, which nobody mutates after preparation (a two-phase circuit is
randomized into a copy per proof). :func:`clear` empties it (tests; a long-running process that
wants the memory back).

Imports the margin rules, the circuits, :mod:`zkmargin.verifier.compiled` and, lazily, the
statement (:mod:`zkmargin.statement`) and the trust rule. Used by :mod:`zkmargin.api`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .circuits.cs import ConstraintSystem
from .circuits.layouts import plan_margin
from .circuits.provable import build_checked
from .rules.decimals import canonical
from .rules.digests import market_digest, policy_digest
from .rules.models import Market, Policy

#: Prepared verifiers kept per process (least recently used first out). A W1 circuit and its
#: compiled weights take a few MB; a venue serves a handful of (policy, market) pairs at a time.
MAX_ENTRIES = 32


@dataclass(frozen=True)
class PreparedKey:
    policy_digest: str
    market_digest: str
    threshold: str


@dataclass
class Prepared:
    """What every verification for one (policy, market, threshold) shares."""

    key: PreparedKey
    policy: Policy
    market: Market
    threshold: Decimal
    plan: Any
    cs: ConstraintSystem
    base_statement: dict
    trust_rule: Any

    @property
    def circuit_digest(self) -> str:
        return str(self.base_statement["circuit_digest"])


_cache: OrderedDict[PreparedKey, Prepared] = OrderedDict()
_lock = threading.Lock()
_stats = {"hits": 0, "misses": 0}


def key_of(policy: Policy, market: Market, threshold: Decimal) -> PreparedKey:
    return PreparedKey(policy_digest(policy), market_digest(market), canonical(threshold))


def prepare(policy: Policy, market: Market, threshold: Decimal) -> Prepared:
    """The prepared verifier for parsed ``policy``, ``market`` and ``threshold`` (from the cache
    when an earlier call prepared the same digests)."""
    key = key_of(policy, market, threshold)
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            _stats["hits"] += 1
            return hit
    prepared = build_prepared(key, policy, market, threshold)
    with _lock:
        _stats["misses"] += 1
        existing = _cache.get(key)
        if existing is not None:  # another thread prepared it meanwhile: keep one
            return existing
        _cache[key] = prepared
        while len(_cache) > MAX_ENTRIES:
            _cache.popitem(last=False)
    return prepared


def build_prepared(key: PreparedKey, policy: Policy, market: Market, threshold: Decimal) -> Prepared:
    """Build everything from scratch (no cache)."""
    from .documents.trust import TrustRule
    from .statement import statement_for
    from .verifier.compiled import CompiledWeights

    plan = plan_margin(policy, market, threshold)
    cs = build_checked(plan, None, policy, market, threshold)  # provable at these prices (circuits/provable.py)
    CompiledWeights.of_system(cs)  # compiled now, cached on the circuit
    # the statement every proof must carry, without its challenge (the same function the prover
    # uses); the cache key above is computed independently of it
    base = statement_for(policy, market, threshold, None, plan, cs)
    rule = TrustRule.of(policy, digest=base["policy_digest"])
    return Prepared(key=key, policy=policy, market=market, threshold=threshold, plan=plan, cs=cs,
                    base_statement=base, trust_rule=rule)


def clear() -> None:
    """Forget every prepared verifier of this process."""
    with _lock:
        _cache.clear()


def stats() -> dict:
    """Hits, misses and entries of the in-process cache."""
    with _lock:
        return {**_stats, "entries": len(_cache)}
