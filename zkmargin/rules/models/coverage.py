"""Issue 15 (A): the document parts that let real accounts be written down — hedge-mode legs, inverse
(coin-margined) contracts, option standard margin in cross mode, open orders, and the venue's
liquidation-price convention — and the checks of what they mean.

Every field here is optional and additive: a policy or an account without them reads and digests as
before (``docs/formats.md``, "Coverage"). May import :mod:`.fields`, :mod:`.policy` (for types
only) and :mod:`zkmargin.rules.decimals`. Used by :mod:`.policy` (field types), :mod:`.policy_checks`
and :mod:`.account` (the checks), the engine and the circuits' plan.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import model_validator

from ...errors import InputError, PolicyError
from ..decimals import check_scale
from .fields import _M, Bool, Dec, Str, _Tagged

if TYPE_CHECKING:
    from .account import Account
    from .policy import Instrument, Policy


class WidthCheck(Protocol):
    """The account module's width check: ``value`` at ``scale`` fits ``width`` bits."""

    def __call__(self, d: Decimal, scale: int, width: int, *, field: str, kind: str,
                 source: str | None) -> None: ...


#: Digits a policy may declare for the reciprocal prices of inverse contracts (``decimals.reciprocal``).
MAX_RECIPROCAL_SCALE = 40

#: Suffixes of the slot keys of hedge-mode legs and of the open-order slots (``size:BTCUSDT#short``).
LEG_SUFFIX = {"long": "#long", "short": "#short"}
ORDER_SUFFIX = {"buy": "#buy", "sell": "#sell"}


class Inverse(_M):
    """An inverse (coin-margined) contract: one contract is worth ``contract_size`` units of the
    price currency (e.g. 100 USD), and its notional, PnL and requirement are amounts of ``settle``
    (the coin): ``N = |q|·contract_size/mark``, ``PnL = q·contract_size·(1/entry − 1/mark)``."""

    contract_size: Dec
    settle: Str


class OptionRule(_M):
    """Deribit-style standard margin of one option contract (all inputs public), per contract:

    short  ``max(rate − OTM/S, floor)·V + mark`` (``otm`` false: ``max(rate, floor)·V + mark``),
           for a put also at least ``max(put_minimum·V, put_minimum·mark) + mark``;
    long   ``mark`` (``long: "premium"``) or 0 (``long: "none"``),

    with ``S`` the index price (strike units), ``OTM = max(0, K − S)`` (call) or ``max(0, S − K)``
    (put), ``V = multiplier·price(underlying)`` the underlying's value in the policy's quote."""

    rate: Dec
    floor: Dec | None = None
    otm: Bool = True
    put_minimum: Dec | None = None
    long: Literal["premium", "none"] = "premium"


class OpenOrders(_M):
    """Open orders consume initial margin: ``worst_side`` charges each symbol
    ``max(R(|q + buys|), R(|q − sells|))`` with the instrument's initial rule at the mark
    (Deribit, BitMEX: the side with the larger requirement), in place of ``R(|q|)``."""

    rule: Literal["worst_side"] = "worst_side"


class Liquidation(_M):
    """The venue's liquidation-price convention (informative: never changes ``meets``).

    ``maintenance``: ``at_price`` re-evaluates the maintenance margin at the liquidation price
    (Binance), ``at_entry`` fixes it at the entry value (Bybit). ``hedge``: ``net`` prices every
    position that moves with one underlying together (Binance's cross formula sums the legs), ``leg``
    prices each leg alone with the rest of the account fixed. ``close_fee``: a fee rate on the
    value at the bankruptcy price added to the maintenance margin (Bybit's inverse cross example).
    ``tick``: the reported price is rounded to this tick toward the mark (BTCUSD's 0.5)."""

    maintenance: Literal["at_price", "at_entry"] = "at_price"
    hedge: Literal["net", "leg"] = "net"
    close_fee: Dec | None = None
    tick: Dec | None = None


class Order(_M):
    """A resting order (private): ``side`` buy or sell, ``size`` > 0 at the size scale."""

    symbol: Str
    side: Literal["buy", "sell"]
    size: Dec

    @model_validator(mode="after")
    def _shape(self) -> Order:
        if self.size <= 0:
            raise _Tagged(InputError, "an order's size must be > 0")
        return self


# --- policy checks ---------------------------------------------------------------------------------


def option_in_cross(ins: Instrument) -> bool:
    """An option carrying standard-margin rules (``{"option": ...}``), usable in cross mode."""
    return ins.kind == "option" and ins.maintenance is not None and ins.maintenance.option is not None


