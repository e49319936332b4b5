"""The report: :func:`check` evaluates a whole account against a policy and a market snapshot and
answers with a :class:`MarginReport` (equity, requirement, excess, health, per-position rows).

May import the other engine modules, :mod:`zkmargin.rules.decimals`, :mod:`zkmargin.rules.digests`,
:mod:`zkmargin.rules.models` and :mod:`zkmargin.errors`. Used by the API (``zkmargin.check``), the
workflows and the tests; ``MarginReport`` is re-exported from ``zkmargin``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Context, Decimal, localcontext

from ...errors import BelowRequirementError, InputError
from ..decimals import EXACT, canonical, parse_decimal, quantize
from ..models import (
    Account,
    Market,
    load_account,
    load_market,
    load_policy,
    price_of,
    validate_account,
    validate_market,
)
from .collateral import collateral_value
from .exact import _DIV, _ONE, _ZERO
from .liquidation import liquidation_price
from .positions import notional, position_requirement, unrealized_pnl
from .requirements import apply_rounding, portfolio_requirement, standalone_scenario_requirement

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


def check(account, market, policy, threshold=0) -> MarginReport:
    """Evaluate an account against a policy and a market snapshot.

    ``policy``, ``market`` and ``account`` may be models or anything their loaders take (paths,
    dicts); models are validated against the policy again. ``threshold`` is an amount in the
    quote currency (``>= 0``, at the amount scale; a string, int or Decimal)."""
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
                for pos, _ins, _mark, _n, u, r in rows:
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
            for pos, ins, mark, _n, _u, _r in rows:
                try:
                    mms.append(position_requirement(ins.rule("maintenance"), pos.size, mark))
                except InputError:
                    beyond_cap = True
                    mms.append(_ZERO)
            total_mm = sum(mms, _ZERO)
            total_u = sum((u for *_, u, _r in rows), _ZERO)
        for idx, (pos, ins, _mark, n, u, r) in enumerate(rows):
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
