"""Option standard margin in clear text (Deribit's published formulas, cross mode): the requirement
of one long and one short contract from public data only, published at the rate+price scale
rounded up, so prover and verifier use the same two numbers.

Per contract, with ``S`` the index price (strike units), ``K`` the strike, ``OTM = max(0, K − S)``
for a call and ``max(0, S − K)`` for a put, ``V = multiplier·price(underlying)`` (policy quote) and
``mark`` the option's mark (policy quote)::

    short   max(rate − OTM/S, floor)·V + mark                 (otm false: max(rate, floor)·V + mark)
            put: also ≥ max(put_minimum·V, put_minimum·mark) + mark
    long    mark ("premium") or 0 ("none")

Deribit (support page "Margin requirements", inverse options, per BTC contract, quote BTC, so
``V = 1``): initial short call ``max(0.15 − OTM/S, 0.1) + mark``, maintenance short call
``0.075 + mark``; initial short put ``max(max(0.15 − OTM/S, 0.1) + mark, MM)``, maintenance short
put ``max(0.075, 0.075·mark) + mark``. May import :mod:`zkmargin.rules.decimals` and
:mod:`zkmargin.rules.models`. Used by :mod:`.terms` and the circuits' plan.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Context, Decimal, localcontext

from ..decimals import EXACT, Number
from ..models import Instrument, Market, Policy, Rule, price_of
from .exact import _ONE, _ZERO, _d

_WIDE = Context(prec=120, rounding=ROUND_CEILING)


def option_inputs(policy: Policy, market: Market, ins: Instrument) -> tuple[Decimal, Decimal, Decimal]:
    """``(S, V, mark)``: index price, underlying value per contract (quote), option mark."""
    assert ins.underlying is not None
    index = ins.index or ins.underlying
    S = price_of(market, policy, index)
    mult = ins.multiplier if ins.multiplier is not None else _ONE
    with localcontext(EXACT):
        V = mult * price_of(market, policy, ins.underlying)
    return S, V, market.prices[ins.symbol]


def unit_requirements(rule: Rule, policy: Policy, market: Market, ins: Instrument) -> tuple[Decimal, Decimal]:
    """``(long, short)`` requirement of one contract, rounded up at ``price + rate`` digits."""
    o = rule.option
    assert o is not None and ins.strike is not None
    S, V, mark = option_inputs(policy, market, ins)
    K = ins.strike
    scale = policy.decimals.price + policy.decimals.rate
    with localcontext(EXACT):
        otm = max(_ZERO, K - S) if ins.right == "call" else max(_ZERO, S - K)
        floor = o.floor if o.floor is not None else o.rate
        if o.otm:
            if S <= 0:
                frac_s = max(o.rate, floor) * S  # OTM/S undefined: no discount
            else:
                frac_s = max(o.rate * S - otm, floor * S)  # = max(rate − OTM/S, floor)·S
        else:
            frac_s = max(o.rate, floor) * S
    # max(rate − OTM/S, floor)·V = frac_s·V/S: one division, rounded up
    if S > 0:
        fv = _WIDE.divide(frac_s * V, S)
    else:
        with localcontext(EXACT):
            fv = max(o.rate, floor) * V
    with localcontext(EXACT):
        short = fv + mark
        if ins.right == "put" and o.put_minimum is not None:
            short = max(short, max(o.put_minimum * V, o.put_minimum * mark) + mark)
        long = mark if o.long == "premium" else _ZERO
    q = Decimal(1).scaleb(-scale)
    return (long.quantize(q, rounding=ROUND_CEILING, context=_WIDE),
            short.quantize(q, rounding=ROUND_CEILING, context=_WIDE))


def option_requirement(rule: Rule, policy: Policy, market: Market, ins: Instrument,
                       size: Number) -> Decimal:
    """``max(q, 0)·long + max(−q, 0)·short`` (unrounded beyond the unit figures)."""
    size = _d(size)
    long, short = unit_requirements(rule, policy, market, ins)
    with localcontext(EXACT):
        return max(size, _ZERO) * long + max(-size, _ZERO) * short


def option_notional(policy: Policy, market: Market, ins: Instrument, size: Number) -> Decimal:
    """The underlying's notional ``|q|·V`` (not ``|q|·premium``)."""
    _, V, _ = option_inputs(policy, market, ins)
    with localcontext(EXACT):
        return abs(_d(size)) * V
