"""Committing to an account's slots: :func:`attest` (a custodian's, signed for one venue and one
account) and :func:`new_openings` (a trader's own, unsigned, to open chosen commitments to an
auditor later).

May import the API and everything below it (the documents, the circuits' slot layouts, the
generators and the prover's Pedersen ``commit``). Used by the rest of the custodian workflow and by
the CLI (``attest``, ``commit``).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from ...crypto.backends import get_backend
from ...crypto.ed25519 import load_private_key, public_key_hex
from ...crypto.field import R
from ...documents.attestation import (
    CHALLENGE_BYTES,
    MAX_SUBJECT_CHARS,
    SignedCommitments,
    parse_as_of,
    text_at,
)
from ...documents.openings import Openings
from ...errors import InputError


def synthetic_market(policy):
    """A market with every price 1: the slot layout and the committed values do not depend on
    prices, so a custodian needs no market snapshot to attest."""
    from ...rules.models import Market

    prices = {i.symbol: Decimal(1) for i in policy.instruments}
    prices.update({c.asset: Decimal(1) for c in policy.collateral})
    # option standard margin reads its index and underlying prices (docs/notes/coverage.md)
    prices.update({k: Decimal(1) for i in policy.instruments if i.kind == "option"
                   for k in (i.index, i.underlying) if k is not None and k != policy.quote})
    return Market(format="zkmargin.market/1", as_of="1970-01-01T00:00:00Z", prices=prices)


def plan_for(policy, market=None):
    """(policy, market, plan) for committing to an account: the market given, or a synthetic one."""
    from ...api import _market, _policy
    from ...circuits.layouts import plan_margin

    pol = _policy(policy)
    mkt = synthetic_market(pol) if market is None else _market(market, pol)
    return pol, mkt, plan_margin(pol, mkt, Decimal(0))


def slot_scales(plan) -> dict[str, int]:
    """Digits after the point of each slot's committed integer."""
    scale = {"size": plan.ds, "cost": plan.ds + plan.dp, "entry": plan.dp, "isolated": plan.da, "balance": plan.da,
             "position": plan.ds}  # K-slot layout: the size packed in v = id + 2^A·q (see circuits/margin/slots.py)
    out = {s.name: scale[s.kind] for s in plan.slots}
    for s in plan.slots:  # an inverse cost basis Σ q·cs·ρ(entry) (circuits/margin/coverage.py)
        if s.kind == "cost" and s.key.startswith("inverse/"):
            out[s.name] = plan.ds + plan.dp + plan.drho
    return out


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def attest(account, market, policy, custodian_private_key, *, subject: str, challenge: bytes | None = None,
           slots: Sequence[str] | None = None, as_of: str | None = None,
           backend=None) -> tuple[SignedCommitments, Openings]:
    """Commit to ``account``'s values (every slot of the policy's circuit, or ``slots``), sign the
    commitments with the custodian's Ed25519 key for the policy's venue (the audience), the
    account the venue knows (``subject``) and, when given, the venue's ``challenge`` for the proof
    to come. Returns (attestation, openings); the openings go to the trader only. ``market`` may
    be None (the slot values do not depend on prices)."""
    from ...circuits.layouts import witness_values
    from ...crypto.generators import get_generators
    from ...prover.r1cs import commit
    from ...rules.digests import policy_digest
    from ...rules.models import Account, load_account

    key = load_private_key(custodian_private_key)
    pol, _mkt, plan = plan_for(policy, market)
    if not isinstance(subject, str) or not subject.strip():
        raise InputError("name the account the venue knows (the subject)", field="subject")
    text_at(subject, "subject", None, MAX_SUBJECT_CHARS)
    if challenge is not None:
        if not isinstance(challenge, (bytes, bytearray)) or not CHALLENGE_BYTES[0] <= len(challenge) <= CHALLENGE_BYTES[1]:
            raise InputError(f"the challenge is {CHALLENGE_BYTES[0]} to {CHALLENGE_BYTES[1]} bytes", field="challenge")
    if as_of is not None:
        parse_as_of(as_of, "as_of", None)
    acct = account if isinstance(account, Account) else load_account(account, pol)
    names = plan.slot_names()
    values = witness_values(plan, acct)
    if slots is None:
        chosen = list(range(len(names)))
    else:
        want = list(slots)
        unknown = [s for s in want if s not in names]
        if unknown:
            raise InputError(f"the policy's circuit has no slot(s) {unknown}", field="slots")
        if len(set(want)) != len(want):
            raise InputError("a slot is named twice", field="slots")
        chosen = sorted(names.index(s) for s in want)
    be = get_backend(backend)
    gens = get_generators(be)
    blindings = [secrets.randbelow(R - 1) + 1 for _ in chosen]
    comms = [be.encode(commit(be, gens, values[i], g)) for i, g in zip(chosen, blindings)]
    att = SignedCommitments(
        custodian=public_key_hex(key), audience=pol.venue, subject=subject,
        challenge=bytes(challenge).hex() if challenge is not None else None, policy_digest=policy_digest(pol),
        as_of=as_of or _now_iso(), nonce=secrets.token_hex(16), slots=[names[i] for i in chosen], commitments=comms,
    )
    att.signature = key.sign(att.message())
    op = Openings(att.policy_digest, list(att.slots), [values[i] for i in chosen], blindings, att.custodian, att.nonce)
    return att, op


def new_openings(account, policy, *, market=None) -> Openings:
    """Self-made openings (no custodian): fresh blindings for every slot, so a trader who proves
    with them (:func:`prove_with_openings`) can later open chosen commitments to an auditor."""
    from ...circuits.layouts import witness_values
    from ...rules.digests import policy_digest
    from ...rules.models import Account, load_account

    pol, _mkt, plan = plan_for(policy, market)
    acct = account if isinstance(account, Account) else load_account(account, pol)
    values = witness_values(plan, acct)
    return Openings(policy_digest(pol), plan.slot_names(), values,
                    [secrets.randbelow(R - 1) + 1 for _ in values])
