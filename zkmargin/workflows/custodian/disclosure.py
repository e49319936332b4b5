"""Openings for auditors: a trader sums its custodians' openings and keeps the slots it chooses to
disclose (:func:`combine_openings`); an auditor checks them against a bundle's commitments and, with
the policy and market snapshot, recomputes in clear text what the opened slots allow
(:func:`check_openings`: each opened position's notional and requirement, each opened balance's
value, and with every slot opened the whole margin report).

May import the API and everything below it. Used by the CLI (``open``, ``open --check``) and the
tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext

from ...crypto.field import R
from ...documents.bundle import ProofBundle
from ...documents.openings import Openings
from ...errors import InputError, OpeningRejectedError
from ...rules.decimals import EXACT
from .commit import plan_for, slot_scales


def combine_openings(openings: Sequence, slots: Sequence[str] | None = None) -> Openings:
    """Sum several openings documents (one per custodian) slot by slot — the opening of the
    proof's commitments — and keep ``slots`` only (all by default). The result has no custodian."""
    ops = [Openings.load(o) for o in openings]
    if not ops:
        raise InputError("no openings given")
    pd = {o.policy_digest for o in ops}
    if len(pd) != 1:
        raise InputError("the openings are for different policies")
    order: list[str] = []
    vals: dict[str, int] = {}
    blind: dict[str, int] = {}
    for o in ops:
        for s, v, g in zip(o.slots, o.values, o.blindings):
            if s not in vals:
                order.append(s)
                vals[s], blind[s] = 0, 0
            vals[s] += v
            blind[s] = (blind[s] + g) % R
    if len(ops) == 1:
        out = Openings(ops[0].policy_digest, order, [vals[s] for s in order], [blind[s] for s in order])
    else:
        out = Openings(pd.pop(), order, [vals[s] for s in order], [blind[s] for s in order])
    return out if slots is None else out.subset(slots)


@dataclass
class OpeningCheck:
    """What an auditor learns from checked openings."""

    slots: dict  # slot -> clear-text decimal string
    complete: bool
    partial: dict = field(default_factory=dict)
    report: dict | None = None
    proof_verified: bool = False

    def to_json_dict(self) -> dict:
        return {"opened": self.slots, "complete": self.complete, "partial": self.partial,
                "report": self.report, "proof_verified": self.proof_verified}


def _dec(value: int, scale: int) -> Decimal:
    return Decimal(value).scaleb(-scale)


def check_openings(part, bundle, *, market=None, policy=None, backend=None) -> OpeningCheck:
    """Check opened slots against a bundle's commitments (:class:`OpeningRejectedError` when one
    does not open). With ``market`` and ``policy`` (which must be the bundle's — digests checked,
    and the proof is verified with the bundle's own challenge), also recompute what the opened
    slots allow in clear text: notional and requirement of each opened position, the value of
    each opened collateral balance, and with every slot opened the full margin report."""
    from ...api import _bundle

    op = Openings.load(part)
    b = _bundle(bundle)
    names = list(b.statement.get("slots") or [])
    if len(names) != len(b.commitments):
        raise InputError("the bundle's slots and commitments differ in number")
    if op.policy_digest != b.statement.get("policy_digest"):
        raise OpeningRejectedError("the openings are for another policy than the bundle")
    mine = op.commitments(backend)
    for s, c in zip(op.slots, mine):
        if s not in names:
            raise OpeningRejectedError(f"the bundle has no slot {s!r}")
        if b.commitments[names.index(s)] != c:
            raise OpeningRejectedError(f"the opening for slot {s!r} does not open the bundle's commitment")
    opened = dict(zip(op.slots, op.values))
    result = OpeningCheck(slots={s: str(v) for s, v in opened.items()}, complete=set(opened) == set(names))
    if market is None or policy is None:
        return result
    return _clear_text(result, opened, b, market, policy, backend)


