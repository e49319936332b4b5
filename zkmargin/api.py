"""The flat public API: check, prove, verify, verify_batch (re-exported from ``zkmargin``).

Inputs are paths, parsed models, dicts or JSON bytes; ``threshold`` is a decimal amount in the
policy's quote currency; ``challenge`` is bytes (the CLI takes hex). Every rejection raises a
precise :class:`~zkmargin.errors.Rejected` subclass; success returns a result object.

``verify`` and ``verify_batch`` enforce the venue's trust rule (the policy's ``trust`` section,
:mod:`zkmargin.documents.trust`) by default: the proof must answer a challenge unless the policy allows
unchallenged proofs, and its committed values must be vouched for by the custodians the policy
lists (or be self-declared where it lists none). The bare cryptographic check is
:func:`_verify_bare`, private: a venue never accepts on it alone.

May import every layer below it: :mod:`zkmargin.rules`, :mod:`zkmargin.crypto`,
:mod:`zkmargin.circuits`, :mod:`zkmargin.prover`, :mod:`zkmargin.verifier.r1cs` and
:mod:`zkmargin.documents`. Used by ``zkmargin/__init__.py`` (the flat API), the workflows, the log,
the audit and the CLI.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .circuits.layouts import plan_margin, witness_values  # per-instrument or K-slot layout
from .circuits.provable import build_checked
from .crypto.backends import get_backend
from .crypto.field import R
from .documents.bundle import ProofBundle
from .documents.bundle import check_challenge as _challenge
from .documents.bundle import load_bundle as _bundle
from .errors import (  # noqa: F401  (MalformedProofError: the API's name for it)
    BelowRequirementError,
    InputError,
    MalformedProofError,
    VerificationError,
)
from .rules.decimals import parse_decimal
from .rules.engine import MarginReport
from .rules.engine import check as _engine_check
from .rules.models import Account, Market, Policy, load_account, load_market, load_policy
from .statement import statement_for  # the public statement a proof is about
from .verification import (  # checking a bundle against a prepared verifier (no models needed)
    PreparedView,
    VerificationResult,
    public_inputs,
)
from .verification import batch_inputs as _batch_inputs
from .verification import check_statement as _check_statement  # noqa: F401
from .verification import decode as _decode  # noqa: F401
from .verification import verified as _verified  # noqa: F401  (the log's verify-and-record uses it)
from .verification import verify_batch_prepared as _verify_batch_prepared
from .verification import verify_prepared as _verify_prepared

# --- inputs --------------------------------------------------------------------------------------


def _policy(policy) -> Policy:
    return load_policy(policy)


def _market(market, policy: Policy) -> Market:
    return load_market(market, policy)


def _threshold(threshold, policy: Policy) -> Decimal:
    t = parse_decimal(threshold, field="threshold", scale=policy.decimals.amount, kind="amount")
    if t < 0:
        raise InputError("the threshold must be >= 0", field="threshold")
    return t


# --- check ---------------------------------------------------------------------------------------


def check(account, market, policy, threshold=0) -> MarginReport:
    """The clear-text margin report (the oracle every proof is checked against)."""
    return _engine_check(account, market, policy, threshold)


# --- prove ---------------------------------------------------------------------------------------


@dataclass
class ProveTimings:
    build: float = 0.0
    prove: float = 0.0


def prove(
    account,
    market,
    policy,
    threshold=0,
    challenge: bytes | None = None,
    *,
    backend=None,
    blindings: Sequence[int] | None = None,
    timings: ProveTimings | None = None,
    zone=None,
    _check_witness: bool = True,
) -> ProofBundle:
    """Prove that ``account`` meets ``policy`` at ``market`` with the threshold and challenge.

    Refuses with :class:`BelowRequirementError` (nothing is produced) when the clear-text engine
    says the account does not meet the requirement. ``blindings`` (one per slot) are for attested
    commitments (:mod:`zkmargin.workflows.custodian`); by default fresh random ones are drawn and forgotten.
    ``_check_witness=False`` is for tests that show the verifier rejects a forced proof.
    ``zone`` (``"exact"``, ``"at-least:NAME"``) proves the account's margin-call zone instead
    (:func:`zkmargin.zone_proofs.prove_zone`)."""
    if zone is not None:
        from .zone_proofs import prove_zone

        return prove_zone(account, market, policy, threshold, challenge, zone=zone, backend=backend,
                          blindings=blindings, timings=timings, _check_witness=_check_witness)
    t0 = time.perf_counter()
    from .prover.progress import report as progress

    progress("reading the documents")
    pol = _policy(policy)
    mkt = _market(market, pol)
    acct = account if isinstance(account, Account) else load_account(account, pol)
    t = _threshold(threshold, pol)
    ch = _challenge(challenge)
    if _check_witness:
        report = _engine_check(acct, mkt, pol, t, with_digests=False)  # the decision only
        if not report.meets:
            raise BelowRequirementError(
                "the account does not meet the requirement (with buffer and threshold); nothing was proved"
            )
    progress("building the circuit")
    plan = plan_margin(pol, mkt, t)
    values = witness_values(plan, acct)
    cs = build_checked(plan, values, pol, mkt, t)
    statement = statement_for(pol, mkt, t, ch, plan, cs)
    if blindings is None:
        blindings = [secrets.randbelow(R - 1) + 1 for _ in values]
    elif len(blindings) != len(values):
        raise InputError(f"{len(values)} slots but {len(blindings)} blindings")
    t1 = time.perf_counter()
    from .prover.r1cs import prove as r1cs_prove

    be = get_backend(backend)
    proof, V = r1cs_prove(cs, blindings, public_inputs(statement), be, check=_check_witness)
    t2 = time.perf_counter()
    if timings is not None:
        timings.build, timings.prove = t1 - t0, t2 - t1
    return ProofBundle(statement=statement, commitments=[be.encode(v) for v in V], proof=proof.to_bytes())


# --- verify --------------------------------------------------------------------------------------


class _Verifier(PreparedView):
    """The verifier's side for one (policy, market, threshold) from its documents: plan and
    circuit built once per process (:mod:`zkmargin.prepared`); checking a bundle against it is
    :class:`~zkmargin.verification.PreparedView`'s."""

    market: Market

    def __init__(self, market, policy, threshold, backend):
        from .prepared import prepare

        pol = _policy(policy)
        mkt = _market(market, pol)
        # plan, circuit, digests, statement, trust rule and compiled weights: built once per
        # (policy, market, threshold) in this process and shared (zkmargin.prepared)
        self.prepared = prepare(pol, mkt, _threshold(threshold, pol))
        self.policy, self.market, self.threshold = pol, mkt, self.prepared.threshold
        self.plan = self.prepared.plan
        self.cs = self.prepared.cs
        self.be = get_backend(backend)
        self._base = self.prepared.base_statement
        self.trust_rule = self.prepared.trust_rule

    def slot_count(self) -> int:
        return len(self.plan.slots)


