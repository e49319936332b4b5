"""The trader's side over custodians' attestations: :func:`combine` checks every openings document
against its attestation and sums the shares slot by slot; :func:`prove_attested` proves over the
attested commitments and embeds the attestations in the bundle; :func:`prove_with_openings` proves
over self-made openings.

**Several custodians.** Commitments add up: ``V_a + V_b = (v_a + v_b)·B + (γ_a + γ_b)·B̃``. Each
custodian attests the slots it knows (by default every slot of the policy, zero where it holds
nothing); the trader proves over the per-slot sums (values and blindings add), and the verifier
checks each signature, that every slot of a required kind is attested by at least one custodian,
and that each proof commitment is exactly the sum of the attested ones for its slot
(:func:`zkmargin.documents.attestation.slot_coverage`, :mod:`zkmargin.documents.trust`). Summing
nets positions across custodians (a long at one and a short at another offset); a venue that does
not accept such netting must list a single custodian.

May import the API and everything below it. Used by the CLI (``prove --attestation --openings``,
``prove --openings``), the demo and the tests.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from ...crypto.backends import get_backend
from ...crypto.field import R
from ...documents.attestation import SignedCommitments, slot_coverage
from ...documents.bundle import ProofBundle
from ...documents.openings import Openings
from ...errors import AttestationError
from ...rules.models import SLOT_KINDS
from .commit import plan_for


def _pair(attestations: Sequence[SignedCommitments], openings: Sequence[Openings]) -> list[Openings]:
    """Each attestation's openings (matched by custodian and nonce)."""
    by_id: dict[tuple[str | None, str | None], list[Openings]] = {}
    for o in openings:
        by_id.setdefault((o.custodian, o.nonce), []).append(o)
    out = []
    for k, a in enumerate(attestations):
        found = by_id.get((a.custodian, a.nonce), [])
        if len(found) != 1:
            raise AttestationError(f"attestation {k} (custodian {a.custodian[:16]}…) has "
                                   f"{'no' if not found else 'several'} matching openings")
        out.append(found[0])
    if len(openings) != len(attestations):
        raise AttestationError(f"{len(openings)} openings for {len(attestations)} attestations")
    return out


@dataclass
class Combined:
    """Per-slot sums over the custodians' shares (values, blindings, commitment points)."""

    slots: list[str]
    values: list[int]
    blindings: list[int]
    commitments: list[bytes | None] = field(default_factory=list)  # None: no attestation covers it


def combine(attestations: Sequence, openings: Sequence, policy, *, market=None, backend=None) -> Combined:
    """Check every openings document against its attestation (signature, policy, each V_j opens)
    and sum the shares slot by slot. Every slot of a kind the policy's trust section requires
    attested (all kinds by default) must be covered; a slot no attestation covers gets value 0,
    blinding 0 and commitment None. Raises :class:`AttestationError` (prover side)."""
    from ...crypto.generators import get_generators
    from ...prover.r1cs import commit
    from ...rules.digests import policy_digest

    atts = [SignedCommitments.load(a) for a in attestations]
    ops = [Openings.load(o) for o in openings]
    if not atts:
        raise AttestationError("no attestation given")
    pol, _mkt, plan = plan_for(policy, market)
    pd = policy_digest(pol)
    names = plan.slot_names()
    for k, a in enumerate(atts):
        if not a.signature_valid():
            raise AttestationError(f"attestation {k}: the custodian signature does not verify")
        if a.policy_digest != pd:
            raise AttestationError(f"attestation {k} is for another policy")
        if a.audience != pol.venue:
            raise AttestationError(f"attestation {k} is addressed to another venue than the policy's")
    if len({a.subject for a in atts}) != 1:
        raise AttestationError("the attestations name different accounts (subjects)")
    if len({a.custodian for a in atts}) != len(atts):
        raise AttestationError("two attestations from the same custodian")
    paired = _pair(atts, ops)
    kinds = (pol.trust.attest if pol.trust is not None and pol.trust.attest else None) or SLOT_KINDS
    slot_coverage(names, atts, pol.mode, AttestationError,
              required={s for s in names if s.partition(":")[0] in kinds})
    be = get_backend(backend)
    gens = get_generators(be)
    vals = {s: 0 for s in names}
    blind = {s: 0 for s in names}
    points = {s: None for s in names}
    for k, (a, o) in enumerate(zip(atts, paired)):
        if o.slots != a.slots or o.policy_digest != a.policy_digest:
            raise AttestationError(f"the openings of attestation {k} are for other slots or another policy")
        for s, V, v, g in zip(a.slots, a.commitments, o.values, o.blindings):
            P = commit(be, gens, v, g)
            if be.encode(P) != V:
                raise AttestationError(f"the openings do not match the attested commitment for slot {s!r} "
                                       f"(attestation {k})")
            vals[s] += v
            blind[s] = (blind[s] + g) % R
            points[s] = P if points[s] is None else be.add(points[s], P)
    return Combined(names, [vals[s] for s in names], [blind[s] for s in names],
                    [be.encode(points[s]) if points[s] is not None else None for s in names])


