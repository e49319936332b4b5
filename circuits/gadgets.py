"""Gadgets over :class:`~zkmargin.circuits.cs.ConstraintSystem`.

Each gadget is written once; witness values are computed only inside the callables passed to
``allocate``/``allocate_multiplier`` (the prover runs them, the verifier does not).

Gate counts: ``boolean`` 1, ``range_check`` k (one per bit), ``unsigned`` k, ``signed_range`` k,
``abs_value`` k + 2, ``geq`` k, ``product`` 1.

Imports :mod:`.cs`, :mod:`zkmargin.errors` and :mod:`zkmargin.crypto.field`. Used by the margin
circuits, the benchmarks and the tests.
"""

from __future__ import annotations

from collections.abc import Callable

from zkmargin.crypto.field import R
from zkmargin.errors import CircuitError, OverflowRiskError

from .cs import ConstraintSystem, LCLike, LinearCombination, Variable, check_no_wrap

MAX_RANGE_BITS = 250


def boolean(cs: ConstraintSystem, assign: Callable[[], int] | None, label: str = "bit") -> Variable:
    """A wire constrained to {0, 1}: ``b·(1 − b) = 0`` on one gate (a_L = b, a_R = 1 − b)."""

    def both() -> tuple[int, int]:
        b = int(assign()) if assign is not None else 0
        return b, 1 - b

    a_l, a_r, a_o = cs.allocate_multiplier(both if cs.is_prover else None)
    cs.constrain(a_o, f"{label}: b·(1−b) = 0")
    cs.constrain(a_l + a_r - 1, f"{label}: a_R = 1 − a_L")
    cs.set_bound(a_l, 0, 1)
    cs.set_bound(a_r, 0, 1)
    cs.set_bound(a_o, 0, 0)
    return a_l


def range_check(cs: ConstraintSystem, lc: LCLike, bits: int, label: str) -> list[Variable]:
    """Constrain the integer value of ``lc`` to ``[0, 2^bits)``.

    ``lc`` must either have a known integer interval that cannot wrap modulo r (checked), or be
    ``±x + (bounded part)`` for a single unbounded wire ``x`` — then the check *defines* x's range
    and the bound is recorded. Returns the bit wires, least significant first.
    """
    if not 1 <= bits <= MAX_RANGE_BITS:
        raise CircuitError(f"{label}: range width {bits} is outside 1..{MAX_RANGE_BITS}")
    lc = LinearCombination.of(lc)
    interval = cs.bound(lc)
    free = None
    rest_bound = None
    if interval is None:
        unbounded = [(v, c) for v, c in lc.terms.items() if v not in cs.bounds]
        if len(unbounded) != 1 or unbounded[0][1] not in _UNITS:
            raise CircuitError(f"{label}: range check over a combination of unbounded wires")
        if unbounded[0][0] not in cs.definable:
            raise OverflowRiskError(
                f"{label}: range check over a gate output with no safe bound (its integer value could wrap modulo the group order)"
            )
        free = unbounded[0]
        rest = LinearCombination({v: c for v, c in lc.terms.items() if v != free[0]})
        rest_bound = cs.bound(rest)
        assert rest_bound is not None
    else:
        check_no_wrap(interval[0], interval[1], bits, label)

    def bit_values() -> list[int]:
        value = cs.eval(lc)
        return [(value >> i) & 1 for i in range(bits)]

    cache: list[list[int]] = []

    def bit(i: int) -> Callable[[], int]:
        def assign() -> int:
            if not cache:
                cache.append(bit_values())
            return cache[0][i]

        return assign

    total = LinearCombination()
    bit_wires = []
    for i in range(bits):
        b = boolean(cs, bit(i) if cs.is_prover else None, f"{label} bit {i}")
        bit_wires.append(b)
        total = total + b * (1 << i)
    cs.constrain(lc - total, f"{label}: value within {bits} bits")

    if free is not None:
        assert rest_bound is not None  # set with free above
        var, coef = free
        lo_r, hi_r = rest_bound
        s_lo, s_hi = 0, (1 << bits) - 1
        # coef·x + rest = s  ⇒  x = ±(s − rest)
        if coef == 1:  # x = s − rest
            lo, hi = s_lo - hi_r, s_hi - lo_r
        else:  # x = rest − s
            lo, hi = lo_r - s_hi, hi_r - s_lo
        cs.set_bound(var, lo, hi)
    return bit_wires


_UNITS = (1, R - 1)


def unsigned(cs: ConstraintSystem, assign: Callable[[], int] | None, bits: int, label: str) -> Variable:
    """A fresh wire with value in ``[0, 2^bits)``."""
    x = cs.allocate(assign if cs.is_prover else None)
    range_check(cs, x, bits, label)
    return x