def verify(bundle, market, policy, threshold=0, challenge: bytes | None = None, *, subject: str | None = None,
           now=None, max_age=None, backend=None, min_zone: str | None = None) -> VerificationResult:
    """Verify one proof bundle against the verifier's own policy, market, threshold and challenge,
    under the policy's trust rule (:mod:`zkmargin.documents.trust`).

    ``subject`` is the account id the venue knows for this trader (required when the policy lists
    custodians: their attestations must name it). ``now`` is the verifier's time (default: the
    system clock) for the attestations' age. ``max_age`` (seconds) may only tighten the policy's
    ``trust.max_age_seconds``. Raises :class:`StatementMismatchError`, :class:`MalformedProofError`,
    :class:`UnchallengedProofError`, :class:`AttestationRejectedError` or
    :class:`VerificationError`; returns a :class:`VerificationResult` whose ``extra["trust"]`` says
    who vouched for the committed values and how old their attestations were, or that they are
    self-declared. A margin-call zone proof (its statement has a ``zone``) is verified as one
    (:func:`zkmargin.zone_proofs.verify_zone`; ``min_zone``: the worst zone the venue accepts)."""
    b = _bundle(bundle)
    if "zone" in b.statement or min_zone is not None:
        from .zone_proofs import verify_zone

        return verify_zone(b, market, policy, threshold, challenge, subject=subject, now=now,
                           max_age=max_age, backend=backend, min_zone=min_zone)
    v = _Verifier(market, policy, threshold, backend)
    return _verify_prepared(v, b, challenge, subject=subject, now=now, max_age=max_age)


def _verify_bare(bundle, market, policy, threshold=0, challenge: bytes | None = None, *,
                 backend=None) -> VerificationResult:
    """The bare cryptographic check: the statement and the proof, no trust rule (no challenge
    requirement, attestations ignored). For auditors checking openings and for tests; never the
    basis of a venue's acceptance."""
    from .verifier.r1cs import verify_batch as r1cs_verify_batch

    t0 = time.perf_counter()
    b = _bundle(bundle)
    v = _Verifier(market, policy, threshold, backend)
    item = v.item(b, _challenge(challenge))
    r1cs_verify_batch([item], backend=v.be)
    return VerificationResult(
        valid=True, statement=b.statement, gates=v.cs.total_gates, proof_bytes=len(b.proof),
        seconds=time.perf_counter() - t0, backend=v.be.name,
    )


def verify_batch(bundles: Sequence[Any], market, policy, threshold=0, challenge=None, *, subject=None, now=None,
                 max_age=None, backend=None, workers: int | None = None) -> VerificationResult:
    """Verify many bundles for the same policy, market and threshold with one MSM, each under the
    policy's trust rule (as :func:`verify`).

    ``challenge`` is None, one bytes value for all, or a sequence with one per bundle; ``subject``
    likewise (None, one string for all, or one per bundle). When the batch fails, the bundles are
    checked one by one and the error names the invalid ones. ``extra["trust"]`` is the list of the
    bundles' trust reports. ``workers``: processes for batches of
    ``verifier.parallel.PARALLEL_MIN`` bundles or more (default: the machine's cores,
    ``$ZKMARGIN_VERIFY_WORKERS``; 1 keeps everything in this process)."""
    t0 = time.perf_counter()
    items_in, challenges = _batch_inputs(bundles, challenge)
    v = _Verifier(market, policy, threshold, backend)
    return _verify_batch_prepared(v, items_in, challenges, subject=subject, now=now, max_age=max_age,
                                  workers=workers, started=t0)
