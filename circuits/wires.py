"""Wires and linear combinations of a constraint system.

A wire is a :class:`Variable` ``(kind, index)``: the constant 1 (:data:`ONE`), a committed value
``v[j]``, or the left input, right input or output of multiplication gate ``i``
(``a_L[i]``, ``a_R[i]``, ``a_O[i]``). A :class:`LinearCombination` is ``Σ coeff·var`` with
coefficients in ``Z_r`` (the constant term is the coefficient of :data:`ONE`); arithmetic on
variables and integers lifts to linear combinations, and only public integers may scale them.

May import :mod:`zkmargin.crypto.field`. Used by :mod:`.system` (the constraint system), the
gadgets, the lookups and the margin circuit, through :mod:`.cs`.
"""

from __future__ import annotations

from typing import ClassVar

from zkmargin.crypto.field import R, signed

# Variable kinds
ONE_KIND, V_KIND, L_KIND, R_KIND, O_KIND = 0, 1, 2, 3, 4
_KIND_NAMES = {ONE_KIND: "1", V_KIND: "v", L_KIND: "a_L", R_KIND: "a_R", O_KIND: "a_O"}


class Variable(tuple[int, int]):
    """A wire: ``(kind, index)``. ``Variable.ONE`` is the constant 1."""

    __slots__ = ()

    ONE: ClassVar[Variable]

    def __new__(cls, kind: int, index: int = 0) -> Variable:
        return tuple.__new__(cls, (kind, index))

    @property
    def kind(self) -> int:
        return self[0]

    @property
    def index(self) -> int:  # type: ignore[override]  # the wire's number, not tuple.index
        return self[1]

    def __repr__(self) -> str:
        return "1" if self[0] == ONE_KIND else f"{_KIND_NAMES[self[0]]}[{self[1]}]"

    # arithmetic lifts to linear combinations
    def lc(self) -> LinearCombination:
        return LinearCombination({self: 1})

    def __add__(self, other: LCLike) -> LinearCombination:  # type: ignore[override]
        return self.lc() + other

    __radd__ = __add__

    def __sub__(self, other: LCLike) -> LinearCombination:
        return self.lc() - other

    def __rsub__(self, other: LCLike) -> LinearCombination:
        return LinearCombination.of(other) - self.lc()

    def __mul__(self, k: int) -> LinearCombination:  # type: ignore[override]
        return self.lc() * k

    __rmul__ = __mul__  # type: ignore[assignment]

    def __neg__(self) -> LinearCombination:
        return -self.lc()


Variable.ONE = Variable(ONE_KIND, 0)
ONE = Variable.ONE


class LinearCombination:
    """``Σ coeff·var`` with coefficients in Z_r (the constant term is the coefficient of ONE)."""

    __slots__ = ("terms",)

    def __init__(self, terms: dict[Variable, int] | None = None):
        self.terms: dict[Variable, int] = dict(terms) if terms else {}

    @staticmethod
    def of(x: LCLike) -> LinearCombination:
        if isinstance(x, LinearCombination):
            return x
        if isinstance(x, Variable):
            return LinearCombination({x: 1})
        if isinstance(x, int):
            return LinearCombination({ONE: x % R} if x % R else {})
        raise TypeError(f"cannot make a linear combination of {type(x).__name__}")

    def copy(self) -> LinearCombination:
        return LinearCombination(self.terms)

    def __add__(self, other: LCLike) -> LinearCombination:
        out = dict(self.terms)
        for var, c in LinearCombination.of(other).terms.items():
            nc = (out.get(var, 0) + c) % R
            if nc:
                out[var] = nc
            else:
                out.pop(var, None)
        return LinearCombination(out)

    __radd__ = __add__

    def __neg__(self) -> LinearCombination:
        return LinearCombination({v: (-c) % R for v, c in self.terms.items()})

    def __sub__(self, other: LCLike) -> LinearCombination:
        return self + (-LinearCombination.of(other))

    def __rsub__(self, other: LCLike) -> LinearCombination:
        return LinearCombination.of(other) - self

    def __mul__(self, k: int) -> LinearCombination:
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


LCLike = LinearCombination | Variable | int