def signed_range(cs: ConstraintSystem, lc: LCLike, bits: int, label: str) -> None:
    """Constrain ``lc`` to ``[−2^(bits−1), 2^(bits−1))``."""
    if not 1 <= bits <= MAX_RANGE_BITS:
        raise CircuitError(f"{label}: range width {bits} is outside 1..{MAX_RANGE_BITS}")
    range_check(cs, LinearCombination.of(lc) + (1 << (bits - 1)), bits, label)


def abs_value(
    cs: ConstraintSystem, x: LCLike, bits: int, label: str, bits_out: list[Variable] | None = None
) -> tuple[Variable, Variable]:
    """``(|x|, s)`` with sign bit s (1 when x < 0) and ``|x| = x·(1 − 2s) ∈ [0, 2^bits)``;
    ``bits_out``, when given, receives the bit wires of ``|x|`` (least significant first).

    Sound: s is boolean, so ``|x| = ±x``; the range check makes it the non-negative one, which also
    bounds ``x`` to ``(−2^bits, 2^bits)``. Gates: 1 (sign) + 1 (product) + bits.
    """
    if not 1 <= bits <= MAX_RANGE_BITS:
        raise CircuitError(f"{label}: range width {bits} is outside 1..{MAX_RANGE_BITS}")
    x = LinearCombination.of(x)
    single = None
    if len(x.terms) == 1:
        (var, coef), = x.terms.items()
        if coef == 1 and var not in cs.bounds and var in cs.definable:
            single = var
    if cs.bound(x) is None and single is None:
        raise OverflowRiskError(f"{label}: |x| of a combination with no safe bound")
    s = boolean(cs, (lambda: 1 if cs.eval_signed(x) < 0 else 0) if cs.is_prover else None, f"{label} sign")
    _, _, magnitude = cs.multiply(x, 1 - 2 * s)
    if single is not None:
        # |x| = ±x for a free wire x: range-checking |x| defines x (and bounds it below)
        cs.mark_definable(magnitude)
    wires = range_check(cs, magnitude, bits, f"{label} |x|")
    if bits_out is not None:
        bits_out.extend(wires)
    if single is not None:
        cs.set_bound(single, -((1 << bits) - 1), (1 << bits) - 1)
    return magnitude, s


def is_nonzero(cs: ConstraintSystem, x: LCLike, label: str) -> Variable:
    """The wire ``g = [x ≠ 0]`` for a bounded ``x``: ``g = x·inv`` and ``x·(1 − g) = 0``.

    If x ≠ 0 the second gate forces g = 1 (the prover supplies inv = x⁻¹); if x = 0 the first gives
    g = 0 whatever inv is. Gates: 2, plus half a gate for inv."""
    x = LinearCombination.of(x)
    inv_wire = cs.allocate((lambda: pow(cs.eval(x), -1, R) if cs.eval(x) else 0) if cs.is_prover else None)
    _, _, g = cs.multiply(x, inv_wire)
    _, _, o = cs.multiply(x, 1 - LinearCombination.of(g))
    cs.constrain(o, f"{label}: x·(1 − [x≠0]) = 0")
    cs.set_bound(g, 0, 1)
    return g


def geq(cs: ConstraintSystem, a: LCLike, b: LCLike, bits: int, label: str) -> None:
    """``a ≥ b`` for bounded a, b, by ``a − b ∈ [0, 2^bits)``; ``bits`` must cover ``max(a − b)``
    for completeness (the no-wrap rule guards soundness whatever it is)."""
    diff = LinearCombination.of(a) - LinearCombination.of(b)
    if cs.bound(diff) is None:
        raise CircuitError(f"{label}: comparison of unbounded values")
    range_check(cs, diff, bits, label)


def product(cs: ConstraintSystem, a: LCLike, b: LCLike) -> Variable:
    """The wire ``a·b`` (one gate)."""
    return cs.multiply(a, b)[2]


def upper_bound(cs: ConstraintSystem, lc: LCLike, what: str) -> int:
    """The largest integer value ``lc`` can take (from the bounds the builder tracks); a
    :class:`CircuitError` when ``lc`` has no bound (an internal error: every quantity a circuit
    compares is bounded by the range checks before it)."""
    bound = cs.bound(lc)
    if bound is None:
        raise CircuitError(f"internal: {what} has no bound")
    return bound[1]


def bits_for(upper: int) -> int:
    """Smallest k with ``upper < 2^k`` (at least 1)."""
    return max(1, int(upper).bit_length())
