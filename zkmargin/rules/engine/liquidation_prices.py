"""Liquidation prices per venue convention (informative: they never change whether an account meets
the policy). The policy's ``liquidation`` section chooses the convention:

* ``maintenance: at_price`` (Binance): the maintenance margin is re-evaluated at the liquidation
  price (bracket at that price); ``at_entry`` (Bybit): it stays what the entry value gives.
* ``hedge: net`` (Binance's cross formula sums both legs of a symbol): every position whose
  instrument moves with the same underlying moves together; ``leg``: each position alone.
* ``close_fee``: a fee on the position value at the bankruptcy price is added to the maintenance
  margin (Bybit's inverse cross example); ``tick``: the price is rounded to the tick toward the
  mark (liquidation no later than the exact price), otherwise half-even at the price scale.

Cross and portfolio mode use one solver. Let ``t`` scale the prices of one underlying (an
instrument's ``underlying``, else its own symbol): its instruments' marks become ``mark·t`` and a
collateral asset named like the underlying moves with them (1 BTC of collateral under a long
BTCUSDT). ``f(t) = equity(t) − MM(t)`` is, between the public breakpoints where a bracket or a
collateral tier changes, of the form ``α + β·t + γ/t`` (linear contracts, inverse contracts,
collateral), so ``t·f(t)`` is a quadratic fitted exactly through three points of each piece and
solved; the root nearest the current price (``t = 1``) is the liquidation price. Portfolio mode
holds the venue's scenario requirement fixed (the table is the venue's; only futures move) and
reports none when the underlying has options, which have no price model here. Isolated mode solves
each position's own inequality (Binance's formula for ``at_price``, Bybit's
``LP = entry − (iso − MM_entry)/q`` for ``at_entry``).

May import the other engine modules, :mod:`zkmargin.rules.decimals`, :mod:`zkmargin.rules.models`
and :mod:`zkmargin.errors`. Used by :mod:`.report`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal, localcontext

from ...errors import InputError
from ..decimals import EXACT, quantize
from ..models import Account, Instrument, Market, Policy, Position, price_of
from ..models.coverage import Liquidation, leg_key
from .collateral import collateral_value
from .exact import _ONE, _ZERO
from .inverse import settle_price
from .liquidation import liquidation_price
from .positions import position_requirement

_C = Context(prec=90)

#: Notes a position's report carries instead of (or beside) a liquidation price.
NOTE_BEYOND_CAP = "beyond the maintenance table's last cap: the venue allows no such position"
NOTE_BELOW = "the account is already below its maintenance margin"
NOTE_NONE = "no price of this underlying brings the account to its maintenance margin"
NOTE_OPTIONS = "the underlying has options, which have no price model here: no liquidation price"
NOTE_ZERO = "no position"


@dataclass
class Row:
    """What the solver needs of one report row."""

    pos: Position
    ins: Instrument
    mark: Decimal
    upnl: Decimal


def convention(policy: Policy) -> Liquidation:
    return policy.liquidation if policy.liquidation is not None else Liquidation()


def driver(ins: Instrument) -> str:
    """What moves the instrument's price: its underlying, else the symbol itself."""
    return ins.underlying or ins.symbol


def _maintenance(policy: Policy, market: Market, ins: Instrument, size: Decimal, mark: Decimal,
                 x: Decimal, entry: Decimal | None) -> Decimal:
    """Maintenance margin (policy quote, unrounded) at ``mark`` (or at ``entry`` when given),
    settle coin at ``x``. Exact reciprocals: the liquidation price is informative."""
    rule = ins.rule("maintenance")
    at = entry if entry is not None else mark
    if ins.inverse is None:
        return position_requirement(rule, size, at)
    unit = _C.divide(ins.inverse.contract_size, at)
    return _C.multiply(position_requirement(rule, size, unit), x)


def _upnl(ins: Instrument, pos: Position, mark: Decimal, x: Decimal) -> Decimal:
    if ins.inverse is None:
        return _C.multiply(pos.size, mark - pos.entry_price)
    cs = ins.inverse.contract_size
    coin = _C.multiply(pos.size * cs, _C.divide(_ONE, pos.entry_price) - _C.divide(_ONE, mark))
    return _C.multiply(coin, x)


def _value(ins: Instrument, size: Decimal, mark: Decimal, x: Decimal) -> Decimal:
    if ins.inverse is None:
        return abs(size) * mark
    return _C.multiply(_C.divide(abs(size) * ins.inverse.contract_size, mark), x)


