"""Verifying bundles against a prepared verifier, without the documents' models.

Once a verifier is prepared for one (policy, market, threshold) — the statement every proof must
carry, the circuit (or its compiled form), the trust rule and the market's time — checking a
bundle needs none of the policy's or market's parsed models: the statement is compared with the
verifier's own, the bundle is decoded strictly, the trust rule is applied, and the proof goes into
one multi-scalar multiplication. This module holds that part, shared by the API's prepared
verifier (``api._Verifier``, built from parsed documents) and the prepared verifier the command
line reads from its disk cache (:mod:`zkmargin.prepared_store`), which thereby never imports
pydantic, the margin engine or the circuits' rule modules.

:class:`PreparedView` is the verifier's side (``expected``, ``item``, ``raw_item``);
:func:`verify_prepared` runs one bundle through the whole rule, :func:`verify_batch_prepared` a
batch (one MSM, or forked workers for large ones; one by one to name the culprits);
:class:`VerificationResult` is what a successful verification returns (re-exported as
``zkmargin.VerificationResult``).

May import :mod:`zkmargin.errors`, :mod:`zkmargin.crypto`, :mod:`zkmargin.documents` and
:mod:`zkmargin.verifier.r1cs` (no models, no circuits' rules). Used by :mod:`zkmargin.api`
(which re-exports these names under their old spellings) and :mod:`zkmargin.prepared_store`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .crypto.proof import R1CSProof
from .crypto.r1cs_transcript import OLD_PROTOCOLS, PROTOCOL
from .documents.bundle import ProofBundle, canonical_statement_bytes, check_challenge, load_bundle
from .errors import (
    DecodeError,
    InputError,
    MalformedProofError,
    StatementMismatchError,
    VerificationError,
)

if TYPE_CHECKING:
    from .crypto.backends.base import GroupBackend
    from .documents.trust import MarketTime, TrustRule


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


def public_inputs(statement: dict) -> list[tuple[bytes, bytes]]:
    """What the transcript binds besides the circuit: the canonical statement."""
    return [(b"statement", canonical_statement_bytes(statement))]


_MISMATCH = {
    "protocol": "the proof uses another protocol version",
    "policy_digest": "the proof is for another policy",
    "market_digest": "the proof is for another market snapshot",
    "threshold": "the proof is for another threshold",
    "challenge": "the proof answers another challenge",
    "circuit_digest": "the proof is for another circuit",
}


def check_statement(claimed: dict, expected: dict, index: int | None = None) -> None:
    """The bundle's statement must be exactly the verifier's own (the named keys first, with a
    message saying which)."""
    where = "" if index is None else f"bundle {index}: "
    if claimed.get("protocol") in {p.decode() for p in OLD_PROTOCOLS}:
        raise StatementMismatchError(
            f"{where}the proof was made by an older zkmargin ({claimed['protocol']}); this version verifies "
            f"{PROTOCOL.decode()} proofs only: prove again"
        )
    for key in ("protocol", "policy_digest", "market_digest", "threshold", "challenge", "circuit_digest"):
        if claimed.get(key) != expected[key]:
            raise StatementMismatchError(f"{where}{_MISMATCH[key]} ({key} differs)")
    for key, value in expected.items():
        if claimed.get(key) != value:
            raise StatementMismatchError(f"{where}the statement's {key!r} differs from the verifier's")
    for key in set(claimed) - set(expected):
        raise StatementMismatchError(f"{where}the statement claims {key!r}, which this verification does not ask about")


def decode(bundle: ProofBundle, be: GroupBackend, n_slots: int, index: int | None = None) -> tuple[R1CSProof, list]:
    """The bundle's proof and commitments, decoded strictly (a :class:`MalformedProofError`),
    except that no point is tested for membership of the prime-order subgroup: the verifier's
    check is cofactored (docs/notes/protocol.md, "Points outside the subgroup")."""
    where = "" if index is None else f"bundle {index}: "
    if len(bundle.commitments) != n_slots:
        raise MalformedProofError(f"{where}{len(bundle.commitments)} commitments, the policy's circuit takes {n_slots}")
    try:
        V = []
        for k, c in enumerate(bundle.commitments):
            try:
                V.append(be.decode(c, subgroup=False))
            except DecodeError as exc:
                raise DecodeError(f"commitment {k}: {exc.message.removeprefix('point: ')}") from None
        proof = R1CSProof.from_bytes(bundle.proof, be)
    except DecodeError as exc:
        raise MalformedProofError(f"{where}{exc.message}") from None
    return proof, V


def parse(bundle: ProofBundle, n_slots: int) -> tuple[R1CSProof[bytes], list[bytes]]:
    """The bundle's proof and commitments checked as far as they can be without curve
    arithmetic (:meth:`R1CSProof.parse`, :func:`~zkmargin.crypto.backends.base.encoding_x`; a
    :class:`MalformedProofError`): what is left is whether each point is on the curve, which
    :func:`~zkmargin.verifier.r1cs.verify_encoded` decides before it accepts anything."""
    from .crypto.backends.base import encoding_x

    if len(bundle.commitments) != n_slots:
        raise MalformedProofError(f"{len(bundle.commitments)} commitments, the policy's circuit takes {n_slots}")
    try:
        for k, c in enumerate(bundle.commitments):
            try:
                encoding_x(c)
            except DecodeError as exc:
                raise DecodeError(f"commitment {k}: {exc.message.removeprefix('point: ')}") from None
        proof = R1CSProof.parse(bundle.proof)
    except DecodeError as exc:
        raise MalformedProofError(exc.message) from None
    return proof, [bytes(c) for c in bundle.commitments]


class PreparedView:
    """The verifier's side for one (policy, market, threshold), whatever prepared it.

    Subclasses set ``cs`` (the verifier's phase-1 circuit, or a
    :class:`~zkmargin.verifier.compiled.CompiledCircuit`), ``be`` (the backend), ``_base`` (the
    statement every proof must carry, its challenge aside), ``trust_rule`` and ``market`` (what the
    trust rule reads of the snapshot: its ``as_of``)."""

    cs: Any
    be: GroupBackend
    _base: dict
    trust_rule: TrustRule
    market: MarketTime

    def slot_count(self) -> int:
        return len(self._base["slots"])

    def expected(self, challenge: bytes | None) -> dict:
        return {**self._base, "challenge": challenge.hex() if challenge is not None else None}

    def item(self, bundle: ProofBundle, challenge: bytes | None, index: int | None = None) -> tuple:
        expected = self.expected(challenge)
        check_statement(bundle.statement, expected, index)
        proof, V = decode(bundle, self.be, self.slot_count(), index)
        # the transcript binds the verifier's own statement, never the bundle's
        return (self.cs, proof, V, public_inputs(expected))

    def parsed_item(self, bundle: ProofBundle, challenge: bytes | None) -> tuple:
        """:meth:`item` with the points left as their encodings, checked by :func:`parse` (for
        :func:`~zkmargin.verifier.r1cs.verify_encoded`, which decompresses them beside its MSM)."""
        expected = self.expected(challenge)
        check_statement(bundle.statement, expected)
        proof, V = parse(bundle, self.slot_count())
        return (self.cs, proof, V, public_inputs(expected))

    def raw_item(self, bundle: ProofBundle, challenge: bytes | None, index: int | None = None) -> tuple:
        """:meth:`item` without decoding: ``(cs, proof bytes, commitment bytes, public inputs)``
        for :func:`zkmargin.verifier.parallel.verify_batch_parallel`, which decodes in its
        workers (strictly, as :func:`decode`)."""
        expected = self.expected(challenge)
        check_statement(bundle.statement, expected, index)
        where = "" if index is None else f"bundle {index}: "
        slots = self.slot_count()
        if len(bundle.commitments) != slots:
            raise MalformedProofError(
                f"{where}{len(bundle.commitments)} commitments, the policy's circuit takes {slots}")
        return (self.cs, bytes(bundle.proof), list(bundle.commitments), public_inputs(expected))


def verified(v: PreparedView, b: ProofBundle, ch: bytes | None, rule: TrustRule, subject: str | None, now: Any,
             index: int | None = None) -> tuple[tuple, dict]:
    """One bundle through the whole rule: the statement against the verifier's own, the
    challenge rule, the trust rule, then the proof (the cheap checks first). Returns the
    verification item (for one MSM with others) and the trust report."""
    from .documents.trust import enforce

    item = v.item(b, ch, index)
    where = "" if index is None else f"bundle {index}: "
    report = enforce(rule, b, v.market, ch, subject=subject, now=now, backend=v.be, where=where)
    return item, report


def verify_prepared(v: PreparedView, bundle: Any, challenge: bytes | None, *, subject: str | None = None,
                    now: Any = None, max_age: Any = None) -> VerificationResult:
    """:func:`zkmargin.verify` with a prepared verifier (plan and circuit built once per policy,
    market and threshold)."""
    from .documents.trust import enforce, parse_now, require_subject
    from .verifier.r1cs import verify_encoded

    t0 = time.perf_counter()
    rule = v.trust_rule.tightened(max_age)
    subject = require_subject(rule, subject)
    clock = parse_now(now)
    ch = check_challenge(challenge)
    b = load_bundle(bundle)
    # the cheap checks first: the statement, the encodings, the challenge and trust rules
    cs, proof, V, public = v.parsed_item(b, ch)
    report = enforce(rule, b, v.market, ch, subject=subject, now=clock, backend=v.be, where="")
    try:
        verify_encoded(cs, proof, V, public, backend=v.be)
    except DecodeError as exc:  # a point off the curve
        raise MalformedProofError(exc.message) from None
    return VerificationResult(
        valid=True, statement=b.statement, gates=v.cs.total_gates, proof_bytes=len(b.proof),
        seconds=time.perf_counter() - t0, backend=v.be.name, extra={"trust": report},
    )


def batch_inputs(bundles: Sequence[Any], challenge: Any) -> tuple[list[ProofBundle], list[bytes | None]]:
    """The bundles of a batch, parsed, and one challenge per bundle (``challenge``: None, one
    bytes value for all, or one per bundle)."""
    items_in = [load_bundle(b) for b in bundles]
    if not items_in:
        raise InputError("no proofs to verify")
    if challenge is None or isinstance(challenge, (bytes, bytearray)):
        challenges = [check_challenge(challenge)] * len(items_in)
    else:
        challenges = [check_challenge(c) for c in challenge]
        if len(challenges) != len(items_in):
            raise InputError(f"{len(items_in)} bundles but {len(challenges)} challenges", field="challenge")
    return items_in, challenges


def verify_batch_prepared(v: PreparedView, items_in: list[ProofBundle], challenges: list[bytes | None], *,
                          subject: Any = None, now: Any = None, max_age: Any = None, workers: int | None = None,
                          started: float | None = None) -> VerificationResult:
    """:func:`zkmargin.verify_batch` with a prepared verifier, for bundles and challenges from
    :func:`batch_inputs`."""
    from .documents.trust import check_subjects, enforce, parse_now, subjects_for
    from .verifier.parallel import PARALLEL_MIN, default_workers, verify_batch_parallel
    from .verifier.r1cs import verify_batch as r1cs_verify_batch

    t0 = time.perf_counter() if started is None else started
    rule = v.trust_rule.tightened(max_age)
    subjects = check_subjects(rule, subjects_for(subject, len(items_in)))
    clock = parse_now(now)
    if workers is None:
        workers = default_workers()
    if workers > 1 and len(items_in) >= PARALLEL_MIN:
        # large batches: decoding and per-proof terms in forked workers, one MSM
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
        checked = [verified(v, b, c, rule, s, clock, i)
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
