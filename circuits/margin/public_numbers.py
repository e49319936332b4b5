"""The public numbers of a margin plan against the group order: none may be read as another number.

A constraint's coefficients live in ``Z_r``; when the builder bounds a range-checked combination
(the no-wrap check, :mod:`zkmargin.circuits.bounds`) it reads each coefficient as its signed
representative in ``(−r/2, r/2)``. A public integer outside that interval is silently reduced and
read as another number: a mark of ``r + 300000`` ticks is read as ``300000`` (3,000.00), and the
circuit then proves the statement at that mark, not the venue's — an account the engine refuses
(a short at the astronomical mark) is accepted (``tests/test_redteam_coverage.py::
test_a_mark_beyond_the_group_order_is_refused_not_reduced``). Two guards:

* :func:`check_public_numbers`: every integer a plan compiles (marks, prices, rates, bracket ends,
  rates and amounts, scenario P&L, option and inverse constants, collateral tiers, threshold,
  buffer, factor) lies in ``(−r/2, r/2)``; called by ``plan_margin`` (and so by ``plan_slots``);
* :func:`coefficient`: a coefficient formed *from* public numbers (a product, a lift by a power of
  ten) is checked where it is formed, before the linear combination reduces it — used by the rule
  families written against this guard (coverage, the K-slot circuit).

May import :mod:`zkmargin.crypto.field` and :mod:`zkmargin.errors`. Used by :mod:`.plan`,
:mod:`.coverage` and :mod:`.slots`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zkmargin.crypto.field import R
from zkmargin.errors import OverflowRiskError

if TYPE_CHECKING:
    from .plan import MarginPlan

HALF = R // 2


def coefficient(value: int, what: str) -> int:
    """``value`` itself when the builder reads it as itself (``|value| < r/2``), else refused."""
    if not -HALF < value < HALF:
        raise OverflowRiskError("the public number is at least half the group order and would be read modulo it",
                                field=what)
    return value


def _check(value: Any, what: str) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        coefficient(value, what)
    elif isinstance(value, (tuple, list)):
        for v in value:
            _check(v, what)


def check_public_numbers(plan: MarginPlan) -> None:
    """Refuse a plan with a public integer outside ``(−r/2, r/2)`` (module docstring)."""
    for name in ("buffer", "threshold", "factor"):
        _check(getattr(plan, name), name)
    for ip in plan.instruments:
        where = f"instruments.{ip.key}"
        _check(ip.mark, f"prices.{ip.symbol}" if ip.inv is None else f"{where}.inverse.unit")
        for name in ("rate", "per_size", "brackets", "pnl", "ratio", "fee", "opt"):
            _check(getattr(ip, name), f"{where}.{name}")
        if ip.inv is not None:
            for name in ("cs", "rho_up", "rho_down", "x"):
                _check(getattr(ip.inv, name), f"{where}.inverse.{name}")
    for cp in plan.collateral:
        _check(cp.price, f"prices.{cp.asset}")
        _check(cp.tiers, f"collateral.{cp.asset}.tiers")