def _roots(f: Callable[[Decimal], Decimal], breaks: Sequence[Decimal]) -> list[Decimal]:
    """Roots ``t > 0`` of ``f``, which is ``α + β·t + γ/t`` between consecutive ``breaks``."""
    bs = sorted({brk for brk in breaks if brk > 0})
    segs: list[tuple[Decimal, Decimal | None]] = []
    lo = _ZERO
    for brk in bs:
        segs.append((lo, brk))
        lo = brk
    segs.append((lo, None))
    out = []
    for a, b in segs:
        if b is None:
            base = a if a > 0 else _ONE
            pts = [base * 2, base * 3, base * 4] if a > 0 else [Decimal("0.5"), _ONE, Decimal(2)]
        else:
            pts = [a + (b - a) * Decimal(k) / 4 for k in (1, 2, 3)]
        try:
            gs = [_C.multiply(p, f(p)) for p in pts]
        except InputError:
            continue  # beyond a table's last cap: no maintenance margin is defined there
        (x0, x1, x2), (y0, y1, y2) = pts, gs
        # g(t) = c2·t² + c1·t + c0 through the three points (Newton's divided differences)
        d01 = _C.divide(y1 - y0, x1 - x0)
        d12 = _C.divide(y2 - y1, x2 - x1)
        c2 = _C.divide(d12 - d01, x2 - x0)
        c1 = d01 - _C.multiply(c2, x0 + x1)
        c0 = y0 - _C.multiply(c1, x0) - _C.multiply(c2, _C.multiply(x0, x0))
        scale = max(abs(c0), abs(c1) * x2, abs(c2) * x2 * x2, Decimal("1e-60"))
        cand: list[Decimal] = []
        if abs(c2) * x2 * x2 <= scale * Decimal("1e-40"):
            if c1 != 0:
                cand.append(_C.divide(-c0, c1))
        else:
            disc = c1 * c1 - 4 * c2 * c0
            if disc >= 0:
                r = disc.sqrt(_C)
                qq = -(c1 + (r if c1 >= 0 else -r)) / 2
                if qq != 0:
                    cand += [_C.divide(qq, c2), _C.divide(c0, qq)]
        hi = b if b is not None else None
        for t in cand:
            if t > 0 and t >= a * (1 - Decimal("1e-30")) and (hi is None or t <= hi * (1 + Decimal("1e-30"))):
                out.append(t)
    return out


def _round(lp: Decimal, mark: Decimal, policy: Policy) -> Decimal:
    """Half-even at the price scale, or to the policy's tick toward the mark."""
    tick = convention(policy).tick
    if tick is None:
        return quantize(lp, policy.decimals.price, "half_even")
    n = _C.divide(lp, tick)
    n = n.to_integral_value(rounding=ROUND_CEILING if lp < mark else ROUND_FLOOR)
    with localcontext(EXACT):
        return n * tick


def cross_prices(policy: Policy, market: Market, account: Account, rows: Sequence[Row],
                 fixed_requirement: Decimal | None = None) -> list[tuple[Decimal | None, str | None]]:
    """``(price, note)`` per row, cross (``fixed_requirement`` None) or portfolio mode."""
    conv = convention(policy)
    out: list[tuple[Decimal | None, str | None]] = []
    base_mm: list[Decimal | None] = []
    xs = []
    for r in rows:
        x = settle_price(policy, market, r.ins) if r.ins.inverse is not None else _ONE
        xs.append(x)
        if fixed_requirement is not None or r.ins.kind == "option":
            base_mm.append(_ZERO)
            continue
        try:
            base_mm.append(_maintenance(policy, market, r.ins, r.pos.size, r.mark, x, None))
        except InputError:
            base_mm.append(None)
    beyond = any(m is None for m in base_mm)
    cache: dict[tuple[int, ...], Decimal | None] = {}
    for i, r in enumerate(rows):
        if r.pos.size == 0:
            out.append((None, None))
            continue
        if base_mm[i] is None:
            out.append((None, NOTE_BEYOND_CAP))
            continue
        if beyond:
            out.append((None, "another position is " + NOTE_BEYOND_CAP))
            continue
        d = driver(r.ins)
        group = [j for j, s in enumerate(rows) if s.pos.size != 0 and (
            j == i or (conv.hedge == "net" and driver(s.ins) == d))]
        if any(rows[j].ins.kind == "option" for j in range(len(rows)) if driver(rows[j].ins) == d
               and rows[j].pos.size != 0):
            out.append((None, NOTE_OPTIONS))
            continue
        key = tuple(group)
        if key not in cache:
            cache[key] = _solve(policy, market, account, rows, xs, base_mm, group, d, conv,
                                fixed_requirement)
        t = cache[key]
        if t is None:
            out.append((None, NOTE_NONE))
        elif t == _ZERO:
            out.append((None, NOTE_BELOW))
        else:
            lp = _round(_C.multiply(r.mark, t), r.mark, policy)
            out.append((lp, None) if lp > 0 else (None, NOTE_NONE))
    return out


