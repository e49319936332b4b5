"""The liquidation price of a position (Binance USDⓈ-M, one-way mode), solved bracket by bracket.

May import :mod:`zkmargin.rules.decimals`, :mod:`zkmargin.rules.models` and :mod:`.positions`. Used by
:mod:`.report` (informative only: it never changes whether an account meets the policy).
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from ..decimals import EXACT, Number
from ..models import Rule
from .exact import _DIV, _ONE, _ZERO, _d
from .positions import _amounts


def _mm_brackets(rule: Rule, abs_size: Decimal, open_interest: Number | None = None
                 ) -> list[tuple[Decimal, Decimal | None, Decimal, Decimal]]:
    """``[(floor, cap, mmr, cum)]`` of a maintenance rule (flat and size-scaled: one bracket)."""
    from .tier_rules import has_tier_rules, liquidation_brackets

    if has_tier_rules(rule):
        return liquidation_brackets(rule, abs_size, open_interest)
    # a validated rule has the fields of its kind
    if rule.kind == "flat":
        assert rule.rate is not None
        return [(_ZERO, None, rule.rate, _ZERO)]
    if rule.kind == "linear":
        assert rule.rate is not None and rule.per_size is not None
        with localcontext(EXACT):
            return [(_ZERO, None, rule.rate + rule.per_size * abs_size, _ZERO)]
    assert rule.brackets is not None
    cums = _amounts(rule.brackets)
    return [(b.floor, b.cap, b.rate, c) for b, c in zip(rule.brackets, cums)]


def liquidation_price(rule: Rule, size: Number, entry: Number, wallet: Number, tmm1: Number = 0,
                      upnl1: Number = 0, *, open_interest: Number | None = None) -> Decimal | None:
    """Binance USDⓈ-M liquidation price, one-way mode (``LP`` of "How to Calculate Liquidation
    Price of USDⓈ-M Futures Contracts")::

        LP = (WB - TMM1 + UPNL1 + cumB - side * |size| * EP) / (|size| * MMR_B - side * |size|)

    ``rule`` is the maintenance rule; ``MMR_B, cumB`` are the rate and amount of the bracket that
    holds the notional *at the liquidation price* ("if the position at the liquidation price and the
    current position are in different levels, substitute the level at the liquidation price and
    recalculate"). The engine solves the formula with each bracket's ``(MMR, cum)`` and keeps the
    solution whose notional ``|size| * LP`` lies in that same bracket (``floor < N <= cap``): the
    fixed point the venue's iteration converges to. Maintenance margin is continuous and
    increasing, so at most one bracket is consistent (a solution on a boundary is the same from
    both sides). Flat and size-scaled rules are one bracket with ``cum = 0``.

    Returns the exact quotient to 60 significant digits, or ``None`` for a zero position, when the
    result is ``<= 0``, or when no consistent price exists.
    """
    size, entry = _d(size), _d(entry)
    wallet, tmm1, upnl1 = _d(wallet), _d(tmm1), _d(upnl1)
    if size == 0:
        return None
    side = _ONE if size > 0 else -_ONE
    q = abs(size)
    with localcontext(EXACT):
        base = wallet - tmm1 + upnl1 - side * q * entry
    for k, (floor, cap, mmr, cum) in enumerate(_mm_brackets(rule, q, open_interest)):
        with localcontext(EXACT):
            den = q * mmr - side * q
            num = base + cum
        if den == 0:
            continue
        lp = _DIV.divide(num, den)
        if lp <= 0:
            continue
        n = _DIV.multiply(q, lp)
        if (k == 0 or n > floor) and (cap is None or n <= cap):
            return lp
    return None
