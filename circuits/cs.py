"""Rank-1 constraint systems for Bulletproofs, in the shape of dalek's r1cs API.

A circuit is written once against :class:`ConstraintSystem`. The prover's instance carries values
(committed inputs ``v`` with blindings ``γ``, and every wire as it is allocated); the verifier's
carries the commitments ``V`` only. Gadgets never ask which one they run in: anything that needs a
value is a callable handed to :meth:`ConstraintSystem.allocate` / ``allocate_multiplier``, which the
prover calls and the verifier ignores.

The system is

    multiplication gates     a_L[i] · a_R[i] = a_O[i]                        (i < n)
    linear constraints       W_L·a_L + W_R·a_R + W_O·a_O = W_V·v + c          (q of them)

and every linear constraint is kept as a :class:`LinearCombination` that must equal zero.

Soundness guard: the builder tracks, for every wire it can, the interval of integers its value lies
in. A range check ``lc ∈ [0, 2^k)`` only proves something about the *integer* ``lc`` if no other
integer in ``lc``'s interval has the same residue mod r; :func:`check_no_wrap` refuses a circuit
where that could happen, and a range check over a combination of unbounded wires is refused too.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Iterable, Optional, Union

from zkmargin.errors import CircuitError, OverflowRiskError, UnsatisfiedError
from zkmargin.crypto.field import R, signed

# Variable kinds
ONE_KIND, V_KIND, L_KIND, R_KIND, O_KIND = 0, 1, 2, 3, 4
_KIND_NAMES = {ONE_KIND: "1", V_KIND: "v", L_KIND: "a_L", R_KIND: "a_R", O_KIND: "a_O"}


class Variable(tuple):
    """A wire: ``(kind, index)``. ``Variable.ONE`` is the constant 1."""

    __slots__ = ()

    def __new__(cls, kind: int, index: int = 0):
        return tuple.__new__(cls, (kind, index))

    @property
    def kind(self) -> int:
        return self[0]

    @property
    def index(self) -> int:
        return self[1]

    def __repr__(self) -> str:
        return "1" if self[0] == ONE_KIND else f"{_KIND_NAMES[self[0]]}[{self[1]}]"

    # arithmetic lifts to linear combinations
    def lc(self) -> "LinearCombination":
        return LinearCombination({self: 1})

    def __add__(self, other):
        return self.lc() + other

    __radd__ = __add__

    def __sub__(self, other):
        return self.lc() - other

    def __rsub__(self, other):
        return LinearCombination.of(other) - self.lc()

    def __mul__(self, k: int):
        return self.lc() * k

    __rmul__ = __mul__

    def __neg__(self):
        return -self.lc()


Variable.ONE = Variable(ONE_KIND, 0)  # type: ignore[attr-defined]
ONE = Variable.ONE  # type: ignore[attr-defined]


class LinearCombination:
    """``Σ coeff·var`` with coefficients in Z_r (the constant term is the coefficient of ONE)."""

    __slots__ = ("terms",)

    def __init__(self, terms: Optional[dict] = None):
        self.terms: dict = dict(terms) if terms else {}

    @staticmethod
    def of(x: "LCLike") -> "LinearCombination":
        if isinstance(x, LinearCombination):
            return x
        if isinstance(x, Variable):
            return LinearCombination({x: 1})
        if isinstance(x, int):
            return LinearCombination({ONE: x % R} if x % R else {})
        raise TypeError(f"cannot make a linear combination of {type(x).__name__}")

    def copy(self) -> "LinearCombination":
        return LinearCombination(self.terms)

    def __add__(self, other: "LCLike") -> "LinearCombination":
        out = dict(self.terms)
        for var, c in LinearCombination.of(other).terms.items():
            nc = (out.get(var, 0) + c) % R
            if nc:
                out[var] = nc
            else:
                out.pop(var, None)
        return LinearCombination(out)

    __radd__ = __add__

    def __neg__(self) -> "LinearCombination":
        return LinearCombination({v: (-c) % R for v, c in self.terms.items()})

    def __sub__(self, other: "LCLike") -> "LinearCombination":
        return self + (-LinearCombination.of(other))

    def __rsub__(self, other: "LCLike") -> "LinearCombination":
        return LinearCombination.of(other) - self

    def __mul__(self, k: int) -> "LinearCombination":
        if not isinstance(k, int):
            raise TypeError("a linear combination can only be scaled by a public integer")
        k %= R
        if k == 0:
            return LinearCombination()
        return LinearCombination({v: c * k % R for v, c in self.terms.items()})

    __rmul__ = __mul__

    def __repr__(self) -> str:
        parts = [f"{signed(c)}·{v!r}" for v, c in self.terms.items()]
        return " + ".join(parts) or "0"


LCLike = Union[LinearCombination, Variable, int]


def _as_int(value, what: str) -> int:
    """Witness values are integers; a float or Decimal is a bug upstream, never rounded here."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise CircuitError(f"{what}: witness values must be integers, got {type(value).__name__}")
    return value


