"""Inverse (coin-margined) contracts in clear text: the reciprocal prices the venue publishes at the
policy's ``decimals.reciprocal`` digits, and a position's coin notional, PnL and requirement.

Symbols (docs/notes/coverage.md): ``q`` contracts, ``cs`` the contract size (price currency per
contract), ``ρ(x)`` = ``1/x`` at ``dρ`` digits, rounded *against the trader*: the mark's reciprocal
up for the notional and for longs' PnL, down for shorts' PnL; the entry's reciprocal down for a long
and up for a short. With ``s = min(q, 0)``::

    N_coin = |q|·cs·ρ↑(mark)
    PnL_coin = q·cs·ρ(entry) − (q − s)·cs·ρ↑(mark) − s·cs·ρ↓(mark)
    R_coin = rule(N_coin)                       (brackets in coin amounts)

and each is converted to the policy's quote at the settle coin's price ``x`` (1 when the settle
coin is the quote). May import :mod:`zkmargin.rules.decimals`, :mod:`zkmargin.rules.models` and
:mod:`.positions`. Used by :mod:`.terms`, the liquidation solver and the circuits' plan.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal, localcontext

from ..decimals import EXACT, Number
from ..models import Instrument, Market, Policy, Rule, price_of
from .exact import _ZERO, _d
from .positions import position_requirement

_WIDE = Context(prec=120)


def reciprocal(x: Number, scale: int, up: bool) -> Decimal:
    """``1/x`` at ``scale`` digits after the point, rounded up (``up``) or down; ``x > 0``."""
    x = _d(x)
    q = _WIDE.divide(Decimal(1), x)  # 120 significant digits, then the directed rounding
    return q.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_CEILING if up else ROUND_FLOOR,
                      context=_WIDE)


def mark_reciprocals(policy: Policy, mark: Number) -> tuple[Decimal, Decimal]:
    """``(ρ↑(mark), ρ↓(mark))`` at the policy's reciprocal scale."""
    rs = policy.decimals.reciprocal
    assert rs is not None  # validated: inverse contracts need the scale
    return reciprocal(mark, rs, True), reciprocal(mark, rs, False)


def entry_reciprocal(policy: Policy, size: Number, entry: Number) -> Decimal:
    """``ρ(entry)`` rounded against the trader: down for a long, up for a short (0 for size 0)."""
    size = _d(size)
    if size == 0:
        return _ZERO
    rs = policy.decimals.reciprocal
    assert rs is not None
    return reciprocal(entry, rs, size < 0)


def settle_price(policy: Policy, market: Market, ins: Instrument) -> Decimal:
    """The settle coin's price in the policy's quote (1 for the quote itself)."""
    assert ins.inverse is not None
    return price_of(market, policy, ins.inverse.settle)


def coin_notional(policy: Policy, ins: Instrument, size: Number, mark: Number) -> Decimal:
    """``|q|·cs·ρ↑(mark)`` in the settle coin."""
    assert ins.inverse is not None
    up, _ = mark_reciprocals(policy, mark)
    with localcontext(EXACT):
        return abs(_d(size)) * ins.inverse.contract_size * up


def coin_upnl(policy: Policy, ins: Instrument, size: Number, mark: Number,
              entry: Number) -> Decimal:
    """``q·cs·ρ(entry) − (q − s)·cs·ρ↑(mark) − s·cs·ρ↓(mark)`` in the settle coin."""
    assert ins.inverse is not None
    size = _d(size)
    up, down = mark_reciprocals(policy, mark)
    cs = ins.inverse.contract_size
    with localcontext(EXACT):
        s = min(size, _ZERO)
        return size * cs * entry_reciprocal(policy, size, entry) - (size - s) * cs * up - s * cs * down


def coin_requirement(rule: Rule, policy: Policy, ins: Instrument, size: Number,
                     mark: Number) -> Decimal:
    """The rule at the coin notional (unrounded, in the settle coin); zero for a zero position.

    The rule's ``N`` is the coin notional: flat ``N·rate``, size-scaled ``N·(rate + per_size·|q|)``,
    brackets ``N·rate_k − amount_k`` with coin brackets."""
    assert ins.inverse is not None
    size = _d(size)
    if size == 0:
        return _ZERO
    up, _ = mark_reciprocals(policy, mark)
    # position_requirement computes |q|·unit·(...) with the unit price cs·ρ↑(mark)
    with localcontext(EXACT):
        unit = ins.inverse.contract_size * up
    return position_requirement(rule, size, unit)
