"""Shared helpers of the red-team tests (tests/test_redteam_*.py): a cheating prover that runs its own
code.

The honest prover computes every wire inside a witness callable handed to ``allocate`` /
``allocate_multiplier``; everything downstream (bits, limbs, products) is computed lazily from
those values. A cheater that replaces one callable's value therefore gets a *consistent* forged
witness — every derived wire follows — and the only thing that can stop it is a constraint.
:class:`TamperCS` does that: ``tamper`` maps a substring of the callable's ``__qualname__`` (e.g.
``"order_requirement.<locals>.worst"``) to a function of the honest value and the number of
calls of that callable so far.

Like r1cs_helpers, this module is imported after ``sys.path.insert(0, tests/)``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from decimal import Decimal

from zkmargin.circuits.cs import ConstraintSystem
from zkmargin.circuits.layouts import plan_margin
from zkmargin.crypto.backends import get_backend
from zkmargin.crypto.field import R
from zkmargin.errors import UnsatisfiedError
from zkmargin.prover.r1cs import prove
from zkmargin.rules.models import load_account, load_market, load_policy
from zkmargin.verifier.r1cs import verify

ARK = get_backend("arkworks")

Tamper = dict[str, Callable[[int, int], int]]


class TamperCS(ConstraintSystem):
    """A prover's constraint system whose witness callables can be overridden (module docstring)."""

    tamper: Tamper = {}

    def _twist(self, assign: Callable | None) -> Callable | None:
        if assign is None:
            return None
        name = getattr(assign, "__qualname__", "")
        for key, fn in self.tamper.items():
            if key in name:
                counts = self.__dict__.setdefault("_counts", {})

                def twisted(assign=assign, key=key, fn=fn, counts=counts):
                    k = counts.get(key, 0)
                    counts[key] = k + 1
                    return fn(assign(), k)

                return twisted
        return assign

    def allocate(self, assign):  # type: ignore[override]
        return super().allocate(self._twist(assign))

    def allocate_multiplier(self, assign):  # type: ignore[override]
        return super().allocate_multiplier(self._twist(assign))


def load(case: dict, threshold=None):
    """(policy, market, account, threshold) as models and a Decimal."""
    p = load_policy(case["policy"])
    m = load_market(case["market"], p)
    a = load_account(case["account"], p)
    return p, m, a, Decimal(case["threshold"] if threshold is None else threshold)


def plan_of(case: dict, threshold=None):
    p, m, a, t = load(case, threshold)
    return plan_margin(p, m, t), a


def circuit_fn(plan) -> Callable:
    """The one definition of the plan's circuit (per-instrument or K-slot)."""
    from zkmargin.circuits.margin.circuit import margin_circuit
    from zkmargin.circuits.margin.slots import SlotPlan, slot_margin_circuit

    return slot_margin_circuit if isinstance(plan, SlotPlan) else margin_circuit


def prover_cs(plan, values: Sequence[int], tamper: Tamper | None = None) -> ConstraintSystem:
    cls = type("T", (TamperCS,), {"tamper": dict(tamper or {})})
    cs = cls.for_prover(values)
    circuit_fn(plan)(cs, plan)
    return cs


def verifier_cs(plan) -> ConstraintSystem:
    cs = ConstraintSystem.for_verifier(len(plan.slots))
    circuit_fn(plan)(cs, plan)
    return cs


def refusal(cs: ConstraintSystem) -> str | None:
    """None when the witness satisfies every constraint (both phases), else the refusal message."""
    try:
        cs.check_witness()
    except UnsatisfiedError as e:
        return str(e)
    return None


def forced_proof_verifies(plan, values: Sequence[int], tamper: Tamper | None = None) -> bool:
    """Prove the (possibly forged) witness with the witness check off and verify it against the
    verifier's own circuit: True if it verifies."""
    from zkmargin.errors import VerificationError

    cs = prover_cs(plan, values, tamper)
    proof, V = prove(cs, [secrets.randbelow(R - 1) + 1 for _ in values], (), ARK, check=False)
    try:
        verify(verifier_cs(plan), proof, V, (), ARK)
    except VerificationError:
        return False
    return True


def slot_index(plan, name: str) -> int:
    return plan.slot_names().index(name)


def flip_boolean(monkeypatch, module, labels: set[str], value: Callable[[int], int] = lambda b: 1 - b) -> None:
    """Make the prover assign ``value(honest bit)`` to the booleans named ``labels`` that ``module``
    allocates through its ``boolean`` (a sign bit, a piece flag): the cheater's choice of a bit."""
    real = module.boolean

    def boolean(cs, assign, label="bit"):
        if label in labels and assign is not None:
            return real(cs, lambda: value(int(assign())), label)
        return real(cs, assign, label)

    monkeypatch.setattr(module, "boolean", boolean)