def uses_coverage(p: Policy) -> list[str]:
    """The issue-15 features a policy uses (for messages: the K-slot layout supports none)."""
    out = []
    if p.position_mode == "hedge":
        out.append("position_mode hedge")
    if p.open_orders is not None:
        out.append("open_orders")
    if any(i.inverse is not None for i in p.instruments):
        out.append("inverse contracts")
    if any(option_in_cross(i) for i in p.instruments):
        out.append("option standard margin")
    return out


def validate_coverage(p: Policy, source: str | None) -> None:
    """What the issue-15 fields mean (called by ``validate_policy``)."""
    one = Decimal(1)
    features = uses_coverage(p)
    if features and p.slots is not None:
        raise PolicyError(f"the K-slot layout does not support {', '.join(features)}; remove 'slots'",
                          source=source, field="slots")
    if p.position_mode == "hedge" and p.mode not in ("cross", "isolated"):
        raise PolicyError(f"hedge mode is supported in cross and isolated mode, not {p.mode}",
                          source=source, field="position_mode")
    if p.open_orders is not None:
        if p.mode != "cross":
            raise PolicyError(f"open orders are counted in cross mode, not {p.mode}", source=source,
                              field="open_orders")
        if p.requirement != "initial":
            raise PolicyError("open orders consume initial margin; this policy's requirement is "
                              "maintenance", source=source, field="open_orders")
        if p.position_mode == "hedge":
            raise PolicyError("open orders are not supported in hedge mode", source=source,
                              field="open_orders")
    if p.liquidation is not None and p.liquidation.close_fee is not None:
        check_scale(p.liquidation.close_fee, p.decimals.rate, field="liquidation.close_fee",
                    kind="rate", source=source)
        if not 0 <= p.liquidation.close_fee < one:
            raise PolicyError("must be >= 0 and < 1", source=source, field="liquidation.close_fee")
    if p.liquidation is not None and p.liquidation.tick is not None:
        check_scale(p.liquidation.tick, p.decimals.price, field="liquidation.tick", kind="price",
                    source=source)
        if p.liquidation.tick <= 0:
            raise PolicyError("must be > 0", source=source, field="liquidation.tick")
    rs = p.decimals.reciprocal
    if rs is not None and not 0 <= rs <= MAX_RECIPROCAL_SCALE:
        raise PolicyError(f"must be between 0 and {MAX_RECIPROCAL_SCALE}", source=source,
                          field="decimals.reciprocal")
    assets = {c.asset for c in p.collateral}
    for i, ins in enumerate(p.instruments):
        f = f"instruments[{i}]"
        if ins.inverse is not None:
            if ins.kind == "option":
                raise PolicyError("an option cannot be inverse (price it in the settle coin instead)",
                                  source=source, field=f"{f}.inverse")
            if p.mode != "cross":
                raise PolicyError(f"inverse contracts are supported in cross mode, not {p.mode}",
                                  source=source, field=f"{f}.inverse")
            if rs is None:
                raise PolicyError("inverse contracts need 'decimals.reciprocal' (digits of 1/price)",
                                  source=source, field="decimals.reciprocal")
            check_scale(ins.inverse.contract_size, p.decimals.price, field=f"{f}.inverse.contract_size",
                        kind="price", source=source)
            if ins.inverse.contract_size <= 0:
                raise PolicyError("must be > 0", source=source, field=f"{f}.inverse.contract_size")
            for name in ("maintenance", "initial"):
                r = getattr(ins, name)
                if r is not None and r.kind in ("leverage", "open_interest"):
                    raise PolicyError("inverse contracts take flat, size-scaled or bracket rules, not "
                                      f"{r.kind.replace('_', '-')} rules", source=source, field=f"{f}.{name}")
            if ins.inverse.settle != p.quote and ins.inverse.settle not in assets:
                raise PolicyError(f"the settle coin {ins.inverse.settle!r} is neither the quote nor a "
                                  "collateral asset", source=source, field=f"{f}.inverse.settle")
            for kind in ("maintenance", "initial"):
                rule = getattr(ins, kind)
                if rule is not None and rule.kind in ("leverage", "open_interest"):
                    raise PolicyError("leverage and open-interest rules are not supported on inverse "
                                      "contracts (no coin-notional ratio rule)", source=source,
                                      field=f"{f}.{kind}")
        if ins.multiplier is not None:
            check_scale(ins.multiplier, p.decimals.size, field=f"{f}.multiplier", kind="size",
                        source=source)
            if ins.multiplier <= 0 or ins.kind != "option":
                raise PolicyError("an option's multiplier, > 0", source=source, field=f"{f}.multiplier")
        if ins.index is not None and ins.kind != "option":
            raise PolicyError("only options have an 'index'", source=source, field=f"{f}.index")


