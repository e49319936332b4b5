"""The report: :func:`check` evaluates a whole account against a policy and a market snapshot and
answers with a :class:`MarginReport` (equity, requirement, excess, health, per-position rows).

May import the other engine modules, :mod:`zkmargin.rules.decimals`, :mod:`zkmargin.rules.digests`,
:mod:`zkmargin.rules.models` and :mod:`zkmargin.errors`. Used by the API (``zkmargin.check``), the
workflows and the tests; ``MarginReport`` is re-exported from ``zkmargin``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Context, Decimal, localcontext
from typing import Any

from ...errors import BelowRequirementError, InputError
from ..decimals import EXACT, Number, canonical, parse_decimal
from ..models import (
    Account,
    DocumentSource,
    Market,
    Policy,
    Position,
    load_account,
    load_market,
    load_policy,
    price_of,
    validate_account,
    validate_market,
)
from ..models.coverage import order_totals
from . import unified
from .collateral import collateral_value
from .exact import _DIV, _ONE, _ZERO
from .liquidation_prices import Row, cross_prices, iso_key, isolated_price
from .requirements import apply_rounding, portfolio_requirement, standalone_scenario_requirement
from .terms import order_requirement, position_notional, position_upnl, requirement_at

#: Digits after the point of the reported health ratio (rounded toward -infinity).
HEALTH_DIGITS = 6


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
    side: str | None = None  # hedge mode's leg
    liquidation_note: str | None = None  # why there is no liquidation price (or what it assumes)

    def to_json_dict(self) -> dict[str, Any]:
        out = {
            "symbol": self.symbol,
            "size": canonical(self.size),
            "notional": canonical(self.notional),
            "requirement": canonical(self.requirement),
            "liquidation_price": _s(self.liquidation_price),
        }
        if self.side is not None:
            out["side"] = self.side
        if self.liquidation_note is not None:
            out["liquidation_note"] = self.liquidation_note
        return out


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
    notes: list[str] = field(default_factory=list)
    zone: dict[str, Any] | None = None  # the margin-call zone (engine/zones.py) when the policy has a ladder

    def to_json_dict(self) -> dict[str, Any]:
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
        if self.notes:
            out["notes"] = list(self.notes)
        if self.zone is not None:
            out["zone"] = self.zone
        return out

    def raise_if_below(self) -> MarginReport:
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


def check(account: Account | DocumentSource, market: Market | DocumentSource,
          policy: Policy | DocumentSource, threshold: Number = 0, *,
          with_digests: bool = True) -> MarginReport:
    """Evaluate an account against a policy and a market snapshot.

    ``policy``, ``market`` and ``account`` may be models or anything their loaders take (paths,
    dicts); models are validated against the policy again. ``threshold`` is an amount in the
    quote currency (``>= 0``, at the amount scale; a string, int or Decimal).
    ``with_digests=False`` leaves the report's ``policy_digest`` and ``market_digest`` empty: the
    prover needs only the decision, and the statement digests the documents itself (a
    500-instrument policy's canonical digest is a tenth of a W3 proof)."""
    from ..digests import digest

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
    d = policy.decimals
    with localcontext(EXACT):
        coll = _ZERO
        loans = _ZERO
        for asset, amt in account.balances.items():
            entry, price = policy.collateral_entry(asset), price_of(market, policy, asset)
            if mode == "unified":
                coll += unified.balance_value(entry, amt, price, d.rate)
                loans += unified.loan_requirement(entry, amt, price)
            else:
                coll += collateral_value(entry, amt, price)

        rows = []
        orders = order_totals(account, policy) if policy.open_orders is not None else {}
        for i, pos in enumerate(account.positions):
            ins = policy.instrument(pos.symbol)
            mark = market.prices[pos.symbol]
            n = position_notional(policy, market, ins, pos.size)
            u = position_upnl(policy, market, ins, pos)
            if mode == "portfolio":
                r = standalone_scenario_requirement(policy, pos.symbol, pos.size)
            else:
                try:
                    if policy.open_orders is not None:
                        o = orders.pop(pos.symbol, {"buy": _ZERO, "sell": _ZERO})
                        raw = order_requirement(policy, market, ins, pos.size, o["buy"], o["sell"])
                    else:
                        raw = requirement_at(policy, market, ins, policy.requirement, pos.size)
                except InputError as e:
                    raise InputError(e.message, field=f"positions[{i}]") from None
                r = apply_rounding(raw, policy.rounding)
            rows.append((pos, ins, mark, n, u, r))
        for sym, o in orders.items():  # open orders in symbols with no position
            ins = policy.instrument(sym)
            try:
                raw = order_requirement(policy, market, ins, _ZERO, o["buy"], o["sell"])
            except InputError as e:
                raise InputError(e.message, field="orders") from None
            rows.append((Position(symbol=sym, size=_ZERO, entry_price=_ZERO), ins,
                         market.prices[sym], _ZERO, _ZERO, apply_rounding(raw, policy.rounding)))

        one_b = _ONE + policy.buffer
        failing: list[str] = []
        if mode == "portfolio":
            sizes = {pos.symbol: pos.size for pos in account.positions}
            requirement = portfolio_requirement(policy, sizes)
            equity = coll + sum((u for *_, u, _r in rows), _ZERO)
        else:
            requirement = sum((r for *_, r in rows), _ZERO) + loans
            if mode == "unified":
                equity = coll + unified.weighted_pnl(sum((u for *_, u, _r in rows), _ZERO), policy)
            elif mode == "cross":
                equity = coll + sum((u for *_, u, _r in rows), _ZERO)
            else:
                equity = coll
                for pos, _ins, _mark, _n, u, r in rows:
                    e_i = account.isolated_margin.get(iso_key(pos), _ZERO) + u
                    equity += e_i
                    if e_i < one_b * r:
                        failing.append(iso_key(pos))
        required = one_b * requirement + t
        excess = equity - required
        meets = excess >= 0 and not failing

        # liquidation prices: informative only, per the policy's convention
        # (liquidation_prices.py); a note says why a position has none
        lrows = [Row(pos, ins, mark, u) for pos, ins, mark, _n, u, _r in rows]
        if mode == "cross":
            prices = cross_prices(policy, market, account, lrows)
        elif mode == "portfolio":
            prices = cross_prices(policy, market, account, lrows, fixed_requirement=requirement)
        else:
            prices = [isolated_price(policy, ins, pos,
                                     account.isolated_margin.get(iso_key(pos), _ZERO))
                      for pos, ins, *_ in rows]
        reports = []
        for (pos, _ins, _mark, n, u, r), (lp, note) in zip(rows, prices):
            iso_eq = None
            ok = None
            if mode == "isolated":
                iso_eq = account.isolated_margin.get(iso_key(pos), _ZERO) + u
                ok = iso_key(pos) not in failing
            reports.append(PositionReport(pos.symbol, pos.size, n, r, lp, u, iso_eq, ok,
                                          side=pos.side, liquidation_note=note))
        notes = []
        if equity < 0:
            notes.append("negative equity: the account owes more than it holds (health undefined)")

    zone = None
    if policy.zones is not None:
        from .zones import zone_report

        zone = zone_report(account, market, policy, t).to_json_dict()
    return MarginReport(
        zone=zone,
        meets=meets,
        equity=equity,
        requirement=requirement,
        required=required,
        excess=excess,
        health=None if equity < 0 else _health(equity, required),
        notes=notes,
        positions=reports,
        mode=mode,
        venue=policy.venue,
        quote=policy.quote,
        requirement_kind=policy.requirement,
        buffer=policy.buffer,
        threshold=t,
        collateral_value=coll,
        policy_digest=digest(policy) if with_digests else "",
        market_digest=digest(market) if with_digests else "",
        failing_positions=failing,
    )