def _solve(policy: Policy, market: Market, account: Account, rows: Sequence[Row], xs: list[Decimal],
           base_mm: list[Decimal | None], group: list[int], d: str, conv: Liquidation,
           fixed_requirement: Decimal | None) -> Decimal | None:
    """The scale ``t`` of the liquidation price (``0`` when already below, None when none)."""
    moving_assets = {a for a in account.balances if a == d and a != policy.quote}
    fixed_coll = _ZERO
    for a, amt in account.balances.items():
        if a not in moving_assets:
            fixed_coll += collateral_value(policy.collateral_entry(a), amt, price_of(market, policy, a))
    in_group = set(group)
    fixed_u = sum((r.upnl for j, r in enumerate(rows) if j not in in_group), _ZERO)
    fixed_mm = sum((m for j, m in enumerate(base_mm) if j not in in_group and m is not None), _ZERO)

    def x_at(j: int, t: Decimal) -> Decimal:
        r = rows[j]
        if r.ins.inverse is not None and r.ins.inverse.settle == d and d != policy.quote:
            return xs[j] * t
        return xs[j]

    def equity(t: Decimal) -> Decimal:
        e = fixed_coll + fixed_u
        for a in moving_assets:
            e += collateral_value(policy.collateral_entry(a), account.balances[a],
                                  _C.multiply(price_of(market, policy, a), t))
        for j in group:
            r = rows[j]
            e += _upnl(r.ins, r.pos, _C.multiply(r.mark, t), x_at(j, t))
        return e

    def mm(t: Decimal) -> Decimal:
        if fixed_requirement is not None:
            return fixed_requirement
        total = fixed_mm
        for j in group:
            r = rows[j]
            entry = r.pos.entry_price if conv.maintenance == "at_entry" else None
            total += _maintenance(policy, market, r.ins, r.pos.size, _C.multiply(r.mark, t),
                                  x_at(j, t), entry)
        return total

    breaks: list[Decimal] = []
    for j in group:
        r = rows[j]
        rule = r.ins.rule("maintenance") if fixed_requirement is None else None
        if rule is not None and rule.brackets is not None and conv.maintenance == "at_price":
            for b in rule.brackets:
                if b.cap is None:
                    continue
                if r.ins.inverse is None:
                    breaks.append(_C.divide(b.cap, abs(r.pos.size) * r.mark))
                else:
                    breaks.append(_C.divide(abs(r.pos.size) * r.ins.inverse.contract_size, r.mark * b.cap))
    for a in moving_assets:
        c = policy.collateral_entry(a)
        base = account.balances[a] * price_of(market, policy, a)
        if c.tiers is not None and base > 0:
            breaks += [_C.divide(tr.up_to, base) for tr in c.tiers if tr.up_to is not None]

    fee = conv.close_fee if fixed_requirement is None else None
    fee_term = _ZERO
    if fee:
        def value(t: Decimal) -> Decimal:
            return sum((_value(rows[j].ins, rows[j].pos.size, _C.multiply(rows[j].mark, t), x_at(j, t))
                        for j in group), _ZERO)

        bank = _roots(lambda t: equity(t) - _C.multiply(fee, value(t)), breaks)
        if bank:
            tb = min(bank, key=lambda t: abs(t - 1))
            fee_term = _C.multiply(fee, value(tb))

    def f(t: Decimal) -> Decimal:
        return equity(t) - mm(t) - fee_term

    if f(_ONE) < 0:
        return _ZERO
    roots = _roots(f, breaks)
    if not roots:
        return None
    return min(roots, key=lambda t: abs(t - 1))


def isolated_price(policy: Policy, ins: Instrument, pos: Position, iso: Decimal) -> tuple[Decimal | None, str | None]:
    """One isolated position: Binance's formula (``at_price``) or Bybit's (``at_entry``)."""
    if pos.size == 0:
        return None, None
    rule = ins.rule("maintenance")
    lp: Decimal | None
    try:
        if convention(policy).maintenance == "at_entry":
            mm = position_requirement(rule, pos.size, pos.entry_price)
            lp = pos.entry_price + _C.divide(mm - iso, pos.size)
        else:
            lp = liquidation_price(rule, pos.size, pos.entry_price, iso)
    except InputError:
        return None, NOTE_BEYOND_CAP
    if lp is None or lp <= 0:
        return None, NOTE_NONE
    lp = _round(lp, pos.entry_price, policy)
    return (lp, None) if lp > 0 else (None, NOTE_NONE)


def iso_key(pos: Position) -> str:
    return leg_key(pos.symbol, pos.side)
