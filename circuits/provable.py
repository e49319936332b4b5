"""Provability when the circuit is built: the policy's load-time check
(:mod:`zkmargin.rules.models.provability`) bounds the circuit for every market within the price
width; here the real market snapshot and threshold are known, and the verifier's circuit itself
is the judge. A circuit that would wrap (prices above the price width, a huge threshold) or that
needs more gates than there are generators is refused with one line naming the field and the
limit, never with the builder's digits or the generators' exception.

``write_policy_with_scenarios`` is the venue's ``scenarios`` command: the new scenario table is
checked by building the circuit it makes (with the market it was priced at) *before* the policy
is written.

May import :mod:`.cs`, :mod:`.layouts`, :mod:`zkmargin.rules` and :mod:`zkmargin.errors`. Used by
:mod:`zkmargin.api` and the CLI (``scenarios``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from zkmargin.errors import CircuitError, InputError, PolicyError
from zkmargin.rules.models import Market, Policy, load_market, load_policy, write_document
from zkmargin.rules.models.provability import MAX_GATES, RANGE_LIMIT_BITS, statement_bound, suggest

from .cs import ConstraintSystem
from .layouts import build, plan_margin


def build_checked(plan: Any, values: list[int] | None, policy: Policy, market: Market,
                  threshold: Decimal) -> ConstraintSystem:
    """``build(plan, values)``, with a circuit that would wrap or exceed the generators refused
    in one line (:class:`PolicyError`, or :class:`InputError` on the threshold)."""
    # Public constants enter the circuit mod r: a threshold or a price so large that its multiple
    # wraps would be read as a small number by the builder's bounds. The exact integer bound
    # (no reduction) decides first.
    b = policy.bits
    if statement_bound(policy, b.size, b.price, b.amount, market.prices, threshold).bit_length() \
            > RANGE_LIMIT_BITS:
        if statement_bound(policy, b.size, b.price, b.amount, market.prices).bit_length() \
                <= RANGE_LIMIT_BITS:
            raise InputError("the threshold is too large for the policy's amount scale and widths "
                             "(the margin circuit would wrap around)", field="threshold")
        field, message = suggest(policy, market.prices)
        raise PolicyError(f"{message} at this market snapshot's prices", field=field)
    try:
        cs = build(plan, values)
    except CircuitError as exc:
        if not _fits_without_threshold(policy, market):
            field, message = suggest(policy, market.prices)
            raise PolicyError(f"{message} at this market snapshot's prices", field=field) from None
        if threshold:
            raise InputError("the threshold is too large for the policy's amount scale and widths "
                             "(the margin circuit would wrap around)", field="threshold") from None
        raise PolicyError(f"the margin circuit cannot be built: {exc.message[:160]}") from None
    padded = cs.padded_n()
    if padded > MAX_GATES:
        field = "scenarios.names" if policy.mode == "portfolio" else (
            "slots" if policy.slots else "instruments")
        raise PolicyError(f"the margin circuit has {cs.total_gates:,} multiplication gates "
                          f"({padded:,} padded); proofs are capped at {MAX_GATES:,} (the generators)",
                          field=field)
    return cs


def _fits_without_threshold(policy: Policy, market: Market) -> bool:
    try:
        build(plan_margin(policy, market, Decimal(0)))
    except CircuitError:
        return False
    return True


def check_circuit(policy: Any, market: Any, threshold: Any = 0) -> int:
    """Build the verifier's circuit of ``policy`` at ``market`` and ``threshold`` and return its
    gate count; refuse as :func:`build_checked` does."""
    pol = load_policy(policy)
    mkt = load_market(market, pol)
    t = Decimal(threshold)
    cs = build_checked(plan_margin(pol, mkt, t), None, pol, mkt, t)
    return int(cs.total_gates)


def write_policy_with_scenarios(policy: Any, market: Any, out_path: Any, **kwargs: Any) -> tuple[Policy, int]:
    """The policy with its new scenario table (:func:`zkmargin.rules.scenarios.policy_with_scenarios`),
    refused before anything is written when its circuit could not be proved (the load-time
    bound, then the verifier's circuit at ``market``); written atomically. Returns the policy and
    the circuit's gate count."""
    from zkmargin.rules.scenarios import policy_with_scenarios

    new = policy_with_scenarios(policy, market, **kwargs)
    gates = check_circuit(new, market)
    write_document(new, out_path)
    return new, gates
