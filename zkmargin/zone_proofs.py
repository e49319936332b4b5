"""Zone proofs: a trader proves which margin-call zone of the venue's ladder its account is in
(exactly, or "at least zone Z"), and nothing else; the venue verifies and learns the zone.

The statement is the ordinary one plus ``"zone": {"index", "name", "exact"}``, bound into the
transcript like every other field. The verifier reads the claim from the bundle, checks it
against its own policy's ladder and rebuilds the zone circuit for it
(:mod:`zkmargin.circuits.margin.zones`) from its own policy, market and threshold; the trust rule
applies as for every proof. ``min_zone`` lets a venue refuse a proof of a worse zone than it
needs (:class:`ZoneRejectedError`).

May import the API (:mod:`zkmargin.api`) and everything below it. Used by ``zkmargin.prove`` /
``zkmargin.verify`` (which hand zone requests and zone bundles here), the CLI and the tests.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .api import (
    ProveTimings,
    VerificationResult,
    _bundle,
    _challenge,
    _market,
    _policy,
    _threshold,
    _Verifier,
    _verify_prepared,
    public_inputs,
    statement_for,
)
from .crypto.backends import get_backend
from .crypto.field import R
from .documents.bundle import ProofBundle
from .errors import BelowRequirementError, InputError, StatementMismatchError, ZoneRejectedError
from .rules.engine.zones import zone_report
from .rules.models import Account, Policy, load_account

if TYPE_CHECKING:
    from .circuits.margin.zones import ZoneClaim

# the zone circuit loads on first use (``import zkmargin`` stays as quick as before)

__all__ = ["parse_claim", "prove_zone", "verify_zone", "claim_of_statement"]


def _names(policy: Policy) -> list[str]:
    assert policy.zones is not None
    return [r.name for r in policy.zones]


def _index(policy: Policy, name: str, field: str = "zone") -> int:
    names = _names(policy)
    if name not in names:
        raise InputError(f"the policy's ladder has no zone {name!r} (it has {', '.join(names)})", field=field)
    return names.index(name)


def parse_claim(policy: Policy, request: Any, account_zone: int) -> ZoneClaim:
    """A prover's request as a claim: ``"exact"`` (the account's own zone), ``"at-least:NAME"``
    or ``"NAME"`` (at least that zone), ``"exact:NAME"``, or a :class:`ZoneClaim`."""
    from .circuits.margin.zones import ZoneClaim

    if isinstance(request, ZoneClaim):
        return request
    if not isinstance(request, str) or not request:
        raise InputError("a zone request is 'exact', 'at-least:NAME' or 'exact:NAME'", field="zone")
    if request == "exact":
        return ZoneClaim(account_zone, True)
    kind, _, name = request.partition(":")
    if not name:
        kind, name = "at-least", request
    if kind not in ("at-least", "exact"):
        raise InputError("a zone request is 'exact', 'at-least:NAME' or 'exact:NAME'", field="zone")
    return ZoneClaim(_index(policy, name), kind == "exact")


def claim_of_statement(policy: Policy, statement: dict) -> ZoneClaim:
    """The claim a bundle's statement makes, checked against the verifier's own ladder."""
    from .circuits.margin.zones import ZoneClaim

    if policy.zones is None:
        raise StatementMismatchError("the proof claims a margin-call zone; this policy has no ladder")
    if "zone" not in statement:
        raise StatementMismatchError("the venue asked for a margin-call zone; the proof claims none")
    z = statement.get("zone")
    if not isinstance(z, dict) or set(z) != {"index", "name", "exact"} or not isinstance(z["exact"], bool) \
            or isinstance(z["index"], bool) or not isinstance(z["index"], int):
        raise StatementMismatchError("the statement's zone must be {index, name, exact}")
    names = _names(policy)
    if not 0 <= z["index"] < len(names) or names[z["index"]] != z["name"]:
        raise StatementMismatchError("the statement's zone is not on this policy's ladder")
    return ZoneClaim(z["index"], z["exact"])


def prove_zone(account, market, policy, threshold=0, challenge: bytes | None = None, *, zone: Any = "exact",
               backend=None, blindings: Sequence[int] | None = None, timings: ProveTimings | None = None,
               _check_witness: bool = True) -> ProofBundle:
    """Prove the account's zone (``zone="exact"``) or a lower bound on it (``"at-least:NAME"``).

    Refuses with :class:`BelowRequirementError` when the account is not in (or above) the claimed
    zone; ``_check_witness=False`` is for tests that show the verifier rejects a forced proof."""
    t0 = time.perf_counter()
    pol = _policy(policy)
    mkt = _market(market, pol)
    acct = account if isinstance(account, Account) else load_account(account, pol)
    t = _threshold(threshold, pol)
    ch = _challenge(challenge)
    if pol.zones is None:
        raise InputError("the policy declares no margin-call zones", field="zones")
    report = zone_report(acct, mkt, pol, t)
    claim = parse_claim(pol, zone, report.index)
    if _check_witness:
        # "at least Z": the equity meets zone Z's own threshold (rungs on different requirement
        # kinds need not be ordered for every account)
        th = report.thresholds[claim.index]
        ok = report.index == claim.index if claim.exact else (th is None or report.equity >= th)
        if not ok:
            raise BelowRequirementError(f"the account is not in zone {_names(pol)[claim.index]!r}"
                                        f"{'' if claim.exact else ' or better'}; nothing was proved")
    from .circuits.margin import witness_values
    from .circuits.margin.zones import build_zone, plan_zone

    plan = plan_zone(pol, mkt, t, claim)
    values = witness_values(plan, acct)
    cs = build_zone(plan, values)
    statement = {**statement_for(pol, mkt, t, ch, plan, cs), "zone": claim.to_json(_names(pol))}
    if blindings is None:
        blindings = [secrets.randbelow(R - 1) + 1 for _ in values]
    elif len(blindings) != len(values):
        raise InputError(f"{len(values)} slots but {len(blindings)} blindings")
    t1 = time.perf_counter()
    from .prover.r1cs import prove as r1cs_prove

    be = get_backend(backend)
    proof, V = r1cs_prove(cs, list(blindings), public_inputs(statement), be, check=_check_witness)
    if timings is not None:
        timings.build, timings.prove = t1 - t0, time.perf_counter() - t1
    return ProofBundle(statement=statement, commitments=[be.encode(v) for v in V], proof=proof.to_bytes())


class _ZoneVerifier(_Verifier):
    """The verifier's side of one zone claim: plan and circuit for that claim."""

    def __init__(self, market, policy, threshold, backend, claim: ZoneClaim):
        from .circuits.margin.zones import build_zone, plan_zone
        from .documents.trust import TrustRule

        self.policy = _policy(policy)
        self.market = _market(market, self.policy)
        self.threshold = _threshold(threshold, self.policy)
        self.plan = plan_zone(self.policy, self.market, self.threshold, claim)
        self.cs = build_zone(self.plan)
        self.be = get_backend(backend)
        self._base = {**statement_for(self.policy, self.market, self.threshold, None, self.plan, self.cs),
                      "zone": claim.to_json(_names(self.policy))}
        self.trust_rule = TrustRule.of(self.policy, digest=self._base["policy_digest"])


def verify_zone(bundle, market, policy, threshold=0, challenge: bytes | None = None, *, subject: str | None = None,
                now=None, max_age=None, backend=None, min_zone: str | None = None) -> VerificationResult:
    """Verify a zone proof (as :func:`zkmargin.verify`, trust rule included) and return the zone it
    proves in ``extra["zone"]``. With ``min_zone``, a proof of a worse zone (or only "at least" a
    worse zone) is a :class:`ZoneRejectedError`."""
    b = _bundle(bundle)
    pol = _policy(policy)
    claim = claim_of_statement(pol, b.statement)
    v = _ZoneVerifier(market, pol, threshold, backend, claim)
    result = _verify_prepared(v, b, _challenge(challenge), subject=subject, now=now, max_age=max_age)
    result.extra["zone"] = claim.to_json(_names(pol))
    if min_zone is not None:
        need = _index(pol, min_zone, "min_zone")
        if claim.index > need:
            raise ZoneRejectedError(f"the proof shows zone {_names(pol)[claim.index]!r}"
                                    f"{'' if claim.exact else ' or better'}; the venue needs {min_zone!r} or better")
    return result