def check_no_wrap(lo: int, hi: int, bits: int, what: str) -> None:
    """``lc ≡ s (mod r)`` with ``s ∈ [0, 2^bits)`` implies ``lc = s`` as integers iff no other
    representative fits in ``[lo, hi]``: ``hi < r`` and ``lo > 2^bits − 1 − r``."""
    if hi >= R or lo <= (1 << bits) - 1 - R:
        raise OverflowRiskError(
            f"{what}: the range-checked combination spans [{lo}, {hi}], which could wrap modulo the group order"
        )


class ConstraintSystem:
    """One class, two roles; see the module docstring."""

    def __init__(self, *, prover: bool, values: Optional[list[int]] = None, m: int | None = None):
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
        self._pending: Optional[int] = None
        self.inputs = [Variable(V_KIND, j) for j in range(self.m)]
        # Wires whose value is unconstrained until a range check defines it: committed inputs and
        # allocated wires. A multiplication output is *not* definable: its value is fixed by the
        # gate, so a range check over it means something only if its integer bound is known.
        self.definable: set[Variable] = set(self.inputs)

    # --- construction -----------------------------------------------------------------------

    @classmethod
    def for_prover(cls, values: Iterable[int]) -> "ConstraintSystem":
        return cls(prover=True, values=[_as_int(v, "committed value") % R for v in values])

    @classmethod
    def for_verifier(cls, m: int) -> "ConstraintSystem":
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
        l, r, o = Variable(L_KIND, i), Variable(R_KIND, i), Variable(O_KIND, i)
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

    def allocate(self, assign: Optional[Callable[[], int]]) -> Variable:
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
        self, assign: Optional[Callable[[], tuple[int, int]]]
    ) -> tuple[Variable, Variable, Variable]:
        """A gate with free inputs ``(l, r)`` and output ``o = l·r``."""
        left = right = 0
        if self.is_prover:
            if assign is None:
                raise CircuitError("the prover needs values for every allocated multiplier")
            left, right = assign()
            left, right = _as_int(left, "multiplier input"), _as_int(right, "multiplier input")
        i = self._new_gate(left, right)
        l, r = Variable(L_KIND, i), Variable(R_KIND, i)
        self.definable.update((l, r))
        return l, r, Variable(O_KIND, i)

    def constrain(self, lc: LCLike, label: str = "") -> None:
        """Require ``lc = 0``."""
        lc = LinearCombination.of(lc)
        self.constraints.append(lc)
        self.labels.append(label)

    # --- bounds -----------------------------------------------------------------------------

    def mark_definable(self, var: Variable) -> None:
        """Let a range check define ``var`` (gadgets that know why it is sound, e.g. abs_value)."""
        self.definable.add(var)

    def set_bound(self, var: Variable, lo: int, hi: int) -> None:
        if hi - lo >= R:
            raise OverflowRiskError(f"bound of {var!r} is wider than the group order")
        old = self.bounds.get(var)
        if old is not None:
            lo, hi = max(lo, old[0]), min(hi, old[1])
        self.bounds[var] = (lo, hi)

    def bound(self, lc: LCLike) -> Optional[tuple[int, int]]:
        """Integer interval of ``lc`` (coefficients read as signed representatives), or None when
        it involves a wire with no known bound."""
        lo = hi = 0
        for var, c in LinearCombination.of(lc).terms.items():
            b = self.bounds.get(var)
            if b is None:
                return None
            c = signed(c)
            x, y = c * b[0], c * b[1]
            lo += min(x, y)
            hi += max(x, y)
        return lo, hi

    # --- finishing --------------------------------------------------------------------------

    def check_witness(self) -> None:
        """Prover only: every gate and every linear constraint holds; else UnsatisfiedError naming
        the first failing constraint by its label (never by its values)."""
        if not self.is_prover:
            raise CircuitError("check_witness() is the prover's")
        for i in range(self.n):
            if self.a_L[i] * self.a_R[i] % R != self.a_O[i]:
                raise UnsatisfiedError(f"multiplication gate {i} is not satisfied")
        for k, lc in enumerate(self.constraints):
            if self.eval(lc) != 0:
                label = self.labels[k] or f"constraint {k}"
                raise UnsatisfiedError(f"the witness does not satisfy: {label}")

    def padded_n(self) -> int:
        return 1 << max(0, (self.n - 1).bit_length()) if self.n > 0 else 1

    def digest(self) -> bytes:
        """SHA-256 of the circuit itself: n, m, q and every weight of W_L, W_R, W_O, W_V and c
        (each constraint's terms in a canonical order). Prover and verifier compute it
        independently; the transcript binds it before the first challenge. Cached until the
        circuit changes."""
        key = (self.n, self.m, len(self.constraints))
        cached = getattr(self, "_digest", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        h = hashlib.sha256()
        h.update(b"zkmargin.circuit/1\x00")
        h.update(self.n.to_bytes(8, "big") + self.m.to_bytes(8, "big") + len(self.constraints).to_bytes(8, "big"))
        for lc in self.constraints:
            items = sorted(lc.terms.items())
            h.update(len(items).to_bytes(4, "big"))
            h.update(
                b"".join(bytes((var[0],)) + var[1].to_bytes(4, "big") + c.to_bytes(32, "big") for var, c in items)
            )
        self._digest = (key, h.digest())
        return self._digest[1]

    def _columns(self):
        """The constraints as flat lists per wire kind, split by coefficient: +1 entries, −1
        entries and the rest (most coefficients are ±1, which need no multiplication). Cached."""
        cached = getattr(self, "_cols", None)
        if cached is not None and cached[0] == len(self.constraints):
            return cached[1]
        minus_one = R - 1
        cols: dict[int, tuple[list, list, list, list, list, list, list]] = {
            k: ([], [], [], [], [], [], []) for k in (ONE_KIND, V_KIND, L_KIND, R_KIND, O_KIND)
        }
        for q, lc in enumerate(self.constraints):
            for (kind, index), c in lc.terms.items():
                plus_q, plus_i, minus_q, minus_i, gen_q, gen_i, gen_c = cols[kind]
                if c == 1:
                    plus_q.append(q)
                    plus_i.append(index)
                elif c == minus_one:
                    minus_q.append(q)
                    minus_i.append(index)
                else:
                    gen_q.append(q)
                    gen_i.append(index)
                    gen_c.append(c)
        self._cols = (len(self.constraints), cols)
        return cols

    def flatten(self, z: int, n: int):
        """Collapse the q constraints with powers of z (constraint q gets weight z^(q+1)):

            w_L = z^Q·W_L,  w_R = z^Q·W_R,  w_O = z^Q·W_O,  w_V = z^Q·W_V,  w_c = <z^Q, c>

        where our constraints read Σ terms = 0, so W_V = −(coefficients of v) and c = −(constant).
        Vectors w_L, w_R, w_O have length n (the padded gate count)."""
        cols = self._columns()
        zq = [0] * len(self.constraints)
        acc = z % R
        for q in range(len(zq)):
            zq[q] = acc
            acc = acc * z % R

        def collapse(kind: int, size: int) -> list:
            plus_q, plus_i, minus_q, minus_i, gen_q, gen_i, gen_c = cols[kind]
            vec = [0] * size
            for q, i in zip(plus_q, plus_i):
                vec[i] += zq[q]
            for q, i in zip(minus_q, minus_i):
                vec[i] -= zq[q]
            for q, i, c in zip(gen_q, gen_i, gen_c):
                vec[i] += zq[q] * c
            return [x % R for x in vec]

        w_L = collapse(L_KIND, n)
        w_R = collapse(R_KIND, n)
        w_O = collapse(O_KIND, n)
        w_V = [(-x) % R for x in collapse(V_KIND, self.m)]
        w_c = (-sum(collapse(ONE_KIND, 1))) % R
        return w_L, w_R, w_O, w_V, w_c

    def stats(self) -> dict:
        return {
            "multipliers": self.n,
            "padded": self.padded_n(),
            "constraints": len(self.constraints),
            "committed": self.m,
            "nonzeros": sum(len(lc.terms) for lc in self.constraints),
        }
