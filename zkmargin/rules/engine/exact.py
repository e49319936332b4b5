"""The exact-arithmetic conventions every engine module shares.

``_d`` turns any number the engine takes (``Decimal``, ``int``, decimal string) into a ``Decimal``
exactly (:func:`zkmargin.rules.decimals.parse_decimal`); ``_DIV`` is the one context for the two
divisions the engine reports (liquidation price, health). May import
:mod:`zkmargin.rules.decimals` only; used by the other engine modules.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal

from ..decimals import Number, parse_decimal

_ZERO = Decimal(0)
_ONE = Decimal(1)
#: Context for the two divisions (liquidation price, health): 60 significant digits.
_DIV = Context(prec=60, rounding=ROUND_HALF_EVEN)


def _d(x: Number) -> Decimal:
    return x if isinstance(x, Decimal) else parse_decimal(x)
