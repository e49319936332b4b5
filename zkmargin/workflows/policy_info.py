"""``zkmargin policy-info``: what a venue's policy supports (issue 11) — its instruments and their
rules, its collateral and haircuts, its scales and widths (the largest size, price and amount a
proof can carry), its trust rule, and the margin circuit a proof against it has: gates, padded
gates, inner-product rounds, slots.

The circuit's size depends on the market snapshot too (a bracket no position within the widths
can reach at a mark is left out), so with ``--market`` it is the verifier's own circuit at that
snapshot (an unprovable snapshot is refused as ``verify`` would refuse it), and without one it is
built at unit prices (every instrument and asset at 1) and said to be so.

May import the API and everything below it. Used by the CLI (``policy-info``).
"""

from __future__ import annotations

from typing import Any

from ..errors import ZkMarginError


def _largest(bits: int, scale: int) -> str:
    from ..rules.decimals import canonical, from_fixed

    return canonical(from_fixed((1 << bits) - 1, scale))


def _rule(rule: Any) -> str | None:
    if rule is None:
        return None
    kind = rule.kind
    if kind == "brackets":
        return f"brackets ({len(rule.brackets)})"
    return str(kind)


def _collateral(c: Any) -> dict:
    from ..rules.decimals import canonical

    doc: dict[str, Any] = {"asset": c.asset}
    if c.tiers:
        doc["haircut"] = "tiered: " + ", ".join(
            f"{canonical(t.haircut)} up to {canonical(t.up_to) if t.up_to is not None else 'any'}" for t in c.tiers)
    else:
        doc["haircut"] = canonical(c.haircut) if c.haircut is not None else "0"
    return doc


def _unit_market(policy: Any) -> dict:
    """A snapshot at unit prices: every key the policy prices is 1."""
    keys = {i.symbol for i in policy.instruments} | {c.asset for c in policy.collateral}
    keys |= {i.underlying for i in policy.instruments if i.underlying}
    keys |= {i.index for i in policy.instruments if getattr(i, "index", None)}
    return {"format": "zkmargin.market/1", "as_of": "2000-01-01T00:00:00Z",
            "prices": {k: "1" for k in sorted(keys)}}


def circuit_shape(policy: Any, market: Any = None, threshold: Any = 0) -> dict:
    """Gates, padded gates, rounds and slot names of the verifier's circuit (at ``threshold``)."""
    from ..api import _market, _policy, _threshold, statement_for
    from ..circuits.layouts import plan_margin
    from ..circuits.provable import build_checked

    pol = _policy(policy)
    at = "the market snapshot" if market is not None else "unit prices (give --market for the exact circuit)"
    mkt = _market(market if market is not None else _unit_market(pol), pol)
    t = _threshold(threshold, pol)
    plan = plan_margin(pol, mkt, t)
    cs = build_checked(plan, None, pol, mkt, t)
    slots = statement_for(pol, mkt, t, None, plan, cs)["slots"]
    padded = cs.padded_n()
    return {"at": at, "gates": cs.total_gates, "padded_gates": padded,
            "inner_product_rounds": padded.bit_length() - 1, "slots": slots}


def describe_policy(policy: Any, market: Any = None) -> dict:
    """Everything ``policy-info`` shows, as JSON."""
    from ..api import _policy
    from ..rules.decimals import canonical
    from ..rules.digests import policy_digest

    pol = _policy(policy)
    d, b = pol.decimals, pol.bits
    doc: dict[str, Any] = {
        "venue": pol.venue, "quote": pol.quote, "mode": pol.mode, "requirement": pol.requirement,
        "buffer": canonical(pol.buffer), "policy_digest": policy_digest(pol),
        "scales": {"size": d.size, "price": d.price, "rate": d.rate, "amount": d.amount},
        "widths": {"size": b.size, "price": b.price, "amount": b.amount},
        "largest": {"size": _largest(b.size, d.size), "price": _largest(b.price, d.price),
                    "amount": _largest(b.amount, d.amount)},
        "instruments": [{"symbol": i.symbol, "kind": i.kind, "maintenance": _rule(i.maintenance),
                         "initial": _rule(i.initial)} for i in pol.instruments],
        "collateral": [_collateral(c) for c in pol.collateral],
        "layout": f"{pol.slots} position slots" if pol.slots else "one slot per instrument",
    }
    if pol.scenarios is not None:
        measure = pol.scenarios.measure
        doc["scenarios"] = {"count": len(pol.scenarios.names),
                            "measure": measure.kind if measure is not None else "worst"}
    if pol.zones:
        doc["zones"] = [z.name for z in pol.zones]
    trust = pol.trust
    doc["trust"] = {
        "custodians": [c.name for c in trust.custodians] if trust else [],
        "max_age_seconds": trust.max_age_seconds if trust else None,
        "unchallenged": bool(trust.unchallenged) if trust else False,
    }
    try:
        doc["circuit"] = circuit_shape(pol, market)
    except ZkMarginError as exc:
        if market is not None:
            raise
        doc["circuit"] = {"at": "unit prices", "error": exc.one_line() + " (give --market to count the gates)"}
    return doc
