"""Which margin circuit a policy compiles to, behind one interface (plan, witness, build):

* one slot per instrument of the policy's universe (:mod:`zkmargin.circuits.margin`, the default);
* K private position slots looked up in the venue's instrument table
  (:mod:`zkmargin.circuits.margin.slots`), when the policy declares ``"slots": K``.

The K-slot circuit (with the lookup argument it needs) loads on first use, so ``import zkmargin``
does not pay for it.

May import :mod:`.cs` and :mod:`.margin`. Used by the API, the custodian workflow and the tests.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from . import margin as _margin
from .cs import ConstraintSystem

if TYPE_CHECKING:
    from zkmargin.rules.models import Account, Market, Policy

    from .margin.slots import SlotPlan

    #: The public plan of either layout.
    Plan = _margin.MarginPlan | SlotPlan


def plan_margin(policy: Policy, market: Market, threshold: Decimal) -> Plan:
    """The public plan of the policy's circuit (a :class:`~zkmargin.circuits.margin.MarginPlan`
    or a :class:`~zkmargin.circuits.margin.slots.SlotPlan`)."""
    if getattr(policy, "slots", None):
        from .margin import slots

        return slots.plan_slots(policy, market, threshold)
    return _margin.plan_margin(policy, market, threshold)


def witness_values(plan: Plan, account: Account) -> list[int]:
    """The committed values, slot by slot (prover only)."""
    from .margin import slots

    if isinstance(plan, slots.SlotPlan):
        return slots.slot_witness_values(plan, account)
    return _margin.witness_values(plan, account)


def build(plan: Plan, values: list[int] | None = None) -> ConstraintSystem:
    """The prover's circuit when ``values`` are given, else the verifier's."""
    from .margin import slots

    if isinstance(plan, slots.SlotPlan):
        return slots.build_slots(plan, values)
    return _margin.build(plan, values)