def validate_option_rule(ins: Instrument, p: Policy, f: str, source: str | None) -> None:
    """An option in cross mode: both rules are option rules with rates on the rate scale."""
    for name in ("maintenance", "initial"):
        rule = getattr(ins, name)
        if rule is None or rule.option is None:
            raise PolicyError(f"an option in {p.mode} mode needs an option rule ({{'option': ...}}) "
                              f"for {name}", source=source, field=f"{f}.{name}")
        extras = [k for k in ("whole_position", "basis", "notional_coef", "fee_to_close") if getattr(rule, k) is not None]
        if extras:
            raise PolicyError(f"an option rule has no {', '.join(repr(k) for k in extras)} (those refine "
                              "rates and brackets)", source=source, field=f"{f}.{name}.{extras[0]}")
        o = rule.option
        for key in ("rate", "floor", "put_minimum"):
            v = getattr(o, key)
            if v is None:
                continue
            check_scale(v, p.decimals.rate, field=f"{f}.{name}.option.{key}", kind="rate",
                        source=source)
            if v < 0:
                raise PolicyError("must be >= 0", source=source, field=f"{f}.{name}.option.{key}")
    if p.mode != "cross":
        raise PolicyError(f"option standard margin is supported in cross mode, not {p.mode}",
                          source=source, field=f"{f}.kind")


# --- account checks --------------------------------------------------------------------------------


def leg_key(symbol: str, side: str | None) -> str:
    """The key of a position's slot: the symbol, or ``symbol#long`` / ``symbol#short`` in hedge mode."""
    return symbol if side is None else symbol + LEG_SUFFIX[side]


def order_totals(a: Account, policy: Policy | None = None) -> dict[str, dict[str, Decimal]]:
    """``{symbol: {"buy": Σ sizes, "sell": Σ sizes}}`` of the account's open orders."""
    out: dict[str, dict[str, Decimal]] = {}
    for o in a.orders or []:
        d = out.setdefault(o.symbol, {"buy": Decimal(0), "sell": Decimal(0)})
        d[o.side] += o.size
    return out


def validate_account_coverage(a: Account, policy: Policy, source: str | None,
                              fits: WidthCheck) -> None:
    """Sides of hedge-mode legs, one leg per symbol and side, positive inverse entries, open orders
    (known symbols, scales, widths of each side's total and of the exposures ``q + buys``,
    ``q − sells``). ``fits(value, scale, width, field, kind)`` is the account module's width check."""
    sc, bits = policy.decimals, policy.bits
    hedge = policy.position_mode == "hedge"
    for i, pos in enumerate(a.positions):
        f = f"positions[{i}]"
        if hedge:
            if pos.side is None:
                raise InputError("hedge mode: every position names its 'side' (long or short)",
                                 source=source, field=f"{f}.side")
            if (pos.side == "long" and pos.size < 0) or (pos.side == "short" and pos.size > 0):
                raise InputError(f"a {pos.side} leg's size must be {'>=' if pos.side == 'long' else '<='} 0",
                                 source=source, field=f"{f}.size")
        elif pos.side is not None:
            raise InputError("'side' is only used in hedge mode (the policy's position_mode)",
                             source=source, field=f"{f}.side")
        if policy.has_instrument(pos.symbol) and policy.instrument(pos.symbol).inverse is not None \
                and pos.size != 0 and pos.entry_price <= 0:
            raise InputError("an inverse contract's entry price must be > 0", source=source,
                             field=f"{f}.entry_price")
    if not a.orders:
        return
    if policy.open_orders is None:
        raise InputError("the policy does not count open orders (no 'open_orders' section)",
                         source=source, field="orders")
    for k, o in enumerate(a.orders):
        f = f"orders[{k}]"
        if not policy.has_instrument(o.symbol):
            raise InputError(f"the policy lists no instrument {o.symbol!r}", source=source,
                             field=f"{f}.symbol")
        check_scale(o.size, sc.size, field=f"{f}.size", kind="size", source=source)
        ins = policy.instrument(o.symbol)
        if ins.inverse is not None or ins.kind == "option":
            raise InputError("open orders are counted on linear perpetuals and futures only",
                             source=source, field=f"{f}.symbol")
    held = {p.symbol: p.size for p in a.positions}
    for sym, d in order_totals(a, policy).items():
        q = held.get(sym, Decimal(0))
        for side, exposure in (("buy", q + d["buy"]), ("sell", q - d["sell"])):
            fits(d[side], sc.size, bits.size, field=f"orders ({sym} {side} total)", kind="size",
                 source=source)
            fits(exposure, sc.size, bits.size, field=f"orders ({sym} position and {side} orders)",
                 kind="size", source=source)


__all__ = [
    "Inverse",
    "OptionRule",
    "OpenOrders",
    "Liquidation",
    "Order",
    "LEG_SUFFIX",
    "ORDER_SUFFIX",
    "leg_key",
    "order_totals",
    "option_in_cross",
    "uses_coverage",
    "validate_coverage",
    "validate_option_rule",
    "validate_account_coverage",
]
