"""Margin circuits: a policy and a market snapshot (public) compiled into one R1CS circuit.

The circuit's shape depends on public data only — one slot per instrument of the policy's universe
and per collateral asset, zero where nothing is held — so it hides which instruments are held.

Committed inputs (the "slots"), in this order:

    cross, portfolio   q_i (signed size, every instrument), C (cost basis Σ q_i·entry_i), b_j
    isolated           q_i, entry_i, iso_i (every instrument), b_j

Everything is an integer at a declared scale (docs/notes/margin-circuits.md): sizes at ds, prices
at dp, rates at dr, amounts at da. Products carry combined scales; sums are lifted to a common
scale with public powers of ten. The circuit proves

    E·10^(Z−s_E) ≥ (10^dr + buffer)·REQ·10^(Z−s_R−dr) + T·10^(Z−da)

and, in isolated mode, one such inequality per position. Rules that a venue states as a maximum
(brackets are convex, scenario margin is a max, rounding up) become inequalities the prover cannot
win by overstating; concave collateral tiers and brackets select their piece with one-hot bits and
two range checks that pin the private quantity inside the selected piece.

The package holds the plan, then one module per rule family, then the circuit that composes them:

    plan.py         MarginPlan: policy + market + threshold as integers at declared scales, slots
    witness.py      the committed values from an account (prover only)
    positions.py    sizes, PnL, flat / size-scaled / bracket requirements, the cost-basis bounds
    pieces.py       piece selection for brackets and collateral tiers
    collateral.py   haircut value of the balances, flat or tiered
    rounding.py     the policy's rounding of a requirement
    portfolio.py    scenario margin: the worst loss over the policy's scenario table
    isolated.py     each position's own equity and inequality
    coverage_plan.py  public numbers of hedge legs, inverse contracts, option standard margin
    coverage.py     hedge legs, inverse contracts, option standard margin, open orders
    circuit.py      margin_circuit and build: the statement, composed from the above

A new rule is a new module beside its siblings, composed in ``circuit.py``. Modules here may import
:mod:`zkmargin.circuits.cs`, :mod:`zkmargin.circuits.gadgets`, :mod:`zkmargin.crypto.field`,
:mod:`zkmargin.rules`, :mod:`zkmargin.rules.models` and :mod:`zkmargin.errors`; never the prover, the
verifier or the API. Used by the API, the workflows and the tests, through the names below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .plan import CollateralPlan, InstrumentPlan, MarginPlan, Slot, plan_margin
from .witness import witness_values

if TYPE_CHECKING:
    from ..cs import ConstraintSystem


# The circuit and its rule families load on first use, not with ``import zkmargin`` (which only
# needs the plan): that keeps the split package as quick to import as the single module was.


def build(plan: MarginPlan, values: list[int] | None = None) -> ConstraintSystem:
    """The margin circuit for ``plan`` (:func:`.circuit.build`): the prover's when ``values`` are
    given, else the verifier's."""
    from .circuit import build as build_circuit

    return build_circuit(plan, values)


def margin_circuit(cs: ConstraintSystem, plan: MarginPlan) -> None:
    """The margin statement added to ``cs`` (:func:`.circuit.margin_circuit`)."""
    from .circuit import margin_circuit as add_margin_circuit

    add_margin_circuit(cs, plan)

__all__ = [
    "CollateralPlan",
    "InstrumentPlan",
    "MarginPlan",
    "Slot",
    "build",
    "margin_circuit",
    "plan_margin",
    "witness_values",
]
