"""Piece selection: pin a private quantity inside one of several public intervals — the bracket
that holds a position's ``|q|`` (notional brackets), the tier that holds a balance
(value-tiered collateral haircuts) — with one-hot bits and range checks on its low bits.

May import :mod:`..cs` and :mod:`..gadgets`. Used by :mod:`.positions` and :mod:`.collateral`;
tests replace :func:`_choose_piece` to play a cheating prover.
"""

from __future__ import annotations

from collections.abc import Callable

from zkmargin.errors import CircuitError

from ..cs import ConstraintSystem, LinearCombination, Variable
from ..gadgets import bits_for, boolean, is_nonzero, range_check


def _choose_piece(x: int, intervals: list[tuple[int, int]]) -> int:
    """The honest prover's choice: the piece whose ends hold x (tests replace it to play a
    cheating prover)."""
    return next((k for k, (lo, hi) in enumerate(intervals) if lo <= x <= hi), 0)


def _flag(k: int, chosen: int | None) -> Callable[[], int]:
    """The prover's value of the one-hot bit of piece ``k``."""
    return lambda: 1 if k == chosen else 0


def select_piece(
    cs: ConstraintSystem,
    x: LinearCombination,
    x_bits: int,
    x_bit_wires: list[Variable],
    intervals: list[tuple[int, int]],
    label: str,
) -> list[Variable]:
    """One-hot bits e_k with ``lo_k ≤ x ≤ hi_k`` for the selected piece k, for an ``x`` already
    decomposed into ``x_bits`` bit wires (``x_bit_wires``, least significant first).

    Every finite piece end is below ``2^t`` for a ``t`` usually far smaller than ``x_bits`` (a
    bracket cap in size units, a tier end in amount units), so the ends are compared on the low
    part ``v`` = x mod 2^t only. ``g = [x ≥ 2^t]`` (the high part is non-zero) forces the top
    piece, whose lower end is below ``2^t``; when g = 0, x = v and both ends are exact:

        v − lo_sel + g·2^t ∈ [0, 2^(t+1))        (lower end; void when g = 1)
        hi'_sel − v ∈ [0, 2^t)                    (upper end; hi'_top = 2^t − 1 when unbounded)
        g·(1 − e_top) = 0

    A piece table whose last piece ends below the width's maximum (a finite last cap) instead
    constrains the high part to zero. Gates: K + 2t + ~5 instead of K + 2·x_bits.
    """
    max_value = (1 << x_bits) - 1
    K = len(intervals)
    top_lo, top_hi = intervals[-1]
    finite_top = top_hi < max_value
    ends = [hi for _, hi in intervals[:-1]] + [top_hi if finite_top else top_lo]
    T = max([0] + [e for e in ends if 0 <= e <= max_value])
    t = bits_for(T)
    if len(x_bit_wires) != x_bits:
        raise CircuitError(f"{label}: expected {x_bits} bit wires")
    if t >= x_bits:
        t = x_bits
    v = sum((b * (1 << i) for i, b in enumerate(x_bit_wires[:t])), LinearCombination())
    high = sum((b * (1 << (i - t)) for i, b in enumerate(x_bit_wires) if i >= t), LinearCombination())
    g = None
    if t < x_bits:
        if finite_top:
            cs.constrain(high, f"{label}: within the last piece")
        else:
            g = is_nonzero(cs, high, f"{label} above every finite end")
    if K == 1:
        if finite_top:
            range_check(cs, top_hi - v, t, f"{label}: below the last end")
        return [Variable.ONE]
    ev = _choose_piece(cs.eval_signed(x), intervals) if cs.is_prover else None
    es = [boolean(cs, _flag(k, ev) if cs.is_prover else None, f"{label} piece {k}") for k in range(K)]
    cs.constrain(sum((LinearCombination.of(e) for e in es), LinearCombination()) - 1, f"{label}: exactly one piece")
    his = [hi for _, hi in intervals[:-1]] + [top_hi if finite_top else (1 << t) - 1]
    lo_sel = sum((e * lo for e, (lo, _) in zip(es, intervals)), LinearCombination())
    hi_sel = sum((e * hi for e, hi in zip(es, his)), LinearCombination())
    if g is None:
        range_check(cs, v - lo_sel, t, f"{label}: above the piece's lower end")
    else:
        range_check(cs, v - lo_sel + LinearCombination.of(g) * (1 << t), t + 1, f"{label}: above the piece's lower end")
        _, _, o = cs.multiply(g, 1 - LinearCombination.of(es[-1]))
        cs.constrain(o, f"{label}: beyond every finite end means the last piece")
    range_check(cs, hi_sel - v, t, f"{label}: below the piece's upper end")
    return es
