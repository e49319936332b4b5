"""The clear-text margin engine: the oracle the circuits mirror.

Everything here is exact ``Decimal`` arithmetic under :data:`zkmargin.rules.decimals.EXACT` (400 digits,
any rounding raises), with three documented exceptions: the rounding the policy asks for
(:func:`apply_rounding`), the liquidation price (a division, reported rounded half-even at the
price scale) and the health ratio (a division, reported with :data:`HEALTH_DIGITS` digits, rounded
toward -infinity so it never overstates).

Definitions (``docs/formats.md`` has the full text):

* ``N_i = |q_i| * mark_i`` (notional), ``UPnL_i = q_i * (mark_i - entry_i)``.
* collateral ``value_j = (1 - h_j) * amount_j * price_j`` (flat), or with tiers the quote value
  ``V = amount * price`` cut into slices ``(up_to_{k-1}, up_to_k]``, each slice valued at
  ``(1 - h_k)`` (:func:`collateral_value`). The quote asset's price is 1.
* rules at ``N`` (zero for a zero position): flat ``N * rate``; Deribit size-scaled
  ``N * (rate + per_size * |q|)``; brackets ``N * rate_k - amount_k`` for the bracket with
  ``floor_k < N <= cap_k`` (the first bracket also takes ``N = 0``). With the amounts of the
  recursion this equals ``max_k (N * rate_k - amount_k)`` (:func:`bracket_pieces`), a continuous
  convex function of ``N``.
* cross: ``equity = sum value_j + sum UPnL_i``; ``requirement = sum round(R_i)``.
* isolated: ``e_i = iso_i + UPnL_i`` must be ``>= (1 + buffer) * round(R_i)`` for every position,
  and ``equity = sum value_j + sum e_i`` must be ``>= required``.
* portfolio: ``loss_s = -sum_i q_i * pnl_{i,s}``;
  ``requirement = round(factor * max(0, max_s loss_s))``; equity as in cross.
* ``required = (1 + buffer) * requirement + threshold``; ``excess = equity - required``;
  ``meets = excess >= 0`` (and, in isolated mode, every position's own inequality).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Mapping, Sequence

from .decimals import EXACT, canonical, parse_decimal, quantize
from ..errors import BelowRequirementError, InputError
from ..models import (
    Account,
    Bracket,
    Collateral,
    Market,
    Policy,
    Rounding,
    Rule,
    Scenarios,
    bracket_amounts,
    load_account,
    load_market,
    load_policy,
    price_of,
    validate_account,
    validate_market,
)

__all__ = [
    "HEALTH_DIGITS",
    "notional",
    "unrealized_pnl",
    "bracket_for",
    "bracket_pieces",
    "position_requirement",
    "collateral_value",
    "collateral_pieces",
    "apply_rounding",
    "scenario_losses",
    "portfolio_requirement",
    "standalone_scenario_requirement",
    "liquidation_price",
    "PositionReport",
    "MarginReport",
    "check",
]

#: Digits after the point of the reported health ratio (rounded toward -infinity).
HEALTH_DIGITS = 6
_ZERO = Decimal(0)
_ONE = Decimal(1)
#: Context for the two divisions (liquidation price, health): 60 significant digits.
_DIV = Context(prec=60, rounding=ROUND_HALF_EVEN)


def _d(x) -> Decimal:
    return x if isinstance(x, Decimal) else parse_decimal(x)


# --- per position ---------------------------------------------------------------------------------


def notional(size, mark) -> Decimal:
    """``|size| * mark`` (exact)."""
    with localcontext(EXACT):
        return abs(_d(size)) * _d(mark)


def unrealized_pnl(size, mark, entry) -> Decimal:
    """``size * (mark - entry)`` (exact; negative size = short)."""
    with localcontext(EXACT):
        return _d(size) * (_d(mark) - _d(entry))


def _amounts(brackets: Sequence[Bracket]) -> list[Decimal]:
    if all(b.amount is not None for b in brackets):
        return [b.amount for b in brackets]
    return bracket_amounts(list(brackets))


def bracket_for(n, brackets: Sequence[Bracket]) -> int:
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


def position_requirement(rule: Rule, size, mark) -> Decimal:
    """The requirement ``R`` of one position under ``rule`` at ``mark`` (unrounded, exact).

    flat ``N * rate``; size-scaled ``N * (rate + per_size * |size|)``; brackets
    ``N * rate_k - amount_k`` with ``k = bracket_for(N)``; zero for a zero position."""
    size, mark = _d(size), _d(mark)
    if size == 0:
        return _ZERO
    with localcontext(EXACT):
        n = abs(size) * mark
        kind = rule.kind
        if kind == "flat":
            return n * rule.rate
        if kind == "linear":
            return n * (rule.rate + rule.per_size * abs(size))
        k = bracket_for(n, rule.brackets)
        return n * rule.brackets[k].rate - _amounts(rule.brackets)[k]


# --- collateral -----------------------------------------------------------------------------------


def collateral_value(entry: Collateral, amount, price) -> Decimal:
    """Haircut value of ``amount`` of ``entry.asset`` at ``price`` (quote currency, exact).

    Flat: ``(1 - h) * amount * price``. Tiered: ``V = amount * price`` is cut into the slices
    ``[0, up_to_1], (up_to_1, up_to_2], ...`` and each slice counts ``(1 - h_k)`` times its size."""
    amount, price = _d(amount), _d(price)
    with localcontext(EXACT):
        v = amount * price
        if entry.haircut is not None:
            return (_ONE - entry.haircut) * v
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


# --- rounding and scenarios -----------------------------------------------------------------------


def apply_rounding(value, rounding: Rounding | None) -> Decimal:
    """Round ``value`` per the policy's ``rounding`` (``None``: unchanged).

    ``up`` rounds toward +infinity, ``down`` toward -infinity, ``half_even`` to nearest with ties
    to even, at ``rounding.decimals`` digits after the point."""
    value = _d(value)
    if rounding is None:
        return value
    return quantize(value, rounding.decimals, rounding.mode)


def scenario_losses(scenarios: Scenarios, sizes: Mapping[str, Decimal]) -> list[Decimal]:
    """``loss_s = -sum_i q_i * pnl_{i,s}`` for every scenario ``s`` (exact; symbols not in
    ``sizes`` hold zero)."""
    with localcontext(EXACT):
        out = []
        for s in range(len(scenarios.names)):
            total = _ZERO
            for sym, q in sizes.items():
                q = _d(q)
                if q != 0:
                    total += q * scenarios.pnl[sym][s]
            out.append(-total)
        return out


def portfolio_requirement(policy: Policy, sizes: Mapping[str, Decimal]) -> Decimal:
    """``round(factor * max(0, max_s loss_s))`` with the factor for the policy's requirement
    (``initial_factor`` for initial margin)."""
    losses = scenario_losses(policy.scenarios, sizes)
    with localcontext(EXACT):
        worst = max([_ZERO, *losses])
        return apply_rounding(policy.factor * worst, policy.rounding)


def standalone_scenario_requirement(policy: Policy, symbol: str, size) -> Decimal:
    """The portfolio rule applied to one position alone (unrounded; informative only)."""
    with localcontext(EXACT):
        worst = max([_ZERO, *scenario_losses(policy.scenarios, {symbol: _d(size)})])
        return policy.factor * worst


# --- liquidation price ----------------------------------------------------------------------------


def _mm_brackets(rule: Rule, abs_size: Decimal) -> list[tuple[Decimal, Decimal | None, Decimal,
                                                             Decimal]]:
    """``[(floor, cap, mmr, cum)]`` of a maintenance rule (flat and size-scaled: one bracket)."""
    if rule.kind == "flat":
        return [(_ZERO, None, rule.rate, _ZERO)]
    if rule.kind == "linear":
        with localcontext(EXACT):
            return [(_ZERO, None, rule.rate + rule.per_size * abs_size, _ZERO)]
    cums = _amounts(rule.brackets)
    return [(b.floor, b.cap, b.rate, c) for b, c in zip(rule.brackets, cums)]


def liquidation_price(rule: Rule, size, entry, wallet, tmm1=0, upnl1=0) -> Decimal | None:
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
    for k, (floor, cap, mmr, cum) in enumerate(_mm_brackets(rule, q)):
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


# --- the report -----------------------------------------------------------------------------------


def _s(d: Decimal | None) -> str | None:
    return None if d is None else canonical(d)


@dataclass
class PositionReport:
    symbol: str
    size: Decimal
    notional: Decimal
    requirement: Decimal
    liquidation_price: Decimal | None
    upnl: Decimal = _ZERO
    isolated_equity: Decimal | None = None
    meets: bool | None = None

    def to_json_dict(self) -> dict:
        return {
            "symbol": self.symbol,
            "size": canonical(self.size),
            "notional": canonical(self.notional),
            "requirement": canonical(self.requirement),
            "liquidation_price": _s(self.liquidation_price),
        }


@dataclass
class MarginReport:
    """The engine's answer. Amounts are in the policy's quote currency.

    ``requirement`` is the (rounded) maintenance or initial requirement before buffer and threshold;
    ``required = (1 + buffer) * requirement + threshold``; ``excess = equity - required``."""

    meets: bool
    equity: Decimal
    requirement: Decimal
    required: Decimal
    excess: Decimal
    health: Decimal | None
    positions: list[PositionReport]
    mode: str
    venue: str
    quote: str
    requirement_kind: str
    buffer: Decimal
    threshold: Decimal
    collateral_value: Decimal
    policy_digest: str
    market_digest: str
    failing_positions: list[str] = field(default_factory=list)

    def to_json_dict(self) -> dict:
        """``{"meets", "equity", "requirement", "required", "excess", "health", "positions"}`` plus
        context keys; amounts as canonical decimal strings; ``health`` with
        :data:`HEALTH_DIGITS` digits or ``null``."""
        out = {
            "meets": self.meets,
            "equity": canonical(self.equity),
            "requirement": canonical(self.requirement),
            "required": canonical(self.required),
            "excess": canonical(self.excess),
            "health": None if self.health is None else f"{self.health:.{HEALTH_DIGITS}f}",
            "positions": [p.to_json_dict() for p in self.positions],
            "mode": self.mode,
            "venue": self.venue,
            "quote": self.quote,
            "requirement_kind": self.requirement_kind,
            "buffer": canonical(self.buffer),
            "threshold": canonical(self.threshold),
            "collateral_value": canonical(self.collateral_value),
            "policy_digest": self.policy_digest,
            "market_digest": self.market_digest,
        }
        if self.mode == "isolated":
            out["failing_positions"] = list(self.failing_positions)
        return out

    def raise_if_below(self) -> "MarginReport":
        """:class:`BelowRequirementError` when the account does not meet the requirement."""
        if not self.meets:
            raise BelowRequirementError("the account does not meet the requirement (with buffer "
                                        "and threshold); nothing can be proved")
        return self


def _health(equity: Decimal, required: Decimal) -> Decimal | None:
    if required <= 0:
        return None
    q = _DIV.divide(equity, required)
    return q.quantize(Decimal(1).scaleb(-HEALTH_DIGITS), rounding=ROUND_FLOOR,
                      context=Context(prec=120))


def check(account, market, policy, threshold=0) -> MarginReport:
    """Evaluate an account against a policy and a market snapshot.

    ``policy``, ``market`` and ``account`` may be models or anything their loaders take (paths,
    dicts); models are validated against the policy again. ``threshold`` is an amount in the
    quote currency (``>= 0``, at the amount scale; a string, int or Decimal)."""
    from .digests import digest

    policy = load_policy(policy)
    if isinstance(market, Market):
        validate_market(market, policy)
    else:
        market = load_market(market, policy)
    if isinstance(account, Account):
        validate_account(account, policy)
    else:
        account = load_account(account, policy)
    t = parse_decimal(threshold, field="threshold", scale=policy.decimals.amount, kind="amount")
    if t < 0:
        raise InputError("the threshold must be >= 0", field="threshold")

    mode = policy.mode
    with localcontext(EXACT):
        coll = _ZERO
        for asset, amt in account.balances.items():
            coll += collateral_value(policy.collateral_entry(asset), amt,
                                     price_of(market, policy, asset))

        rows = []
        for i, pos in enumerate(account.positions):
            ins = policy.instrument(pos.symbol)
            mark = market.prices[pos.symbol]
            n = notional(pos.size, mark)
            u = unrealized_pnl(pos.size, mark, pos.entry_price)
            if mode == "portfolio":
                r = standalone_scenario_requirement(policy, pos.symbol, pos.size)
            else:
                try:
                    raw = position_requirement(ins.rule(policy.requirement), pos.size, mark)
                except InputError as e:
                    raise InputError(e.message, field=f"positions[{i}]") from None
                r = apply_rounding(raw, policy.rounding)
            rows.append((pos, ins, mark, n, u, r))

        one_b = _ONE + policy.buffer
        failing: list[str] = []
        if mode == "portfolio":
            sizes = {pos.symbol: pos.size for pos in account.positions}
            requirement = portfolio_requirement(policy, sizes)
            equity = coll + sum((u for *_, u, _r in rows), _ZERO)
        else:
            requirement = sum((r for *_, r in rows), _ZERO)
            if mode == "cross":
                equity = coll + sum((u for *_, u, _r in rows), _ZERO)
            else:
                equity = coll
                for pos, ins, mark, n, u, r in rows:
                    e_i = account.isolated_margin.get(pos.symbol, _ZERO) + u
                    equity += e_i
                    if e_i < one_b * r:
                        failing.append(pos.symbol)
        required = one_b * requirement + t
        excess = equity - required
        meets = excess >= 0 and not failing

        # liquidation prices (perpetuals and futures, cross and isolated), Binance's formula
        # The liquidation price is informative only: when the account's requirement is the
        # initial one, a position may lie beyond the maintenance table's last cap, and then no
        # liquidation price exists (null) — it never changes whether the account meets the policy.
        price_scale = policy.decimals.price
        reports = []
        mms = []
        beyond_cap = False
        if mode == "cross":
            for pos, ins, mark, n, u, r in rows:
                try:
                    mms.append(position_requirement(ins.rule("maintenance"), pos.size, mark))
                except InputError:
                    beyond_cap = True
                    mms.append(_ZERO)
            total_mm = sum(mms, _ZERO)
            total_u = sum((u for *_, u, _r in rows), _ZERO)
        for idx, (pos, ins, mark, n, u, r) in enumerate(rows):
            lp = None
            iso_eq = None
            ok = None
            if mode == "cross" and ins.kind != "option" and not beyond_cap:
                lp = liquidation_price(ins.rule("maintenance"), pos.size, pos.entry_price, coll,
                                       total_mm - mms[idx], total_u - u)
            elif mode == "isolated":
                iso = account.isolated_margin.get(pos.symbol, _ZERO)
                iso_eq = iso + u
                ok = pos.symbol not in failing
                try:
                    lp = liquidation_price(ins.rule("maintenance"), pos.size, pos.entry_price, iso)
                except InputError:
                    lp = None
            if lp is not None:
                lp = quantize(lp, price_scale, "half_even")
                if lp <= 0:
                    lp = None
            reports.append(PositionReport(pos.symbol, pos.size, n, r, lp, u, iso_eq, ok))

    return MarginReport(
        meets=meets,
        equity=equity,
        requirement=requirement,
        required=required,
        excess=excess,
        health=_health(equity, required),
        positions=reports,
        mode=mode,
        venue=policy.venue,
        quote=policy.quote,
        requirement_kind=policy.requirement,
        buffer=policy.buffer,
        threshold=t,
        collateral_value=coll,
        policy_digest=digest(policy),
        market_digest=digest(market),
        failing_positions=failing,
    )
