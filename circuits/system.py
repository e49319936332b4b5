"""The constraint system itself: one class, two roles (see :mod:`.cs` for the whole picture).

:class:`ConstraintSystem` holds the gates (``a_L·a_R = a_O``), the committed inputs and the linear
constraints; the prover's instance carries values, the verifier's none. It allocates wires and
gates, records constraints, registers the second phase's callbacks, tracks bounds
(:class:`~.bounds.WireBounds`) and knows its digest and flattened weights
(:class:`~.flatten.Flattening`).

May import :mod:`zkmargin.errors`, :mod:`zkmargin.crypto.field`, :mod:`.wires`, :mod:`.bounds`,
:mod:`.flatten` and, when the second phase runs, :mod:`.randomized`. Used by everything that
builds or proves a circuit, through :mod:`.cs`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from zkmargin.crypto.field import R, signed
from zkmargin.errors import CircuitError, UnsatisfiedError

from .bounds import WireBounds
from .flatten import Flattening
from .wires import (
    L_KIND,
    O_KIND,
    ONE,
    ONE_KIND,
    R_KIND,
    V_KIND,
    LCLike,
    LinearCombination,
    Variable,
)

if TYPE_CHECKING:
    from .randomized import RandomizedBlock, RandomizedCS


def _as_int(value: object, what: str) -> int:
    """Witness values are integers; a float or Decimal is a bug upstream, never rounded here."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise CircuitError(f"{what}: witness values must be integers, got {type(value).__name__}")
    return value


