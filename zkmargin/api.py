"""The flat public API: check, prove, verify, verify_batch (re-exported from ``zkmargin``).

Inputs are paths, parsed models, dicts or JSON bytes; ``threshold`` is a decimal amount in the
policy's quote currency; ``challenge`` is bytes (the CLI takes hex). Every rejection raises a
precise :class:`~zkmargin.errors.Rejected` subclass; success returns a result object.

``verify`` and ``verify_batch`` enforce the venue's trust rule (the policy's ``trust`` section,
:mod:`zkmargin.documents.trust`) by default: the proof must answer a challenge unless the policy allows
unchallenged proofs, and its committed values must be vouched for by the custodians the policy
lists (or be self-declared where it lists none). The bare cryptographic check is
:func:`_verify_bare`, private: a venue never accepts on it alone. The public statement
(``statement_for``, ``public_inputs``, the comparison of a claimed statement with the verifier's)
is :mod:`zkmargin.statement`, imported here.

May import every layer below it: :mod:`zkmargin.rules`, :mod:`zkmargin.crypto`,
:mod:`zkmargin.circuits`, :mod:`zkmargin.prover`, :mod:`zkmargin.verifier.r1cs` and
:mod:`zkmargin.documents`. Used by ``zkmargin/__init__.py`` (the flat API), the workflows, the log,
the audit and the CLI.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .circuits.layouts import plan_margin, witness_values  # per-instrument or K-slot layout
from .circuits.provable import build_checked
from .crypto.backends import get_backend
from .crypto.field import R
from .crypto.proof import R1CSProof
from .documents.bundle import ProofBundle
from .documents.bundle import check_challenge as _challenge
from .documents.bundle import load_bundle as _bundle
from .errors import (
    BelowRequirementError,
    DecodeError,
    InputError,
    MalformedProofError,
    VerificationError,
)
from .rules.decimals import parse_decimal
from .rules.engine import MarginReport
from .rules.engine import check as _engine_check
from .rules.models import Account, Market, Policy, load_account, load_market, load_policy
from .statement import _check_statement, public_inputs, statement_for  # the public statement

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
    pol = _policy(policy)
    mkt = _market(market, pol)
    acct = account if isinstance(account, Account) else load_account(account, pol)
    t = _threshold(threshold, pol)
    ch = _challenge(challenge)
    if _check_witness:
        report = _engine_check(acct, mkt, pol, t)
        if not report.meets:
            raise BelowRequirementError(
                "the account does not meet the requirement (with buffer and threshold); nothing was proved"
            )
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


@dataclass
class VerificationResult:
    """A successful verification (failures raise)."""

    valid: bool
    statement: dict
    gates: int
    proof_bytes: int
    seconds: float
    backend: str
    proofs: int = 1
    extra: dict = field(default_factory=dict)

    def to_json_dict(self) -> dict:
        """The result as JSON, with what a workflow added (``extra``: log entry, custodians)."""
        doc = {
            "valid": self.valid,
            "proofs": self.proofs,
            "gates": self.gates,
            "proof_bytes": self.proof_bytes,
            "seconds": round(self.seconds, 6),
            "backend": self.backend,
            "statement": self.statement,
        }
        for key, value in self.extra.items():
            doc.setdefault(key, value)
        return doc


def _decode(bundle: ProofBundle, be, n_slots: int, index: int | None = None):
    where = "" if index is None else f"bundle {index}: "
    if len(bundle.commitments) != n_slots:
        raise MalformedProofError(f"{where}{len(bundle.commitments)} commitments, the policy's circuit takes {n_slots}")
    try:
        V = [be.decode(c) for c in bundle.commitments]
        proof = R1CSProof.from_bytes(bundle.proof, be)
    except DecodeError as exc:
        raise MalformedProofError(f"{where}{exc.message}") from None
    return proof, V


class _Verifier:
    """The verifier's side for one (policy, market, threshold): plan and circuit built once."""

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

    def expected(self, challenge: bytes | None) -> dict:
        return {**self._base, "challenge": challenge.hex() if challenge is not None else None}

    def item(self, bundle: ProofBundle, challenge: bytes | None, index: int | None = None):
        expected = self.expected(challenge)
        _check_statement(bundle.statement, expected, index)
        proof, V = _decode(bundle, self.be, len(self.plan.slots), index)
        # the transcript binds the verifier's own statement, never the bundle's
        return (self.cs, proof, V, public_inputs(expected))

    def raw_item(self, bundle: ProofBundle, challenge: bytes | None, index: int | None = None):
        """:meth:`item` without decoding: ``(cs, proof bytes, commitment bytes, public inputs)``
        for :func:`zkmargin.verifier.parallel.verify_batch_parallel`, which decodes in its
        workers (strictly, as :func:`_decode`)."""
        expected = self.expected(challenge)
        _check_statement(bundle.statement, expected, index)
        where = "" if index is None else f"bundle {index}: "
        if len(bundle.commitments) != len(self.plan.slots):
            raise MalformedProofError(
                f"{where}{len(bundle.commitments)} commitments, the policy's circuit takes {len(self.plan.slots)}")
        return (self.cs, bytes(bundle.proof), list(bundle.commitments), public_inputs(expected))


