"""Integer bounds of wires and the no-wrap check: the constraint system's soundness guard.

The builder tracks, for every wire it can, the interval of integers its value lies in. A range
check ``lc ∈ [0, 2^k)`` only proves something about the *integer* ``lc`` if no other integer in
``lc``'s interval has the same residue mod r; :func:`check_no_wrap` refuses a circuit where that
could happen. Wires whose value is unconstrained until a range check defines it (committed inputs,
allocated wires) are *definable*; a range check over a combination of unbounded wires that are not
definable is refused by the gadgets.

May import :mod:`zkmargin.errors`, :mod:`zkmargin.crypto.field` and :mod:`.wires`. Used by
:mod:`.system` (:class:`WireBounds` is a base of the constraint system) and by the gadgets and
lookups, through :mod:`.cs`.
"""

from __future__ import annotations

from zkmargin.crypto.field import R, signed
from zkmargin.errors import OverflowRiskError

from .wires import LCLike, LinearCombination, Variable


def check_no_wrap(lo: int, hi: int, bits: int, what: str) -> None:
    """``lc ≡ s (mod r)`` with ``s ∈ [0, 2^bits)`` implies ``lc = s`` as integers iff no other
    representative fits in ``[lo, hi]``: ``hi < r`` and ``lo > 2^bits − 1 − r``."""
    if hi >= R or lo <= (1 << bits) - 1 - R:
        raise OverflowRiskError(
            f"{what}: the range-checked combination spans [{lo}, {hi}], which could wrap modulo the group order"
        )


class WireBounds:
    """The bounds part of a constraint system: known integer intervals and definable wires."""

    bounds: dict[Variable, tuple[int, int]]
    definable: set[Variable]

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

    def bound(self, lc: LCLike) -> tuple[int, int] | None:
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
