"""ccxt leverage tiers (``fetch_leverage_tiers``) → a ``zkmargin.policy/1`` that is provable.

Per instrument, the exchange's tier table becomes the maintenance bracket table
``MM = N·rate_k − amount_k`` for ``floor_k < N ≤ cap_k``:

* floors and caps from the exchange (Binance ``notionalFloor``/``notionalCap``; Bybit's floor is
  the previous tier's ``riskLimitValue``); the first floor must be 0 and each floor the previous
  cap — a gap or an overlap is an error naming the symbol and tier;
* the maintenance amount is the exchange's (Binance ``cum``, Bybit ``mmDeduction``) and must equal
  the recursion ``amount_k = floor_k·(rate_k − rate_{k−1}) + amount_{k−1}`` exactly — otherwise the
  requirement would jump at a floor and the table is refused, never repaired;
* the initial rule uses the same floors and caps with the exchange's initial rate (Bybit
  ``initialMargin``) or ``1 / maxLeverage`` (Binance ``initialLeverage``), rounded *up* at the
  policy's rate scale when it does not terminate (1/75 → 0.013334: never below the exchange's);
  its amounts follow the same recursion, which makes it the continuous form of the exchange's
  step rule (equal to ``N / leverage`` in the first tier, below it by ``amount_k`` above).

Scales: size from the markets' size steps; price at least :data:`PRICE_DECIMALS` (the exchanges
write prices with 8 decimals) and at least every tick and given price; amount at least
:data:`AMOUNT_DECIMALS` and every floor, cap and amount; rate at least :data:`RATE_DECIMALS` and
every published rate and haircut. Widths: the defaults, the price width raised when 16 × the
largest given price would not fit. Before the policy is returned its circuit is built (verifier
side) at the largest prices its widths allow, so a policy that could wrap is never written.

May import the rules, the margin circuit's plan and the importers beside it. Used by
:mod:`.workflows`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Context, Decimal, localcontext
from typing import Any

from zkmargin.errors import CircuitError, ExchangeDataError, PolicyError
from zkmargin.rules.decimals import (
    EXACT,
    bits_needed,
    canonical,
    decimals_of,
    parse_decimal,
    to_fixed,
)
from zkmargin.rules.models import DEFAULT_BITS, POLICY_FORMAT, Market, Policy, load_policy

from .exchanges import TierRow
from .fields import Where
from .markets import Contract, Contracts
from .source import ExchangeData

__all__ = [
    "PRICE_DECIMALS",
    "AMOUNT_DECIMALS",
    "RATE_DECIMALS",
    "ImportedPolicy",
    "tier_table",
    "policy_from_exchange",
    "check_provable",
]

PRICE_DECIMALS = 8
AMOUNT_DECIMALS = 8
RATE_DECIMALS = 6


@dataclass
class ImportedPolicy:
    policy: Policy
    contracts: list[Contract]
    notes: list[str] = field(default_factory=list)


def tier_table(rows: list[TierRow], c: Contract, where: Where, profile) -> list[TierRow]:
    """Check one instrument's tiers: start at 0, no gap or overlap, caps increasing, rates not
    decreasing, amounts on the recursion (exact)."""
    if not rows:
        raise where.error(f"no tiers for {c.id}")
    ff, af = profile.floor_field, profile.amount_field
    with localcontext(EXACT):
        for k, t in enumerate(rows):
            w = where.at(f"[{k}].info")
            n = k + 1
            if t.cap is not None and t.cap <= t.floor:
                raise w.error(f"{c.id} tier {n}: cap {canonical(t.cap)} is not above its floor "
                              f"{canonical(t.floor)}")
            if t.rate < 0 or t.rate >= 1:
                raise w.error(f"{c.id} tier {n}: a maintenance rate must be in [0, 1)")
            if k == 0:
                if t.floor != 0:
                    raise w.error(f"{c.id} tier 1 starts at {canonical(t.floor)}, not 0", ff)
                if t.amount != 0:
                    raise w.error(f"{c.id} tier 1: maintenance amount {canonical(t.amount)}, the "
                                  "first tier's is 0", af)
                continue
            prev = rows[k - 1]
            assert prev.cap is not None  # only the last tier is open-ended (checked when read)
            if t.floor != prev.cap:
                what = "gap" if t.floor > prev.cap else "overlap"
                raise w.error(f"{c.id} tier {n}: {what}: it starts at {canonical(t.floor)} but "
                              f"tier {k} ends at {canonical(prev.cap)}", ff)
            if t.rate < prev.rate:
                raise w.error(f"{c.id} tier {n}: the maintenance rate falls ({canonical(prev.rate)}"
                              f" then {canonical(t.rate)}); the requirement must be convex")
            expected = t.floor * (t.rate - prev.rate) + prev.amount
            if t.amount != expected:
                raise w.error(
                    f"{c.id} tier {n}: maintenance amount {canonical(t.amount)} does not follow "
                    f"the recursion floor x (rate - previous rate) + previous amount = "
                    f"{canonical(expected)}; the requirement would jump at {canonical(t.floor)}",
                    af)
    return rows


def _initial_rate(t: TierRow, dr: int) -> tuple[Decimal, bool]:
    """(rate, rounded): the published initial rate, or 1/max leverage rounded up at ``dr``."""
    if t.initial_rate is not None:
        return t.initial_rate, False
    assert t.max_leverage is not None  # a tier without an initial rate has a maximum leverage (read so)
    q = Context(prec=60, rounding=ROUND_CEILING).divide(Decimal(1), t.max_leverage)
    r = q.quantize(Decimal(1).scaleb(-dr), rounding=ROUND_CEILING)
    with localcontext(EXACT):
        exact = r * t.max_leverage == 1
    return r, not exact


def _scale(name: str, need: int, floor: int, given: int | None) -> int:
    if given is None:
        return max(need, floor)
    if given < need:
        raise PolicyError(f"{given} decimals, the exchange data needs {need}",
                          field=f"decimals.{name}")
    return given


def check_provable(policy: Policy, market: Market | None = None) -> None:
    """Build the policy's circuit (verifier side) at the largest price every instrument and asset
    could have within the declared widths, and with ``market`` if given: a bound that could wrap
    raises :class:`PolicyError` before anything is written."""
    from zkmargin.circuits.margin import build, plan_margin

    dp = policy.decimals.price
    top = Decimal((1 << policy.bits.price) - 1).scaleb(-dp)
    keys = policy.symbols + [c.asset for c in policy.collateral if c.asset != policy.quote]
    stress = Market(format="zkmargin.market/1", as_of="2000-01-01T00:00:00Z",
                    prices={k: top for k in keys})
    for m, label in ((stress, "at the widths' largest prices"), (market, "at the given marks")):
        if m is None:
            continue
        try:
            build(plan_margin(policy, m, Decimal(0)))
        except CircuitError as e:
            raise PolicyError(f"the imported policy would not be provable {label}: {e.message}",
                              field="bits") from None


def policy_from_exchange(data: ExchangeData, *, symbols: Iterable[str] | None = None,
                         mode: str = "cross", requirement: str = "maintenance", buffer="0",
                         collateral: Iterable[str] = (), venue: str | None = None,
                         price_decimals: int | None = None,
                         amount_decimals: int | None = None,
                         prices: dict[str, Decimal] | None = None) -> ImportedPolicy:
    """The venue's policy for ``symbols`` (default: every market in the tiers recording) from its
    published tiers, haircuts and markets (see the module rules). ``prices`` (marks and collateral
    prices, e.g. from :func:`snapshot_prices`) widen the price scale and width to hold them."""
    profile = data.profile
    contracts = Contracts(data.markets(), profile, data.name("markets"))
    src = data.name("tiers")
    names = list(symbols) if symbols is not None else None
    tiers_doc = data.tiers([contracts.get(s).symbol for s in names] if names else [])
    instruments = contracts.select(names, list(tiers_doc))
    quotes = {c.quote for c in instruments}
    if len(quotes) != 1:
        raise ExchangeDataError(f"the instruments settle in {', '.join(sorted(quotes))}; a policy "
                                "has one quote currency: import them as separate policies",
                                field="symbols")
    quote = quotes.pop()
    buffer_d = parse_decimal(buffer, field="buffer")

    tables: dict[str, list[TierRow]] = {}
    for c in instruments:
        rows = tiers_doc.get(c.symbol)
        if rows is None:
            rows = tiers_doc.get(c.id)
        w = Where(src, f"tiers[{c.id}]")
        if not isinstance(rows, list):
            raise w.error(f"no leverage tiers for {c.id}")
        tables[c.id] = tier_table(profile.tiers(rows, w), c, w, profile)

    assets = [quote] + [a for a in dict.fromkeys(collateral) if a != quote]
    published = profile.haircuts(data.collateral(), Where(data.name("collateral"), "collateral"))
    haircuts: dict[str, Decimal] = {}
    for a in assets:
        if a in published:
            haircuts[a] = published[a]
        elif a == quote:
            haircuts[a] = Decimal(0)
        else:
            raise ExchangeDataError(f"{profile.id} publishes no haircut for {a} (through the data "
                                    "given); zkmargin will not guess one", field="collateral")

    # scales
    ds = max(c.size_decimals for c in instruments)
    price_need = max(c.price_decimals for c in instruments)
    if prices:
        price_need = max([price_need] + [decimals_of(v) for v in prices.values()])
    dp = _scale("price", price_need, PRICE_DECIMALS, price_decimals)
    amount_need = max(decimals_of(v) for t in tables.values() for r in t
                      for v in (r.floor, r.amount) + ((r.cap,) if r.cap is not None else ()))
    da = _scale("amount", amount_need, AMOUNT_DECIMALS, amount_decimals)
    rate_need = max([decimals_of(r.rate) for t in tables.values() for r in t]
                    + [decimals_of(r.initial_rate) for t in tables.values() for r in t
                       if r.initial_rate is not None]
                    + [decimals_of(h) for h in haircuts.values()] + [decimals_of(buffer_d)])
    dr = max(rate_need, RATE_DECIMALS)

    bits = dict(DEFAULT_BITS)
    if prices:
        top = max(to_fixed(v, dp) for v in prices.values())
        bits["price"] = max(bits["price"], bits_needed(16 * top))

    notes = []
    docs = []
    for c in instruments:
        mm, im = [], []
        for k, t in enumerate(tables[c.id]):
            cap = None if t.cap is None else t.cap
            mm.append({"floor": t.floor, "cap": cap, "rate": t.rate, "amount": t.amount})
            r, rounded = _initial_rate(t, dr)
            if rounded and t.max_leverage is not None:
                notes.append(f"{c.id} tier {k + 1}: initial rate 1/{canonical(t.max_leverage)} "
                             f"rounded up to {canonical(r)}")
            im.append({"floor": t.floor, "cap": cap, "rate": r})
        ins = {"symbol": c.id, "kind": c.kind, "maintenance": {"brackets": mm},
               "initial": {"brackets": im}}
        if c.expiry is not None:
            ins["expiry"] = c.expiry
        docs.append(ins)
    doc: dict[str, Any] = {
        "format": POLICY_FORMAT,
        "venue": venue or f"{profile.id}-{mode}",
        "quote": quote,
        "decimals": {"size": ds, "price": dp, "rate": dr, "amount": da},
        "bits": bits,
        "requirement": requirement,
        "mode": mode,
        "buffer": buffer_d,
        "collateral": [{"asset": a, "haircut": haircuts[a]} for a in assets],
        "instruments": docs,
        "notes": f"imported from {profile.title} tiers ({src})",
    }
    for ins in doc["instruments"]:
        for rule in ("maintenance", "initial"):
            for b in ins[rule]["brackets"]:
                if b["cap"] is None:
                    del b["cap"]
    policy = load_policy(doc, source=f"policy imported from {src}")
    return ImportedPolicy(policy, instruments, notes)