# --- prover side ---------------------------------------------------------------------------------


def prove_attested(account, market, policy, threshold=0, challenge: bytes | None = None, *,
                   attestations: Sequence = (), openings: Sequence = (), backend=None) -> ProofBundle:
    """Prove over attested commitments and embed the attestations in the bundle
    (``zkmargin.proof/2``). The openings (one document per attestation) must open the attested
    commitments and, summed per slot, equal the account's values; the proof's commitments are
    then exactly the attested ones (sums, with several custodians). An attestation made for a
    challenge must be for this proof's challenge. Refuses with :class:`AttestationError`
    otherwise; nothing private appears in a message."""
    from ...api import _market, _policy, prove
    from ...circuits.layouts import plan_margin, witness_values
    from ...rules.models import Account, load_account

    pol = _policy(policy)
    mkt = _market(market, pol)
    acct = account if isinstance(account, Account) else load_account(account, pol)
    comb = combine(attestations, openings, pol, market=mkt, backend=backend)
    atts = [SignedCommitments.load(a) for a in attestations]
    mine_ch = bytes(challenge).hex() if isinstance(challenge, (bytes, bytearray)) else None
    for k, a in enumerate(atts):
        if a.challenge is not None and a.challenge != mine_ch:
            raise AttestationError(f"attestation {k} was made for another challenge than this proof's")
    plan = plan_margin(pol, mkt, Decimal(0))
    mine = witness_values(plan, acct)
    blindings = list(comb.blindings)
    for i, (s, attested, own, V) in enumerate(zip(comb.slots, comb.values, mine, comb.commitments)):
        if V is None:  # a kind the venue does not require attested: self-declared, fresh blinding
            blindings[i] = secrets.randbelow(R - 1) + 1
        elif attested != own:
            raise AttestationError(f"the attested value for slot {s!r} differs from the account's")
    bundle = prove(acct, mkt, pol, threshold, challenge, backend=backend, blindings=blindings)
    if any(V is not None and V != mine_V for V, mine_V in zip(comb.commitments, bundle.commitments)):
        raise AttestationError("internal: the proof's commitments are not the attested ones")  # pragma: no cover
    bundle.attestations = atts
    return bundle


def prove_with_openings(account, market, policy, threshold=0, challenge: bytes | None = None, *,
                        openings, backend=None) -> ProofBundle:
    """Prove with self-made openings (:func:`new_openings`), so chosen commitments can be opened
    to an auditor later. The openings must match the account."""
    from ...api import _market, _policy, prove
    from ...circuits.layouts import plan_margin, witness_values
    from ...rules.digests import policy_digest
    from ...rules.models import Account, load_account

    op = Openings.load(openings)
    pol = _policy(policy)
    mkt = _market(market, pol)
    acct = account if isinstance(account, Account) else load_account(account, pol)
    plan = plan_margin(pol, mkt, Decimal(0))
    if op.policy_digest != policy_digest(pol) or op.slots != plan.slot_names():
        raise AttestationError("the openings are for another policy or another slot layout")
    for s, a, b in zip(op.slots, op.values, witness_values(plan, acct)):
        if a != b:
            raise AttestationError(f"the opened value for slot {s!r} differs from the account's")
    return prove(acct, mkt, pol, threshold, challenge, backend=backend, blindings=op.blindings)
