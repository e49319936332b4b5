"""The prover's committed values, slot by slot, from a validated account.

May import :mod:`zkmargin.rules.decimals` and :mod:`.plan`. Used by the API (``prove``) and the
custodian workflows (commitments to the same values); never by a verifier.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from zkmargin.rules.decimals import to_fixed

from .plan import MarginPlan

if TYPE_CHECKING:
    from zkmargin.rules.models import Account


def witness_values(plan: MarginPlan, account: Account) -> list[int]:
    """The committed values, slot by slot, from a validated account (prover only)."""
    held = {p.symbol: p for p in account.positions}
    sizes = {}
    entries = {}
    for ip in plan.instruments:
        pos = held.get(ip.symbol)
        sizes[ip.symbol] = to_fixed(pos.size, plan.ds) if pos else 0
        entries[ip.symbol] = to_fixed(pos.entry_price, plan.dp) if pos else 0
    values = []
    for slot in plan.slots:
        if slot.kind == "size":
            values.append(sizes[slot.key])
        elif slot.kind == "entry":
            values.append(entries[slot.key])
        elif slot.kind == "isolated":
            # the engine counts isolated margin only where a position is held
            iso = account.isolated_margin.get(slot.key, Decimal(0)) if slot.key in held else Decimal(0)
            values.append(to_fixed(iso, plan.da))
        elif slot.kind == "cost":
            values.append(sum(sizes[s] * entries[s] for s in sizes))
        else:
            values.append(to_fixed(account.balances.get(slot.key, Decimal(0)), plan.da))
    return values