def _verified(v: _Verifier, b: ProofBundle, ch: bytes | None, rule, subject: str | None, now,
              index: int | None = None):
    """One bundle through the whole rule: the statement against the verifier's own, the
    challenge rule, the trust rule, then the proof (the cheap checks first). Returns the
    verification item (for one MSM with others) and the trust report."""
    from .documents.trust import enforce

    item = v.item(b, ch, index)
    where = "" if index is None else f"bundle {index}: "
    report = enforce(rule, b, v.market, ch, subject=subject, now=now, backend=v.be, where=where)
    return item, report


def _verify_prepared(v: _Verifier, bundle, challenge: bytes | None, *, subject: str | None = None,
                     now=None, max_age=None) -> VerificationResult:
    """:func:`verify` with a prepared verifier (plan and circuit built once per policy, market
    and threshold)."""
    from .documents.trust import parse_now, require_subject
    from .verifier.r1cs import verify_batch as r1cs_verify_batch

    t0 = time.perf_counter()
    rule = v.trust_rule.tightened(max_age)
    subject = require_subject(rule, subject)
    clock = parse_now(now)
    ch = _challenge(challenge)
    b = _bundle(bundle)
    item, report = _verified(v, b, ch, rule, subject, clock)
    r1cs_verify_batch([item], backend=v.be)
    return VerificationResult(
        valid=True, statement=b.statement, gates=v.cs.total_gates, proof_bytes=len(b.proof),
        seconds=time.perf_counter() - t0, backend=v.be.name, extra={"trust": report},
    )


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
    from .documents.trust import check_subjects, parse_now, subjects_for
    from .verifier.parallel import PARALLEL_MIN, default_workers, verify_batch_parallel
    from .verifier.r1cs import verify_batch as r1cs_verify_batch

    t0 = time.perf_counter()
    items_in = [_bundle(b) for b in bundles]
    if not items_in:
        raise InputError("no proofs to verify")
    if challenge is None or isinstance(challenge, (bytes, bytearray)):
        challenges = [_challenge(challenge)] * len(items_in)
    else:
        challenges = [_challenge(c) for c in challenge]
        if len(challenges) != len(items_in):
            raise InputError(f"{len(items_in)} bundles but {len(challenges)} challenges", field="challenge")
    v = _Verifier(market, policy, threshold, backend)
    rule = v.trust_rule.tightened(max_age)
    subjects = check_subjects(rule, subjects_for(subject, len(items_in)))
    clock = parse_now(now)
    if workers is None:
        workers = default_workers()
    if workers > 1 and len(items_in) >= PARALLEL_MIN:
        # large batches: decoding and per-proof terms in forked workers, one MSM
        from .documents.trust import enforce

        raw, reports = [], []
        for i, (b, c, s) in enumerate(zip(items_in, challenges, subjects)):
            raw.append(v.raw_item(b, c, i))
            reports.append(enforce(rule, b, v.market, c, subject=s, now=clock, backend=v.be,
                                   where=f"bundle {i}: "))
        try:
            verify_batch_parallel(raw, backend=v.be, workers=workers)
        except VerificationError:
            checked = [(v.item(b, c, i), r) for i, (b, c, r) in enumerate(zip(items_in, challenges, reports))]
        else:
            return VerificationResult(
                valid=True, statement=items_in[0].statement, gates=v.cs.total_gates,
                proof_bytes=sum(len(b.proof) for b in items_in), seconds=time.perf_counter() - t0,
                backend=v.be.name, proofs=len(items_in), extra={"trust": reports},
            )
    else:
        checked = [_verified(v, b, c, rule, s, clock, i)
                   for i, (b, c, s) in enumerate(zip(items_in, challenges, subjects))]
    items = [item for item, _report in checked]
    try:
        r1cs_verify_batch(items, backend=v.be)
    except VerificationError:
        bad = []
        for i, item in enumerate(items):
            try:
                r1cs_verify_batch([item], backend=v.be)
            except VerificationError:
                bad.append(i)
        raise VerificationError(f"the batch does not verify: invalid bundle(s) {bad}") from None
    return VerificationResult(
        valid=True, statement=items_in[0].statement, gates=v.cs.total_gates,
        proof_bytes=sum(len(b.proof) for b in items_in), seconds=time.perf_counter() - t0,
        backend=v.be.name, proofs=len(items_in), extra={"trust": [r for _item, r in checked]},
    )
