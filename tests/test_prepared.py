"""The prepared verifier and the fast per-proof terms (issue 12).

* the compiled weights flatten to exactly ``ConstraintSystem.flatten``'s vectors, in the reference
  int ops and in the native backend's scalars (twin: another z gives other vectors);
* the prepared (cached) verifier decides exactly as a cold one: a valid proof is accepted, a
  forced proof of an account one unit short is rejected, a proof for another threshold is refused,
  through the cache (hit) and after clearing it (miss);
* the batch split across forked workers accepts a batch of distinct proofs and names a forced one
  (twin of each other).
"""

from __future__ import annotations

import os
import secrets
from decimal import Decimal

import pytest

import zkmargin.prepared as prepared
from zkmargin import load_market, load_policy, prove, verify, verify_batch
from zkmargin.api import _Verifier
from zkmargin.circuits.layouts import build, plan_margin
from zkmargin.crypto.backends import get_backend
from zkmargin.crypto.field import R
from zkmargin.crypto.scalar_ops import INT_OPS
from zkmargin.errors import StatementMismatchError, VerificationError
from zkmargin.verifier.compiled import CompiledWeights
from zkmargin.verifier.parallel import PARALLEL_MIN
from zkmargin.workflows.bench import cross_workload

N_INSTRUMENTS = 3


@pytest.fixture(scope="module")
def docs():
    policy, market, account = cross_workload(N_INSTRUMENTS)
    pol = load_policy(policy)
    from zkmargin import load_account

    return pol, load_market(market, pol), load_account(account, pol)


def _thresholds(docs) -> tuple[str, str]:
    """(met, one unit short): the largest threshold the account meets (its excess) and one unit
    (1e-8 of the quote currency) more."""
    pol, mkt, acct = docs
    from zkmargin import check

    excess = check(acct, mkt, pol).excess
    met, short = str(excess), str(excess + Decimal("0.00000001"))
    assert check(acct, mkt, pol, met).meets and not check(acct, mkt, pol, short).meets
    return met, short


@pytest.mark.parametrize("ops_name", ["int", "native"])
def test_compiled_flatten_equals_constraint_system_flatten(docs, ops_name):
    pol, mkt, _ = docs
    cs = build(plan_margin(pol, mkt, Decimal(0)))
    ops = INT_OPS if ops_name == "int" else get_backend("arkworks").scalar_ops
    comp = CompiledWeights.of_system(cs)
    n = cs.padded_n()
    z = secrets.randbelow(R - 1) + 1
    got = comp.flatten(ops, comp.z_powers(ops, z, z))
    want = cs.flatten(z, n)
    for g, w in zip(got[:3], want[:3]):
        assert ops.to_ints(g) + [0] * (n - cs.n) == w
    assert ops.to_ints(got[3]) == want[3]
    assert got[4] == want[4]
    # twin: another z gives other vectors (the comparison above can fail)
    z2 = (z + 1) % R
    assert cs.flatten(z2, n)[0] != want[0]


def test_prepared_verifier_decides_like_a_cold_one(docs):
    pol, mkt, acct = docs
    met, short = _thresholds(docs)
    ch = secrets.token_bytes(32)
    good = prove(acct, mkt, pol, met, ch)
    forced = prove(acct, mkt, pol, short, ch, _check_witness=False)  # one unit short
    for state in ("cold", "cached"):
        if state == "cold":
            prepared.clear()
        before = prepared.stats()
        assert verify(good, mkt, pol, met, ch).valid
        with pytest.raises(VerificationError):
            verify(forced, mkt, pol, short, ch)
        with pytest.raises(StatementMismatchError):
            verify(good, mkt, pol, short, ch)
        after = prepared.stats()
        if state == "cold":
            assert after["misses"] == before["misses"] + 2  # two thresholds, two circuits
        else:
            assert after["misses"] == before["misses"] and after["hits"] >= before["hits"] + 3
    # the cache hands out one object per key
    assert _Verifier(mkt, pol, met, None).prepared is _Verifier(mkt, pol, met + "0", None).prepared


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_batch_across_workers_accepts_distinct_proofs_and_names_a_forced_one(docs):
    pol, mkt, acct = docs
    met, short = _thresholds(docs)
    count = PARALLEL_MIN
    chs = [secrets.token_bytes(32) for _ in range(count)]
    bundles = [prove(acct, mkt, pol, met, c) for c in chs]
    result = verify_batch(bundles, mkt, pol, met, chs, workers=2)
    assert result.valid and result.proofs == count
    # a proof of the account one unit short, its statement presented as the threshold met
    forced = prove(acct, mkt, pol, short, chs[5], _check_witness=False).to_json_dict()
    forced["statement"] = bundles[5].statement
    bundles[5] = forced
    with pytest.raises(VerificationError, match=r"invalid bundle\(s\) \[5\]"):
        verify_batch(bundles, mkt, pol, met, chs, workers=2)
