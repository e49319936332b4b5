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
    from zkmargin.rules.models.coverage import leg_key, order_totals

    from .coverage_plan import inverse_cost_key

    held = {leg_key(p.symbol, p.side): p for p in account.positions}
    sizes = {}
    entries = {}
    inverse_cost: dict[str, int] = {}
    for ip in plan.instruments:
        pos = held.get(ip.key)
        sizes[ip.key] = to_fixed(pos.size, plan.ds) if pos else 0
        entries[ip.key] = to_fixed(pos.entry_price, plan.dp) if pos else 0
        if ip.inv is not None:
            # B = Σ q·cs·ρ(entry), ρ rounded against the trader (the engine's reciprocal)
            from zkmargin.rules.engine.inverse import reciprocal

            key = f"cost:{inverse_cost_key(ip.inv.settle)}"
            rho = 0
            if pos is not None and pos.size != 0:
                rho = to_fixed(reciprocal(pos.entry_price, plan.drho, pos.size < 0), plan.drho)
            inverse_cost[key] = inverse_cost.get(key, 0) + sizes[ip.key] * ip.inv.cs * rho
            del entries[ip.key]  # not in the linear cost basis
    if plan.orders:
        for sym, d in order_totals(account).items():
            sizes[sym + "#buy"] = to_fixed(d["buy"], plan.ds)
            sizes[sym + "#sell"] = to_fixed(d["sell"], plan.ds)
    values = []
    for slot in plan.slots:
        if slot.name in inverse_cost:
            values.append(inverse_cost[slot.name])
        elif slot.kind == "size":
            values.append(sizes.get(slot.key, 0))
        elif slot.kind == "entry":
            values.append(entries[slot.key])
        elif slot.kind == "isolated":
            # the engine counts isolated margin only where a position is held
            iso = account.isolated_margin.get(slot.key, Decimal(0)) if slot.key in held else Decimal(0)
            values.append(to_fixed(iso, plan.da))
        elif slot.kind == "cost":
            values.append(sum(sizes[s] * entries[s] for s in entries))
        else:
            values.append(to_fixed(account.balances.get(slot.key, Decimal(0)), plan.da))
    return values
