"""One position's terms in the policy's quote — notional, unrealised PnL and requirement — for every
kind of contract the policy can list: linear perpetuals and futures (:mod:`.positions`), inverse
contracts (:mod:`.inverse`), options under standard margin (:mod:`.options`); and the open-order
requirement of a symbol (``worst_side``).

A hedge-mode leg is a position like any other (its own notional, bracket and requirement); the
legs of one symbol are never netted (docs/notes/coverage.md). May import the engine modules named
above, :mod:`zkmargin.rules.decimals`, :mod:`zkmargin.rules.models` and :mod:`zkmargin.errors`.
Used by :mod:`.report` and the liquidation solver.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from ..decimals import EXACT, Number
from ..models import Instrument, Market, Policy, Position
from .exact import _ZERO, _d
from .inverse import coin_notional, coin_requirement, coin_upnl, settle_price
from .options import option_notional, option_requirement
from .positions import notional, position_requirement, unrealized_pnl


def position_notional(policy: Policy, market: Market, ins: Instrument, size: Number) -> Decimal:
    """The notional in the policy's quote: ``|q|·mark``; inverse: the coin notional at the settle
    coin's price; option under standard margin: the underlying's notional."""
    mark = market.prices[ins.symbol]
    if ins.inverse is not None:
        with localcontext(EXACT):
            return coin_notional(policy, ins, size, mark) * settle_price(policy, market, ins)
    if ins.kind == "option" and (policy.mode != "portfolio" or (
            ins.underlying is not None and (ins.underlying in market.prices or ins.underlying == policy.quote))):
        return option_notional(policy, market, ins, size)  # the underlying's, not |q|·premium
    return notional(size, mark)


def position_upnl(policy: Policy, market: Market, ins: Instrument, pos: Position) -> Decimal:
    """Unrealised PnL in the policy's quote (an option's is its value less the premium paid)."""
    mark = market.prices[ins.symbol]
    if ins.inverse is not None:
        with localcontext(EXACT):
            return coin_upnl(policy, ins, pos.size, mark, pos.entry_price) * settle_price(policy, market, ins)
    return unrealized_pnl(pos.size, mark, pos.entry_price)


def requirement_at(policy: Policy, market: Market, ins: Instrument, requirement: str,
                   size: Number) -> Decimal:
    """The requirement (unrounded, policy quote) of a signed ``size`` of ``ins`` at the market."""
    rule = ins.rule(requirement)
    mark = market.prices[ins.symbol]
    if ins.inverse is not None:
        with localcontext(EXACT):
            return coin_requirement(rule, policy, ins, size, mark) * settle_price(policy, market, ins)
    if rule.kind == "option":
        return option_requirement(rule, policy, market, ins, size)
    d = policy.decimals
    # the venues' ratio rules (leverage, open interest: rules/engine/tier_rules.py) need the symbol's
    # open interest and the scale they round up at
    return position_requirement(rule, size, mark, open_interest=(market.open_interest or {}).get(ins.symbol),
                                scale=d.size + d.price + d.rate)


def order_requirement(policy: Policy, market: Market, ins: Instrument, size: Number,
                      buys: Number, sells: Number) -> Decimal:
    """``worst_side``: ``max(R(q + buys), R(q − sells))`` with the initial rule (unrounded)."""
    size, buys, sells = _d(size), _d(buys), _d(sells)
    with localcontext(EXACT):
        up = size + buys
        down = size - sells
    return max(requirement_at(policy, market, ins, "initial", up),
               requirement_at(policy, market, ins, "initial", down), _ZERO)
