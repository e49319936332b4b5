"""Exact gadgets for the venues' non-convex rules (SPAN spreads, Deribit's add-ons): a minimum, a
``max(0, x)``, a floor division by a public integer and a venue's rounding, each pinned so the
prover has exactly one witness — never an inequality it could slack — plus the worst scenario loss,
which may only be overstated. Why each is sound: ``docs/notes/span.md``.

    exact_min     m ≤ a, m ≤ b, (a − m)·(b − m) = 0                    m = min(a, b)
    exact_max0    e ≥ 0, e ≥ x, e·(e − x) = 0                          e = max(0, x)
    floor_div     0 ≤ a − n·d ≤ d − 1, n range-checked                 n = ⌊a / d⌋
    round_exact   up: 0 ≤ q·D − x ≤ D − 1; down: floor_div;
                  half_even: 0 ≤ x + D/2 − q·D ≤ D and, at a tie (t·(D − t) = 0), q even
    worst_loss    M ≥ 0, M ≥ loss_s for every distinct s               M ≥ max(0, max_s loss_s)

Every range check goes through the builder's no-wrap guard. The honest prover's values come from
the ``_*_value`` functions below (tests replace them to play a cheating prover). May import
:mod:`..cs` and :mod:`..gadgets`. Used by :mod:`.span` and :mod:`.deribit_pme`.
"""

from __future__ import annotations

from zkmargin.errors import CircuitError

from ..cs import ConstraintSystem, LinearCombination, Variable
from ..gadgets import bits_for, boolean, is_nonzero, range_check

LC = LinearCombination


def _worst_value(losses: list[int]) -> int:
    """The honest worst loss (at least 0)."""
    return max([0, *losses])


def _min_value(a: int, b: int) -> int:
    return min(a, b)


def _max0_value(x: int) -> int:
    return max(0, x)


def _floor_value(a: int, d: int) -> int:
    return a // d


def bounds(cs: ConstraintSystem, x: LC, what: str) -> tuple[int, int]:
    """The integer interval of ``x`` (a :class:`CircuitError` when it has none: every quantity
    these gadgets take is bounded by the range checks before it)."""
    b = cs.bound(x)
    if b is None:
        raise CircuitError(f"internal: {what} has no bound")
    return b


def worst_loss(cs: ConstraintSystem, losses: list[LC], label: str) -> Variable:
    """A wire ``M`` with ``M ≥ 0`` and ``M ≥ loss_s`` for every s (the prover may only overstate
    the worst loss, which only raises a requirement)."""
    hi = max([0] + [bounds(cs, loss, f"{label}: a scenario loss")[1] for loss in losses])

    def worst() -> int:
        return _worst_value([cs.eval_signed(loss) for loss in losses])

    M = cs.allocate(worst if cs.is_prover else None)
    range_check(cs, M, bits_for(hi), f"{label}: worst scenario loss")
    seen = set()
    for s, loss in enumerate(losses):
        key = tuple(sorted(loss.terms.items()))
        if key in seen:  # the same combination (e.g. a future's vol-up and vol-down rows): once
            continue
        seen.add(key)
        gap = LC.of(M) - loss
        range_check(cs, gap, bits_for(bounds(cs, gap, label)[1]), f"{label}: scenario {s} covered")
    return M


def exact_min(cs: ConstraintSystem, a: LC, b: LC, label: str) -> Variable:
    """The wire ``m = min(a, b)`` for bounded ``a``, ``b``: ``a − m`` and ``b − m`` are range-checked
    (m is at most both) and their product is zero (m equals one of them)."""
    la, ha = bounds(cs, a, label)
    lb, hb = bounds(cs, b, label)
    k = bits_for(max(1, ha - lb, hb - la))
    m = cs.allocate((lambda: _min_value(cs.eval_signed(a), cs.eval_signed(b))) if cs.is_prover else None)
    range_check(cs, a - m, k, f"{label}: min below the first")
    range_check(cs, b - m, k, f"{label}: min below the second")
    _, _, o = cs.multiply(a - m, b - m)
    cs.constrain(o, f"{label}: min is one of the two")
    # what the constraints imply: m is a or b (both factors are integers in [0, 2^k))
    cs.set_bound(m, min(la, lb), min(ha, hb))
    return m


