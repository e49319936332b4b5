"""The venue's trust rule: who may vouch for a proof's committed values, for whom, and how fresh.

A proof shows that its *committed* values meet the policy. The policy's ``trust`` section
(:class:`zkmargin.rules.models.Trust`, ``docs/notes/trust.md``) says what else a venue needs before it
believes those values are the trader's real, current book:

* ``custodians``: the Ed25519 keys whose attestations (``zkmargin.attestation/2``, carried in the
  bundle) the venue accepts. With none listed, values are *self-declared* and reported as such;
  with some listed, a bundle without attestations is refused.
* ``attest``: the slot kinds (size, cost, entry, isolated, balance) every accepted proof must
  have attested; every slot an attestation covers must equal the sum of the attested
  commitments, whatever its kind.
* ``max_age_seconds``: an attestation's ``as_of`` is at most this old by the verifier's clock,
  at most :data:`MAX_CLOCK_SKEW_SECONDS` in its future, and at most this far from the market
  snapshot's ``as_of``.
* ``unchallenged``: whether proofs that answer no challenge are acceptable (default: no).
* ``attestation_challenge``: whether every attestation must carry the venue's challenge for this
  proof (the custodian signs per request, so freshness is exact).

Every attestation must also be signed by its custodian, name the policy's venue (``audience``),
the account the venue knows (``subject``) and the policy's digest; each custodian appears at most
once; an attestation that carries a challenge carries this proof's.

:func:`enforce` applies the rule to one bundle whose statement the verifier already checked and
returns the *trust report* (JSON-able)::

    {"self_declared": bool, "subject": str | None, "challenge": hex | None,
     "custodians": [{"name", "key", "as_of", "age_seconds", "challenge_bound", "slots"}],
     "unattested_slots": [slot names no attestation covers]}

:func:`zkmargin.verify` calls it by default; :func:`recheck_accepted` is what an audit runs for a
logged acceptance, at the entry's logged time. Failures are
:class:`~zkmargin.errors.AttestationRejectedError` (a stale, foreign or forged attestation: exit 1)
or :class:`~zkmargin.errors.InputError` (the verifier's own arguments: exit 2).

May import :mod:`zkmargin.errors`, :mod:`zkmargin.crypto` (group backends), :mod:`zkmargin.rules`
(the policy's models and digest) and the documents beside it (bundle, attestation). Used by the
API (``verify`` and ``verify_batch`` enforce the rule), the log's verify-and-record, the audit,
the service and the CLI's descriptions of a result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from ..crypto.backends import GroupBackend, get_backend
from ..errors import AttestationRejectedError, InputError, UnchallengedProofError, ZkMarginError
from .attestation import SignedCommitments, parse_as_of, slot_coverage
from .bundle import ProofBundle, check_challenge, load_bundle

if TYPE_CHECKING:  # the document models load only where a policy is parsed (TrustRule.of, check_trust)
    from ..rules.models import DocumentSource, Market, Policy

#: The trust report (JSON-able; see the module docstring).
TrustReport = dict[str, Any]
BackendChoice = str | GroupBackend | None


class MarketTime(Protocol):
    """What the rule reads of a market snapshot: its time (a :class:`~zkmargin.rules.models.Market`,
    or the prepared verifier's record of it)."""

    @property
    def as_of(self) -> str: ...

#: How far in the verifier's future an attestation's ``as_of`` may lie (clocks differ a little).
MAX_CLOCK_SKEW_SECONDS = 60

__all__ = ["MAX_CLOCK_SKEW_SECONDS", "TrustRule", "check_max_age", "parse_now", "require_challenge",
           "require_subject", "enforce", "check_trust", "recheck_accepted", "describe"]


@dataclass(frozen=True)
class TrustRule:
    """The policy's trust section resolved for one verification (``max_age`` maybe tightened)."""

    venue: str
    policy_digest: str
    mode: str
    custodians: dict[str, str]  # key hex -> name, in the policy's order
    kinds: tuple[str, ...]
    max_age: float | None
    self_declared: bool
    unchallenged: bool
    attestation_challenge: bool

    @classmethod
    def of(cls, policy: Policy, *, max_age: object = None, digest: str | None = None) -> TrustRule:
        """The rule of a loaded policy (``digest``: its digest, when the caller has it already)."""
        from ..rules.digests import policy_digest

        t = policy.trust_rule
        listed = {c.key: c.name for c in t.custodians}
        rule = cls(
            venue=policy.venue, policy_digest=digest or policy_digest(policy), mode=policy.mode, custodians=listed,
            kinds=tuple(t.attest or ()), max_age=float(t.max_age_seconds) if listed and t.max_age_seconds is not None else None,
            self_declared=not listed, unchallenged=bool(t.unchallenged),
            attestation_challenge=bool(t.attestation_challenge),
        )
        return rule.tightened(max_age)

    def tightened(self, max_age: object) -> TrustRule:
        """This rule with a smaller maximum age; a larger one is an input error (a flag may only
        tighten the policy's rule)."""
        limit = check_max_age(max_age)
        if limit is None:
            return self
        if not self.custodians:
            raise InputError("the policy lists no custodians, so there is no attestation age to tighten",
                             field="max_age")
        if self.max_age is not None and limit > self.max_age:
            raise InputError(f"{limit:g} s is more than the policy's trust.max_age_seconds "
                             f"({self.max_age:g} s); a verifier may only tighten it", field="max_age")
        return replace(self, max_age=limit)


def check_max_age(value: object) -> float | None:
    """``None`` or a positive, finite number of seconds (NaN, infinities, zero, negatives and
    booleans are input errors: none of them may switch the age check off)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError("the maximum age is a number of seconds", field="max_age")
    v = float(value)
    if math.isnan(v) or math.isinf(v) or v <= 0:
        raise InputError(f"the maximum age must be a positive, finite number of seconds, not {value!r}",
                         field="max_age")
    return v


def parse_now(now: object) -> datetime:
    """The verifier's clock: ``None`` (the system clock), an aware datetime or an ISO 8601 string
    with a time zone."""
    if now is None:
        return datetime.now(UTC)
    if isinstance(now, str):
        try:
            now = datetime.fromisoformat(now)
        except ValueError:
            raise InputError(f"{now!r} is not an ISO 8601 timestamp", field="now") from None
    if not isinstance(now, datetime):
        raise InputError("the verifier's time is a datetime or an ISO 8601 string", field="now")
    if now.tzinfo is None:
        raise InputError("the verifier's time needs a time zone", field="now")
    return now.astimezone(UTC)


def require_challenge(rule: TrustRule, challenge: bytes | None, where: str = "") -> None:
    """A proof without a challenge could be an old proof replayed; refused unless the policy says
    ``trust.unchallenged: true``."""
    if challenge is None and not rule.unchallenged:
        raise UnchallengedProofError(
            f"{where}the proof answers no challenge; this venue's policy refuses unchallenged proofs "
            "(issue a challenge with 'zkmargin challenge' and have the trader prove against it)")


def require_subject(rule: TrustRule, subject: object, field: str = "subject") -> str | None:
    """The account id the venue knows: required (input error) when the policy lists custodians."""
    if subject is not None and (not isinstance(subject, str) or not subject.strip()):
        raise InputError("the subject is the account id the venue knows (a non-empty string)", field=field)
    if subject is None and rule.custodians:
        raise InputError("this venue's policy lists custodians: name the account the proof is for "
                         "(the subject its attestations must name)", field=field)
    return subject


def _coverage_and_sums(rule: TrustRule, bundle: ProofBundle, atts: list[SignedCommitments], be: GroupBackend,
                       where: str) -> list[str]:
    """Every slot of a required kind is attested; every attested slot's proof commitment is the
    sum of the attested ones. Returns the slots no attestation covers."""
    names = list(bundle.statement.get("slots") or [])
    if len(names) != len(bundle.commitments):
        raise AttestationRejectedError(f"{where}the bundle's slots and commitments differ in number")
    required = {s for s in names if s.partition(":")[0] in rule.kinds}
    cover = slot_coverage(names, atts, rule.mode, AttestationRejectedError, required=required, where=where)
    attested = [dict(zip(a.slots, a.commitments)) for a in atts]
    for s, V in zip(names, bundle.commitments):
        ks = cover[s]
        if not ks:
            continue
        if len(ks) == 1:  # one custodian: the same encoding
            if attested[ks[0]][s] != V:
                raise AttestationRejectedError(f"{where}the proof's commitment for slot {s!r} is not the attested one")
            continue
        total = None
        for k in ks:
            try:
                P = be.decode(attested[k][s])
            except ZkMarginError:
                raise AttestationRejectedError(
                    f"{where}attestation {k}: the commitment for {s!r} does not decode") from None
            total = P if total is None else be.add(total, P)
        if be.encode(total) != V:
            raise AttestationRejectedError(f"{where}the proof's commitment for slot {s!r} is not the sum of the "
                                           "attested ones")
    return [s for s in names if not cover[s]]


def enforce(rule: TrustRule, bundle: ProofBundle, market: MarketTime, challenge: bytes | None, *,
            subject: str | None, now: datetime, backend: BackendChoice = None, where: str = "",
            subject_from_attestations: bool = False) -> TrustReport:
    """Apply ``rule`` to ``bundle`` (its statement already checked against the verifier's own)
    at the verifier's time ``now``; return the trust report or raise
    :class:`AttestationRejectedError`. ``subject_from_attestations`` (audits of logs that did not
    record the subject) accepts the one subject every attestation names."""
    require_challenge(rule, challenge, where)
    atts = list(bundle.attestations or [])
    report = {"self_declared": not atts, "subject": None,
              "challenge": challenge.hex() if challenge is not None else None,
              "custodians": [], "unattested_slots": list(bundle.statement.get("slots") or [])}
    if not atts:
        if not rule.self_declared:
            raise AttestationRejectedError(
                f"{where}self-declared values: the bundle carries no attestation, and this venue's policy "
                "accepts only values its custodians attested")
        return report
    if not rule.custodians:
        raise AttestationRejectedError(
            f"{where}attestation 0 is signed by a custodian this venue's policy does not list (it lists "
            f"none; key {atts[0].custodian[:16]}…)")
    max_age = rule.max_age
    assert max_age is not None  # a policy that lists custodians has trust.max_age_seconds (validated)
    if subject is None and not subject_from_attestations:
        raise InputError("name the account the proof is for (the subject its attestations must name)",
                         field="subject")
    if subject is None:
        subjects = {a.subject for a in atts}
        if len(subjects) != 1:
            raise AttestationRejectedError(f"{where}the attestations name different accounts (subjects)")
        subject = subjects.pop()
    ch_hex = challenge.hex() if challenge is not None else None
    market_t = parse_as_of(market.as_of, "as_of", None)  # validated when the snapshot was loaded
    seen: dict[str, int] = {}
    vouched = []
    for k, a in enumerate(atts):
        name = rule.custodians.get(a.custodian)
        if name is None:
            raise AttestationRejectedError(
                f"{where}attestation {k} is signed by a custodian this venue's policy does not list "
                f"(key {a.custodian[:16]}…)")
        if a.custodian in seen:
            raise AttestationRejectedError(f"{where}custodian {name!r} attested twice (attestations "
                                           f"{seen[a.custodian]} and {k})")
        seen[a.custodian] = k
        if not a.signature_valid():
            raise AttestationRejectedError(f"{where}attestation {k} ({name}): the custodian signature does not verify")
        if a.audience != rule.venue:
            raise AttestationRejectedError(f"{where}attestation {k} ({name}) is addressed to another venue, "
                                           f"not to {rule.venue!r}")
        if a.policy_digest != rule.policy_digest:
            raise AttestationRejectedError(f"{where}attestation {k} ({name}) is for another policy")
        if a.subject != subject:
            raise AttestationRejectedError(f"{where}attestation {k} ({name}) is for another account (subject), "
                                           "not the one this proof is for")
        if a.challenge is not None and a.challenge != ch_hex:
            raise AttestationRejectedError(f"{where}attestation {k} ({name}) was made for another challenge "
                                           "than the one this proof answers")
        if a.challenge is None and rule.attestation_challenge:
            raise AttestationRejectedError(
                f"{where}attestation {k} ({name}) carries no challenge; this venue's policy requires every "
                "attestation to be made for its challenge")
        t = parse_as_of(a.as_of, "as_of", None)
        age = (now - t).total_seconds()
        if age > max_age:
            raise AttestationRejectedError(
                f"{where}attestation {k} ({name}) is stale: made {age:.0f} s before the verifier's time, "
                f"the limit is {max_age:g} s")
        if -age > MAX_CLOCK_SKEW_SECONDS:
            raise AttestationRejectedError(
                f"{where}attestation {k} ({name}) is dated {-age:.0f} s in the verifier's future "
                f"(allowed clock skew {MAX_CLOCK_SKEW_SECONDS} s)")
        apart = abs((t - market_t).total_seconds())
        if apart > max_age:
            raise AttestationRejectedError(
                f"{where}attestation {k} ({name}) is {apart:.0f} s away from the market snapshot's time "
                f"({market.as_of}), the limit is {max_age:g} s")
        vouched.append({"name": name, "key": a.custodian, "as_of": a.as_of, "age_seconds": round(age, 3),
                        "challenge_bound": a.challenge is not None, "slots": len(a.slots)})
    unattested = _coverage_and_sums(rule, bundle, atts, get_backend(backend), where)
    report.update(subject=subject, custodians=vouched, unattested_slots=unattested)
    return report


def check_trust(bundle: object, market: Market | DocumentSource, policy: Policy | DocumentSource,
                challenge: bytes | None = None, *,
                subject: str | None = None, now: object = None, max_age: object = None,
                backend: BackendChoice = None) -> TrustReport:
    """The trust rule of ``policy`` on one bundle, on its own (no proof verification, no
    statement check): the trust report, or :class:`AttestationRejectedError`."""
    from ..rules.models import load_market, load_policy

    pol = load_policy(policy)
    mkt = load_market(market, pol)
    rule = TrustRule.of(pol, max_age=max_age)
    subject = require_subject(rule, subject)
    return enforce(rule, load_bundle(bundle), mkt, check_challenge(challenge), subject=subject,
                   now=parse_now(now), backend=backend)


def recheck_accepted(bundle: object, policy: Policy, market: Market, challenge: bytes | None, logged_time: str,
                     *, subject: str | None = None, backend: BackendChoice = None,
                     rule: TrustRule | None = None) -> TrustReport:
    """What an audit runs for an accepted log entry: the policy's trust rule (the stored policy,
    its own ``max_age_seconds``) at the entry's logged time. Without a logged ``subject`` the
    attestations must all name one subject. Raises :class:`AttestationRejectedError` when the
    entry should not have been accepted (e.g. self-declared values under a policy with
    custodians, a stale or foreign attestation, no challenge). ``rule``: the policy's rule when the
    caller prepared it (``api._Verifier.trust_rule``)."""
    rule = rule or TrustRule.of(policy)
    return enforce(rule, load_bundle(bundle), market, challenge, subject=subject, now=parse_now(logged_time),
                   backend=backend, subject_from_attestations=subject is None)


def _age(seconds: float) -> str:
    s = abs(seconds)
    text = f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.1f} h"
    return f"{text} old" if seconds >= 0 else f"{text} ahead of the verifier's clock"


def describe(report: TrustReport | None) -> str:
    """The trust report in words: who vouched and how old their attestation was, or
    "self-declared values"."""
    if not report:
        return "-"
    ch = report.get("challenge")
    chal = f"answers challenge {ch[:16]}…" if ch else "answers no challenge (the policy allows it)"
    if report.get("self_declared"):
        return f"self-declared values (no custodian vouched for them); {chal}"
    parts = []
    for c in report.get("custodians", []):
        bound = ", made for this challenge" if c.get("challenge_bound") else ""
        parts.append(f"{c['name']} (key {c['key'][:16]}…, as of {c['as_of']}, {_age(c['age_seconds'])}{bound})")
    text = f"vouched for by {' and '.join(parts)} for account {report.get('subject')!r}; {chal}"
    left = report.get("unattested_slots") or []
    if left:
        text += f"; self-declared slots (kinds the policy does not require attested): {', '.join(left)}"
    return text


def subjects_for(subject: str | None | Sequence[str | None], n: int) -> list[str | None]:
    """One subject per bundle of a batch from ``None``, one string for all, or a sequence."""
    if subject is None or isinstance(subject, str):
        return [subject] * n
    out = list(subject)
    if len(out) != n:
        raise InputError(f"{n} bundles but {len(out)} subjects", field="subject")
    return out


def check_subjects(rule: TrustRule, subjects: Sequence[str | None]) -> list[str | None]:
    return [require_subject(rule, s, field="subject" if len(subjects) == 1 else f"subject[{i}]")
            for i, s in enumerate(subjects)]
