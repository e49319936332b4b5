"""Square roots and floor divisions a prover can only overstate.

A venue's rule that grows with ``⌊√x⌋`` or ``⌊a/D⌋`` (Drift's size premium on liabilities, its size
discount on assets) is proved with a private ``r`` and ``p`` bounded from *below* only:

    (r + 1)² ≥ x + 1          ⇔  r ≥ ⌊√x⌋        (one gate and one range check)
    p·D + D − 1 − a ≥ 0       ⇔  p ≥ ⌊a / D⌋     (one range check)

and ``r``, ``p`` themselves range-checked to the width the honest value needs (so no product
wraps). A larger ``r`` or ``p`` only raises the liability weight or lowers the asset weight
(docs/notes/unified.md says why for each use), so the prover gains nothing from the freedom left
to it; the honest values ``⌊√x⌋`` and ``⌊a/D⌋`` always satisfy the constraints.

May import :mod:`..cs` and :mod:`..gadgets`. Used by :mod:`.unified`.
"""

from __future__ import annotations

from math import isqrt

from ..cs import ConstraintSystem, LCLike, LinearCombination, Variable
from ..gadgets import bits_for, range_check, upper_bound


def root_at_least(cs: ConstraintSystem, x: LCLike, label: str) -> Variable:
    """A wire ``r ≥ ⌊√x⌋`` for a bounded ``x ≥ 0`` (the prover's honest value is ``⌊√x⌋``)."""
    x = LinearCombination.of(x)
    k = bits_for(isqrt(max(0, upper_bound(cs, x, label))))
    r = cs.allocate((lambda: isqrt(max(0, cs.eval_signed(x)))) if cs.is_prover else None)
    range_check(cs, r, k, f"{label}: root within its width")
    _, _, sq = cs.multiply(r + 1, r + 1)
    gap = sq - x - 1
    range_check(cs, gap, bits_for(upper_bound(cs, gap, label)), f"{label}: (r+1)^2 > x")
    return r


def floor_div_at_least(cs: ConstraintSystem, a: LCLike, d: int, label: str) -> Variable:
    """A wire ``p ≥ ⌊a / d⌋`` for a bounded ``a ≥ 0`` and a public ``d > 0``."""
    a = LinearCombination.of(a)
    k = bits_for(max(0, upper_bound(cs, a, label)) // d)
    p = cs.allocate((lambda: max(0, cs.eval_signed(a)) // d) if cs.is_prover else None)
    range_check(cs, p, k, f"{label}: quotient within its width")
    gap = LinearCombination.of(p) * d + (d - 1) - a
    range_check(cs, gap, bits_for(upper_bound(cs, gap, label)), f"{label}: p >= a / d")
    return p