def _clear_text(result: OpeningCheck, opened: dict, b: ProofBundle, market, policy, backend) -> OpeningCheck:
    from ...api import _market, _policy, _verify_bare
    from ...rules import engine
    from ...rules.decimals import canonical
    from ...rules.digests import market_digest, policy_digest
    from ...rules.models import Account, Position, price_of

    pol = _policy(policy)
    mkt = _market(market, pol)
    if policy_digest(pol) != b.statement.get("policy_digest") or market_digest(mkt) != b.statement.get("market_digest"):
        raise InputError("the policy or market snapshot is not the one the bundle was proved against")
    ch = b.statement.get("challenge")
    # the proof itself (the auditor checks values, not the venue's trust rule: _verify_bare)
    _verify_bare(b, mkt, pol, b.statement.get("threshold", "0"), bytes.fromhex(ch) if ch else None,
                 backend=backend)
    result.proof_verified = True
    from ...rules.models.coverage import uses_coverage

    if uses_coverage(pol):  # hedge legs, orders, inverse, option rules: docs/notes/coverage.md
        raise InputError("opened values are re-checked in clear text only for policies without "
                         f"{', '.join(uses_coverage(pol))} (issue 15); the proof itself verified")
    _pol, _m, plan = plan_for(pol, mkt)
    scales = slot_scales(plan)
    clear = {}
    for s, v in opened.items():
        if s.startswith("position:"):  # K-slot layout: the packed (instrument, size); empty slots add nothing
            from ...circuits.margin.slots import open_position

            symbol, size = open_position(plan, v)
            if symbol is not None:
                clear[f"size:{symbol}"] = size
            continue
        clear[s] = _dec(v, scales[s])
    result.slots = {s: canonical(d) for s, d in clear.items()}
    threshold = Decimal(b.statement.get("threshold", "0"))
    partial = {}
    for s, d in clear.items():
        kind, _, key = s.partition(":")
        if kind == "size" and pol.mode != "portfolio":
            mark = mkt.prices[key]
            req = engine.apply_rounding(engine.position_requirement(pol.instrument(key).rule(pol.requirement), d, mark),
                                        pol.rounding)
            partial[s] = {"notional": canonical(engine.notional(d, mark)), "requirement": canonical(req)}
        elif kind == "balance":
            partial[s] = {"value": canonical(engine.collateral_value(pol.collateral_entry(key), d,
                                                                     price_of(mkt, pol, key)))}
    result.partial = partial
    if not result.complete:
        return result
    if pol.mode == "isolated":
        positions, iso = [], {}
        for ins in pol.instruments:
            q, e, m = clear[f"size:{ins.symbol}"], clear[f"entry:{ins.symbol}"], clear[f"isolated:{ins.symbol}"]
            if q != 0 or e != 0 or m != 0:
                positions.append(Position(symbol=ins.symbol, size=q, entry_price=e))
                iso[ins.symbol] = m
        balances = {c.asset: clear[f"balance:{c.asset}"] for c in pol.collateral}
        acct = Account(format="zkmargin.account/1", balances=balances, positions=positions, isolated_margin=iso)
        result.report = engine.check(acct, mkt, pol, threshold).to_json_dict()
        return result
    # cross and portfolio: sizes, the cost basis C = Σ q·entry and balances determine the margin
    with localcontext(EXACT):
        coll = sum((engine.collateral_value(pol.collateral_entry(c.asset), clear[f"balance:{c.asset}"],
                                            price_of(mkt, pol, c.asset)) for c in pol.collateral), Decimal(0))
        sizes = {i.symbol: clear.get(f"size:{i.symbol}", Decimal(0)) for i in pol.instruments}
        equity = coll + sum((q * mkt.prices[s] for s, q in sizes.items()), Decimal(0)) - clear["cost"]
        if pol.mode == "portfolio":
            requirement = engine.portfolio_requirement(pol, {s: q for s, q in sizes.items() if q != 0})
        else:
            requirement = sum((engine.apply_rounding(engine.position_requirement(
                pol.instrument(s).rule(pol.requirement), q, mkt.prices[s]), pol.rounding)
                for s, q in sizes.items()), Decimal(0))
        required = (1 + pol.buffer) * requirement + threshold
        excess = equity - required
    result.report = {
        "meets": excess >= 0, "equity": canonical(equity), "requirement": canonical(requirement),
        "required": canonical(required), "excess": canonical(excess), "collateral_value": canonical(coll),
        "mode": pol.mode, "threshold": canonical(threshold),
    }
    return result
