"""One position: notional, unrealised PnL, notional brackets and the position's requirement under
its rule (flat, size-scaled, brackets).

May import :mod:`zkmargin.rules.decimals`, :mod:`zkmargin.rules.models` and :mod:`zkmargin.errors`.
Used by :mod:`.report`, :mod:`.liquidation` and the circuits' plan (``bracket_pieces``).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, localcontext

from ...errors import InputError
from ..decimals import EXACT, Number
from ..models import Bracket, Rule, bracket_amounts
from .exact import _ZERO, _d


def notional(size: Number, mark: Number) -> Decimal:
    """``|size| * mark`` (exact)."""
    with localcontext(EXACT):
        return abs(_d(size)) * _d(mark)


def unrealized_pnl(size: Number, mark: Number, entry: Number) -> Decimal:
    """``size * (mark - entry)`` (exact; negative size = short)."""
    with localcontext(EXACT):
        return _d(size) * (_d(mark) - _d(entry))


def _amounts(brackets: Sequence[Bracket]) -> list[Decimal]:
    given = [b.amount for b in brackets if b.amount is not None]
    if len(given) == len(brackets):
        return given
    return bracket_amounts(list(brackets))


def bracket_for(n: Number, brackets: Sequence[Bracket]) -> int:
    """Index ``k`` of the bracket with ``floor_k < N <= cap_k`` (Binance's convention: the
    published tables read ``50,000 < Position <= 250,000``). ``N = 0`` falls in the first bracket.
    :class:`InputError` if ``N`` is above the last cap."""
    n = _d(n)
    if n < 0:
        raise InputError("a notional is never negative")
    for k, b in enumerate(brackets):
        if (k == 0 or n > b.floor) and (b.cap is None or n <= b.cap):
            return k
    raise InputError("the notional is above the last bracket's cap (the venue allows no larger "
                     "position)")


def bracket_pieces(brackets: Sequence[Bracket]) -> list[tuple[Decimal, Decimal]]:
    """``[(rate_k, amount_k)]``: the requirement is ``max_k (N * rate_k - amount_k)`` for every
    ``N`` below the last cap, because the amounts follow the recursion and rates never decrease.
    This is the form a circuit proves (one inequality per bracket) without selecting a bracket."""
    return list(zip([b.rate for b in brackets], _amounts(brackets)))


def position_requirement(rule: Rule, size: Number, mark: Number, *,
                         open_interest: Number | None = None,
                         scale: int | None = None) -> Decimal:
    """The requirement ``R`` of one position under ``rule`` at ``mark`` (unrounded, exact).

    flat ``N * rate``; size-scaled ``N * (rate + per_size * |size|)``; brackets
    ``N * rate_k - amount_k`` with ``k = bracket_for(N)``; zero for a zero position. The rules of
    :mod:`.tier_rules` (whole-position tiers, bracket multiplier, fee to close, leverage, open
    interest) are evaluated there; ``open_interest`` (the symbol's open notional) and ``scale``
    (``ds+dp+dr``, where a ratio rule rounds up) are for them."""
    from .tier_rules import has_tier_rules, requirement_with_rules

    if has_tier_rules(rule):
        return requirement_with_rules(rule, size, mark, open_interest=open_interest, scale=scale)
    size, mark = _d(size), _d(mark)
    if size == 0:
        return _ZERO
    with localcontext(EXACT):
        n = abs(size) * mark
        kind = rule.kind
        # a validated rule has the fields of its kind
        if kind == "flat":
            assert rule.rate is not None
            return n * rule.rate
        if kind == "linear":
            assert rule.rate is not None and rule.per_size is not None
            return n * (rule.rate + rule.per_size * abs(size))
        assert rule.brackets is not None
        k = bracket_for(n, rule.brackets)
        return n * rule.brackets[k].rate - _amounts(rule.brackets)[k]