class ConstraintSystem(WireBounds, Flattening):
    """One class, two roles; see :mod:`zkmargin.circuits.cs`."""

    phase = 1

    def __init__(self, *, prover: bool, values: list[int] | None = None, m: int | None = None):
        self.is_prover = prover
        self.n = 0  # multiplication gates
        self.a_L: list[int] = []
        self.a_R: list[int] = []
        self.a_O: list[int] = []
        self.v: list[int] = list(values or []) if prover else []
        self.m = len(self.v) if prover else int(m or 0)
        self.constraints: list[LinearCombination] = []
        self.labels: list[str] = []
        self.bounds: dict[Variable, tuple[int, int]] = {ONE: (1, 1)}
        self._pending: int | None = None
        self.inputs = [Variable(V_KIND, j) for j in range(self.m)]
        # Wires whose value is unconstrained until a range check defines it: committed inputs and
        # allocated wires. A multiplication output is *not* definable: its value is fixed by the
        # gate, so a range check over it means something only if its integer bound is known.
        self.definable: set[Variable] = set(self.inputs)
        self.randomized: list[RandomizedBlock] = []

    # --- construction -----------------------------------------------------------------------

    @classmethod
    def for_prover(cls, values: Iterable[int]) -> ConstraintSystem:
        return cls(prover=True, values=[_as_int(v, "committed value") % R for v in values])

    @classmethod
    def for_verifier(cls, m: int) -> ConstraintSystem:
        return cls(prover=False, m=m)

    # --- values (prover only; gadgets use them inside assignment callables) --------------------

    def value(self, var: Variable) -> int:
        kind, i = var
        if kind == ONE_KIND:
            return 1
        if kind == V_KIND:
            return self.v[i]
        if kind == L_KIND:
            return self.a_L[i]
        if kind == R_KIND:
            return self.a_R[i]
        return self.a_O[i]

    def eval(self, lc: LCLike) -> int:
        """The field value of ``lc`` (prover only)."""
        if not self.is_prover:
            raise CircuitError("eval() is the prover's: the verifier has no values")
        total = 0
        for var, c in LinearCombination.of(lc).terms.items():
            total += c * self.value(var)
        return total % R

    def eval_signed(self, lc: LCLike) -> int:
        return signed(self.eval(lc))

    # --- wires ------------------------------------------------------------------------------

    def _new_gate(self, left: int, right: int) -> int:
        i = self.n
        self.n += 1
        if self.is_prover:
            self.a_L.append(left % R)
            self.a_R.append(right % R)
            self.a_O.append(left * right % R)
        return i

    def multiply(self, left: LCLike, right: LCLike) -> tuple[Variable, Variable, Variable]:
        """A gate ``l·r = o`` with ``l = left`` and ``r = right`` constrained."""
        left, right = LinearCombination.of(left), LinearCombination.of(right)
        if self.is_prover:
            i = self._new_gate(self.eval(left), self.eval(right))
        else:
            i = self._new_gate(0, 0)
        l, r, o = Variable(L_KIND, i), Variable(R_KIND, i), Variable(O_KIND, i)  # noqa: E741
        self.constrain(left - l, "multiply: left input")
        self.constrain(right - r, "multiply: right input")
        bl, br = self.bound(left), self.bound(right)
        if bl is not None:
            self.bounds[l] = bl
        if br is not None:
            self.bounds[r] = br
        if bl is not None and br is not None:
            corners = [bl[0] * br[0], bl[0] * br[1], bl[1] * br[0], bl[1] * br[1]]
            lo, hi = min(corners), max(corners)
            if hi - lo < R:
                self.bounds[o] = (lo, hi)
        return l, r, o

    def allocate(self, assign: Callable[[], int] | None) -> Variable:
        """A free wire (half a gate). The prover calls ``assign``; the verifier does not."""
        value = 0
        if self.is_prover:
            if assign is None:
                raise CircuitError("the prover needs a value for every allocated wire")
            value = _as_int(assign(), "allocated wire") % R
        if self._pending is None:
            i = self._new_gate(value, 0)
            self._pending = i
            var = Variable(L_KIND, i)
        else:
            i = self._pending
            self._pending = None
            if self.is_prover:
                self.a_R[i] = value
                self.a_O[i] = self.a_L[i] * value % R
            var = Variable(R_KIND, i)
        self.definable.add(var)
        return var

    def allocate_multiplier(
        self, assign: Callable[[], tuple[int, int]] | None
    ) -> tuple[Variable, Variable, Variable]:
        """A gate with free inputs ``(l, r)`` and output ``o = l·r``."""
        left = right = 0
        if self.is_prover:
            if assign is None:
                raise CircuitError("the prover needs values for every allocated multiplier")
            left, right = assign()
            left, right = _as_int(left, "multiplier input"), _as_int(right, "multiplier input")
        i = self._new_gate(left, right)
        l, r = Variable(L_KIND, i), Variable(R_KIND, i)  # noqa: E741
        self.definable.update((l, r))
        return l, r, Variable(O_KIND, i)

    def constrain(self, lc: LCLike, label: str = "") -> None:
        """Require ``lc = 0``."""
        lc = LinearCombination.of(lc)
        self.constraints.append(lc)
        self.labels.append(label)

    # --- the second phase -------------------------------------------------------------------

    def specify_randomized_constraints(
        self,
        callback: Callable[[RandomizedCS], None],
        *,
        gates: int,
        label: str,
        descriptor: bytes = b"",
        precheck: Callable[[], None] | None = None,
    ) -> None:
        """Run ``callback`` in phase 2, after every wire allocated in phase 1 is committed.

        The callback gets a :class:`~.randomized.RandomizedCS`: it draws challenges with
        ``challenge_scalar(label)`` and adds exactly ``gates`` multiplication gates and any number
        of constraints (their weights may use the challenges). Its challenges are sound only for
        claims about phase-1 wires and committed values, which are fixed before they are drawn.
        ``descriptor`` must name every public datum the callback reads (it enters the circuit
        digest, which the transcript binds before the first challenge)."""
        from .randomized import RandomizedBlock

        if self.phase != 1:
            raise CircuitError("randomized constraints cannot be registered in the second phase")
        if gates < 0:
            raise CircuitError("a randomized block declares a negative gate count")
        self.randomized.append(RandomizedBlock(label, int(gates), bytes(descriptor), callback, precheck))

    @property
    def phase2_gates(self) -> int:
        """Gates the registered phase-2 callbacks will add."""
        return sum(b.gates for b in self.randomized)

    @property
    def total_gates(self) -> int:
        """Multiplication gates of the whole circuit, both phases (padding excluded)."""
        return self.n + self.phase2_gates

    def randomize(self, challenge: Callable[[bytes], int]) -> RandomizedCS:
        """Phase 2: a copy of this system extended by every registered callback, in order, each
        drawing its challenges from ``challenge(label)`` (the transcript's ``challenge_scalar``).
        This system is left unchanged (a verifier reuses it for every proof)."""
        from .randomized import RandomizedCS

        rcs = RandomizedCS(self, challenge)
        for block in self.randomized:
            before = rcs.n
            block.callback(rcs)
            rcs._pending = None
            if rcs.n - before != block.gates:
                raise CircuitError(
                    f"randomized block {block.label!r} declared {block.gates} gates and added {rcs.n - before}"
                )
        return rcs

    # --- finishing --------------------------------------------------------------------------

    def _check_range(self, gates: range, constraints: range) -> None:
        for i in gates:
            if self.a_L[i] * self.a_R[i] % R != self.a_O[i]:
                raise UnsatisfiedError(f"multiplication gate {i} is not satisfied")
        for k in constraints:
            if self.eval(self.constraints[k]) != 0:
                label = self.labels[k] or f"constraint {k}"
                raise UnsatisfiedError(f"the witness does not satisfy: {label}")

    def check_witness(self, *, phase2: bool = True) -> None:
        """Prover only: every gate and every linear constraint holds; else UnsatisfiedError naming
        the first failing constraint by its label (never by its values).

        With registered phase-2 callbacks, their prechecks run, and (``phase2=True``) the callbacks
        run with fresh random challenges and their gates and constraints are checked too — what the
        prover will meet with the transcript's challenges, except with negligible probability."""
        if not self.is_prover:
            raise CircuitError("check_witness() is the prover's")
        self._check_range(range(self.n), range(len(self.constraints)))
        for block in self.randomized:
            if block.precheck is not None:
                block.precheck()
        if phase2 and self.randomized:
            self.randomize(lambda _label: secrets.randbelow(R - 1) + 1).check_witness()

    def padded_n(self) -> int:
        """The power of two the proof runs over: both phases' gates, padded."""
        n = self.total_gates
        return 1 << max(0, (n - 1).bit_length()) if n > 0 else 1

    def stats(self) -> dict[str, int]:
        return {
            "multipliers": self.total_gates,
            "padded": self.padded_n(),
            "constraints": len(self.constraints),
            "committed": self.m,
            "nonzeros": sum(len(lc.terms) for lc in self.constraints),
            "phase2_gates": self.phase2_gates,
        }
