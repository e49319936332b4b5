"""Collateral: the haircut value of a balance, flat or value-tiered, and the concave pieces a
circuit proves it with.

May import :mod:`zkmargin.rules.decimals` and :mod:`zkmargin.rules.models`. Used by :mod:`.report` and
the circuits' plan (``collateral_pieces``).
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from ..decimals import EXACT, Number
from ..models import Collateral
from .exact import _ONE, _ZERO, _d


def collateral_value(entry: Collateral, amount: Number, price: Number) -> Decimal:
    """Haircut value of ``amount`` of ``entry.asset`` at ``price`` (quote currency, exact).

    Flat: ``(1 - h) * amount * price``. Tiered: ``V = amount * price`` is cut into the slices
    ``[0, up_to_1], (up_to_1, up_to_2], ...`` and each slice counts ``(1 - h_k)`` times its size."""
    amount, price = _d(amount), _d(price)
    with localcontext(EXACT):
        v = amount * price
        if entry.haircut is not None:
            return (_ONE - entry.haircut) * v
        assert entry.tiers is not None  # a validated entry has a haircut or tiers
        total = _ZERO
        lo = _ZERO
        for t in entry.tiers:
            if v <= lo:
                break
            hi = t.up_to
            part = v - lo if hi is None or v < hi else hi - lo
            total += (_ONE - t.haircut) * part
            if hi is None:
                break
            lo = hi
        return total


def collateral_pieces(entry: Collateral) -> list[tuple[Decimal, Decimal]]:
    """``[(slope_k, intercept_k)]`` with ``value(V) = min_k (slope_k * V + intercept_k)`` for the
    quote value ``V >= 0`` — the concave form a circuit proves (``value <= every piece``)."""
    if entry.haircut is not None:
        return [(_ONE - entry.haircut, _ZERO)]
    assert entry.tiers is not None  # a validated entry has a haircut or tiers
    out = []
    with localcontext(EXACT):
        lo = _ZERO
        acc = _ZERO  # value of the slices below lo
        for t in entry.tiers:
            slope = _ONE - t.haircut
            out.append((slope, acc - slope * lo))
            if t.up_to is None:
                break
            acc += slope * (t.up_to - lo)
            lo = t.up_to
    return out