def exact_max0(cs: ConstraintSystem, x: LC, label: str) -> Variable:
    """The wire ``e = max(0, x)`` for a bounded ``x``: ``e ≥ 0``, ``e ≥ x`` and ``e·(e − x) = 0``."""
    lo, hi = bounds(cs, x, label)
    e = cs.allocate((lambda: _max0_value(cs.eval_signed(x))) if cs.is_prover else None)
    range_check(cs, e, bits_for(max(1, hi)), f"{label}: not negative")
    range_check(cs, e - x, bits_for(max(1, hi - lo, -lo)), f"{label}: at least the value")
    _, _, o = cs.multiply(e, e - x)
    cs.constrain(o, f"{label}: zero or the value")
    cs.set_bound(e, 0, max(0, hi))  # e is 0 or x
    return e


def floor_div(cs: ConstraintSystem, a: LC, d: int, label: str) -> LC:
    """``n = ⌊a / d⌋`` for a bounded ``a`` and a public ``d > 0``: ``n`` range-checked and
    ``0 ≤ a − n·d ≤ d − 1`` (two range checks: the remainder is pinned from both sides). The
    constraints also prove ``a ≥ 0`` (``a = n·d + remainder``), whatever the interval the builder
    tracks for ``a``."""
    if d <= 0:
        raise CircuitError(f"internal: {label}: division by {d}")
    if d == 1:
        return LC.of(a)
    _, hi = bounds(cs, a, label)
    n = cs.allocate((lambda: _floor_value(cs.eval_signed(a), d)) if cs.is_prover else None)
    range_check(cs, n, bits_for(max(1, hi // d)), f"{label}: quotient")
    rem = a - n * d
    k = bits_for(d - 1)
    range_check(cs, rem, k, f"{label}: remainder not negative")
    range_check(cs, (d - 1) - rem, k, f"{label}: remainder below the divisor")
    return LC.of(n)


def _round_value(x: int, D: int, mode: str) -> int:
    """``x / D`` rounded to an integer as ``mode`` says (the prover's value)."""
    q, r = divmod(x, D)
    if mode == "down":
        return q
    if mode == "up":
        return q + (1 if r else 0)
    if 2 * r > D or (2 * r == D and q % 2 == 1):
        return q + 1
    return q


def round_exact(cs: ConstraintSystem, x: LC, D: int, mode: str, label: str) -> LC:
    """``q·D`` where ``q`` is ``x / D`` rounded as the venue says (``up``, ``down``, ``half_even``),
    for a bounded ``x ≥ 0`` and ``D = 10^k``: the prover has exactly one ``q``."""
    if D == 1:
        return LC.of(x)
    lo, hi = bounds(cs, x, label)
    if lo < 0:
        raise CircuitError(f"internal: {label}: rounding of a value that may be negative")
    if mode == "down":
        return LC.of(floor_div(cs, x, D, label)) * D
    if mode not in ("up", "half_even"):
        raise CircuitError(f"internal: {label}: unknown rounding mode {mode!r}")
    q = cs.allocate((lambda: _round_value(cs.eval_signed(x), D, mode)) if cs.is_prover else None)
    q_bits = bits_for(hi // D + 1)
    range_check(cs, q, q_bits, f"{label}: rounded value")
    if mode == "up":
        t = q * D - x
        range_check(cs, t, bits_for(D - 1), f"{label}: rounded up, not below")
        range_check(cs, (D - 1) - t, bits_for(D - 1), f"{label}: rounded up, less than a unit above")
        return LC.of(q) * D
    if D % 2:
        raise CircuitError(f"internal: {label}: half-even rounding needs an even unit")
    t = x + D // 2 - q * D
    range_check(cs, t, bits_for(D), f"{label}: rounded to nearest, not a half unit below")
    range_check(cs, D - t, bits_for(D), f"{label}: rounded to nearest, not a half unit above")
    # a tie is t = 0 or t = D (x exactly halfway): then, and only then, the product is zero
    _, _, p = cs.multiply(t, D - t)
    nonzero = is_nonzero(cs, p, f"{label} tie")
    odd = boolean(cs, (lambda: cs.eval(q) & 1) if cs.is_prover else None, f"{label} parity")
    half = cs.allocate((lambda: cs.eval(q) >> 1) if cs.is_prover else None)
    range_check(cs, half, max(1, q_bits - 1), f"{label}: half the rounded value")
    cs.constrain(LC.of(q) - half * 2 - odd, f"{label}: parity split")
    _, _, o = cs.multiply(1 - LC.of(nonzero), odd)
    cs.constrain(o, f"{label}: ties round to even")
    return LC.of(q) * D
