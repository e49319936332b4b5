"""The policy's rounding of a requirement (up, down, half-even at a number of decimals) as
constraints the prover can only satisfy by rounding as the policy says or overstating.

May import :mod:`zkmargin.rules.decimals`, :mod:`..cs`, :mod:`..gadgets` and :mod:`.plan`. Used by
:mod:`.circuit` (per position) and :mod:`.portfolio`.
"""

from __future__ import annotations

from collections.abc import Callable

from zkmargin.crypto.field import R
from zkmargin.rules.decimals import to_fixed

from ..cs import ConstraintSystem, LinearCombination
from ..gadgets import bits_for, boolean, range_check, upper_bound
from .plan import MarginPlan, p10

RangeCheck = Callable[[LinearCombination, int, str], object]


def round_requirement(cs: ConstraintSystem, x: LinearCombination, plan: MarginPlan, label: str,
                      rc: RangeCheck | None = None) -> LinearCombination:
    """Replace the requirement ``x`` (at scale SR, ≥ 0) by a rounded ``q·10^k`` with q at the
    rounding's decimals, q ≥ round(x) (the prover can only overstate: that never helps it).
    ``rc(lc, bits, label)`` is the range check to use (bit decomposition by default; the K-slot
    circuit passes its lookup range checks)."""
    if rc is None:
        def rc(lc: LinearCombination, bits: int, what: str) -> object:
            return range_check(cs, lc, bits, what)
    if plan.rounding is None:
        return x
    mode, decimals = plan.rounding
    k = plan.SR - decimals
    if k <= 0:
        return x
    D = p10(k)
    hi = upper_bound(cs, x, label)
    q_bits = bits_for(hi // D + 1)

    def exact() -> int:
        from zkmargin.rules.decimals import from_fixed, quantize

        value = from_fixed(cs.eval_signed(x), plan.SR)
        return to_fixed(quantize(value, decimals, mode), decimals)

    q = cs.allocate(exact if cs.is_prover else None)
    rc(LinearCombination.of(q), q_bits, f"{label}: rounded requirement")
    qD: LinearCombination = q * D
    if mode == "up":
        rc(qD - x, bits_for(D - 1), f"{label}: rounded up")
    elif mode == "down":
        rc(qD - x + (D - 1), bits_for(D - 1), f"{label}: rounded down")
    else:
        h = D // 2
        dlc = qD - x + h
        rc(dlc, bits_for(D), f"{label}: rounded half-even")
        # tie (d = 0) ⇒ q even:  e = [d == 0] via e·d = 0 and d·inv = 1 − e; q = 2p + o; e·o = 0
        e = boolean(cs, (lambda: 1 if cs.eval(dlc) == 0 else 0) if cs.is_prover else None, f"{label} tie")
        _, _, o1 = cs.multiply(e, dlc)
        cs.constrain(o1, f"{label}: tie flag only when exactly halfway")
        inv_wire = cs.allocate((lambda: pow(cs.eval(dlc), -1, R) if cs.eval(dlc) else 0) if cs.is_prover else None)
        _, _, o2 = cs.multiply(dlc, inv_wire)
        cs.constrain(o2 - (1 - e), f"{label}: tie flag when exactly halfway")
        odd = boolean(cs, (lambda: cs.eval(q) & 1) if cs.is_prover else None, f"{label} parity")
        p = cs.allocate((lambda: cs.eval(q) >> 1) if cs.is_prover else None)
        rc(LinearCombination.of(p), max(1, q_bits - 1), f"{label}: half of the rounded requirement")
        cs.constrain(LinearCombination.of(q) - p * 2 - odd, f"{label}: parity split")
        _, _, o3 = cs.multiply(e, odd)
        cs.constrain(o3, f"{label}: ties round to even")
    return qD
