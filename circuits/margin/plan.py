"""The margin plan: a policy, a market snapshot and a threshold (all public) compiled into integers
at the policy's declared scales, and the layout of the committed slots.

Built identically by the prover and the verifier; the circuit (:mod:`.circuit`) is a function of the
plan alone. May import :mod:`zkmargin.rules` (exact decimals, the engine's bracket and tier pieces),
:mod:`zkmargin.rules.models`, :mod:`zkmargin.errors` and :mod:`..gadgets`. Used by every module of this
package, the API and the workflows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from zkmargin.errors import CircuitError, InputError
from zkmargin.rules.decimals import to_fixed

from ..gadgets import bits_for

if TYPE_CHECKING:
    from zkmargin.rules.models import Market, Policy

    from .deribit_pme import PmePlan
    from .span import SpanPlan


def p10(k: int) -> int:
    """``10^k`` for a scale difference ``k >= 0`` (lifts a quantity to a larger scale)."""
    if k < 0:
        raise CircuitError("internal: negative scale difference")
    return int(10**k)


@dataclass
class Slot:
    kind: str  # size | cost | entry | isolated | balance
    key: str  # symbol or asset ("" for the cost basis)
    bits: int
    signed: bool = False

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.key}" if self.key else self.kind


@dataclass
class InstrumentPlan:
    symbol: str
    kind: str
    mark: int  # at dp
    rule: str  # flat | linear | brackets | scenario
    rate: int = 0  # at dr (flat, linear)
    per_size: int = 0  # at dr per unit of size (linear)
    brackets: list[tuple[int, int, int, int]] = field(default_factory=list)  # [(lo_qabs, hi_qabs, rate_dr, cum_at_da+dr)]
    pnl: list[int] = field(default_factory=list)  # per scenario, at dp (portfolio)
    ratio: tuple[int, int] = (0, 1)  # ratio rules: the rate is num/den (tier_rules)
    fee: int = 0  # ratio rules: fee to close at dr (folded into the rates of the others)
    # issue 15 (A), coverage_plan.py: hedge leg ("" | long | short), inverse constants (mark is
    # then the coin unit cs·ρ↑ at dp+dρ), option per-contract requirements (long, short) at dp+dr
    leg: str = ""
    inv: Any = None
    opt: tuple[int, int] | None = None

    @property
    def key(self) -> str:
        """The key of the instrument's slots: the symbol, or ``symbol#long``/``symbol#short``."""
        return f"{self.symbol}#{self.leg}" if self.leg else self.symbol


@dataclass
class CollateralPlan:
    asset: str
    price: int  # at dp
    tiers: list[tuple[int, int, int, int]]  # [(lo_amount, hi_amount, slope_dr, intercept_at_da+dr)]


@dataclass
class MarginPlan:
    """Everything public a margin circuit is made of. Built identically by prover and verifier."""

    mode: str
    requirement: str
    ds: int
    dp: int
    dr: int
    da: int
    size_bits: int
    price_bits: int
    amount_bits: int
    buffer: int  # at dr
    threshold: int  # at da
    rounding: tuple[str, int] | None
    instruments: list[InstrumentPlan]
    collateral: list[CollateralPlan]
    factor: int = 0  # portfolio, at dr
    n_scenarios: int = 0
    measure: tuple[str, int] = ("worst", 1)  # portfolio: the risk measure and its k (risk_measures.py)
    slots: list[Slot] = field(default_factory=list)
    span: SpanPlan | None = None  # portfolio with a span section (circuits/margin/span.py)
    pme: PmePlan | None = None  # portfolio with a deribit_pme section (circuits/margin/deribit_pme.py)
    unified: Any = None  # unified mode: a unified.UnifiedPlan
    drho: int = 0  # digits of the inverse contracts' reciprocal prices (coverage_plan.py)
    orders: bool = False  # open orders consume initial margin (slots size:<symbol>#buy/#sell)

    @property
    def SR(self) -> int:
        """Scale of one position's (unrounded) requirement."""
        s = self.ds + self.dp + self.dr
        if any(i.rule == "brackets" for i in self.instruments):
            s = max(s, self.da + self.dr)
        if any(i.rule == "linear" for i in self.instruments):
            s = max(s, 2 * self.ds + self.dp + self.dr)
        for addon in (self.span, self.pme):
            if addon is not None:  # factor · (the venue's total at addon.scale)
                s = max(s, addon.scale + self.dr)
        if self.unified is not None:  # loans' margin at da+dp+dr joins the requirement
            s = max(s, self.da + self.dp + self.dr)
        for i in self.instruments:
            if i.inv is not None:  # the coin requirement at its own scale, converted (coverage.py)
                s = max(s, self.inverse_SR(i) + i.inv.dx)
        return s

    def inverse_SR(self, ip: InstrumentPlan) -> int:
        """Scale of an inverse instrument's coin requirement (the unit price has dp+dρ digits)."""
        s = self.ds + self.dp + self.drho + self.dr
        if ip.rule == "brackets":
            s = max(s, self.da + self.dr)
        if ip.rule == "linear":
            s = max(s, 2 * self.ds + self.dp + self.drho + self.dr)
        return s

    @property
    def Z(self) -> int:
        """The common scale of the final comparison."""
        z = max(self.SR + self.dr, self.da + self.dp + self.dr, self.ds + self.dp, self.da)
        for i in self.instruments:
            if i.inv is not None:  # inverse PnL in coin at ds+dp+dρ, converted
                z = max(z, self.ds + self.dp + self.drho + i.inv.dx)
        return z

    @property
    def cost_bits(self) -> int:
        """Width of ``C − L`` and ``U − C`` (both at most ``P·Σ|q_i|``, P = 2^price_bits − 1)."""
        P = (1 << self.price_bits) - 1
        return bits_for(P * max(1, len(self.instruments)) * ((1 << self.size_bits) - 1))

    def slot_names(self) -> list[str]:
        return [s.name for s in self.slots]


# --- plan ----------------------------------------------------------------------------------------


def _interval_bounds(thresholds_hi: list[int | None], unit: int, max_value: int) -> list[tuple[int, int]]:
    """Integer intervals [lo_k, hi_k] of x such that the k-th piece applies, where the pieces are
    ``(t_{k−1}, t_k]`` in units where the quantity is ``x·unit`` (t_0 = −∞ for the first)."""
    out: list[tuple[int, int]] = []
    lo = 0
    for t in thresholds_hi:
        if unit == 0:
            hi = max_value if not out else -1
        elif t is None:
            hi = max_value
        else:
            hi = min(max_value, t // unit)
        out.append((lo, hi))
        lo = max(lo, hi + 1)
    return out


def plan_margin(policy: Policy, market: Market, threshold: Decimal) -> MarginPlan:
    """Compile the public side: integer constants at declared scales, and the slot layout."""
    from zkmargin.rules.engine import bracket_pieces, collateral_pieces
    from zkmargin.rules.models import price_of

    from . import coverage_plan

    d = policy.decimals
    ds, dp, dr, da = d.size, d.price, d.rate, d.amount
    bits = policy.bits
    mode = policy.mode
    size_max = (1 << bits.size) - 1
    amount_max = (1 << bits.amount) - 1
    instruments: list[InstrumentPlan] = []
    # validated policies: portfolio mode has a scenario table, a flat or size-scaled rule its
    # rate(s), a bracket rule its brackets
    scenarios = policy.scenarios
    for ins in policy.instruments:
        mark = to_fixed(market.prices[ins.symbol], dp, field=f"prices.{ins.symbol}", kind="price")
        if mark < 0:
            raise InputError(f"negative mark price for {ins.symbol}", field=f"prices.{ins.symbol}")
        if mode == "portfolio":
            assert scenarios is not None
            pnl = [to_fixed(v, dp, field=f"scenarios.pnl.{ins.symbol}", kind="price") for v in scenarios.pnl[ins.symbol]]
            instruments.append(InstrumentPlan(ins.symbol, ins.kind, mark, "scenario", pnl=pnl))
            continue
        rule = ins.rule(policy.requirement)
        kind = rule.kind
        from .tier_rules import plan_tier_rule

        tier_plan = plan_tier_rule(ins, rule, mark, market, ds, dp, dr, da, size_max)
        if tier_plan is not None:
            instruments.append(tier_plan)
        elif kind == "option":
            instruments.append(coverage_plan.option_instrument(policy, market, ins, mark))
        elif kind == "flat":
            assert rule.rate is not None
            instruments.append(InstrumentPlan(ins.symbol, ins.kind, mark, "flat", rate=to_fixed(rule.rate, dr)))
        elif kind == "linear":
            assert rule.rate is not None and rule.per_size is not None
            instruments.append(
                InstrumentPlan(ins.symbol, ins.kind, mark, "linear", rate=to_fixed(rule.rate, dr), per_size=to_fixed(rule.per_size, dr))
            )
        else:
            assert rule.brackets is not None
            S = max(ds + dp, da)
            unit = mark * p10(S - ds - dp)
            caps = [None if b.cap is None else to_fixed(b.cap, S) for b in rule.brackets]
            intervals = _interval_bounds(caps, unit, size_max)
            pieces = bracket_pieces(rule.brackets)
            brackets = [
                (lo, hi, to_fixed(rate, dr), to_fixed(cum, da + dr)) for (lo, hi), (rate, cum) in zip(intervals, pieces)
            ]
            instruments.append(InstrumentPlan(ins.symbol, ins.kind, mark, "brackets", brackets=brackets))
        if ins.inverse is not None:
            instruments[-1] = coverage_plan.inverse_instrument(policy, market, ins, instruments[-1])
        if policy.position_mode == "hedge":
            instruments[-1:] = coverage_plan.legs(instruments[-1])
    collateral: list[CollateralPlan] = []
    for c in policy.collateral:
        price = to_fixed(price_of(market, policy, c.asset), dp, field=f"prices.{c.asset}", kind="price")
        pieces = collateral_pieces(c)
        if c.tiers is None:
            ups: list[int | None] = [None]
        else:
            ups = [None if t.up_to is None else to_fixed(t.up_to, da) * p10(dp) for t in c.tiers]
        intervals = _interval_bounds(ups[: len(pieces)], price, amount_max)
        tiers = [(lo, hi, to_fixed(slope, dr), to_fixed(icpt, da + dr)) for (lo, hi), (slope, icpt) in zip(intervals, pieces)]
        collateral.append(CollateralPlan(c.asset, price, tiers))

    rounding = None
    if policy.rounding is not None:
        rounding = (policy.rounding.mode, policy.rounding.decimals)
    plan = MarginPlan(
        mode=mode,
        requirement=policy.requirement,
        ds=ds, dp=dp, dr=dr, da=da,
        size_bits=bits.size, price_bits=bits.price, amount_bits=bits.amount,
        buffer=to_fixed(policy.buffer, dr, field="buffer", kind="rate"),
        threshold=to_fixed(threshold, da, field="threshold", kind="amount"),
        rounding=rounding,
        instruments=instruments,
        collateral=collateral,
    )
    if mode == "unified":
        from .unified import plan_unified

        plan.unified = plan_unified(policy, dr)
    if mode == "portfolio":
        plan.factor = to_fixed(policy.factor, dr, field="scenarios.factor", kind="rate")
        assert scenarios is not None
        plan.n_scenarios = len(scenarios.names)
        if policy.span is not None:
            from .span import plan_span

            plan.span = plan_span(policy, ds, dp, dr)
        if policy.deribit_pme is not None:
            from .deribit_pme import plan_pme

            plan.pme = plan_pme(policy, ds, dp, dr)
        from zkmargin.rules.models.risk import measure_of

        plan.measure = measure_of(scenarios)
    plan.drho = policy.decimals.reciprocal or 0
    plan.orders = policy.open_orders is not None
    slots: list[Slot] = []
    for ip in instruments:
        slots.append(Slot("size", ip.key, plan.size_bits, signed=ip.leg != "long"))
        if mode == "isolated":
            slots.append(Slot("entry", ip.key, plan.price_bits))
            slots.append(Slot("isolated", ip.key, plan.amount_bits))
        if plan.orders and ip.inv is None and ip.opt is None:
            slots.append(Slot("size", ip.symbol + "#buy", plan.size_bits))
            slots.append(Slot("size", ip.symbol + "#sell", plan.size_bits))
    if mode != "isolated":
        slots.append(Slot("cost", "", plan.cost_bits, signed=True))
    plan.slots = slots
    for settle in dict.fromkeys(ip.inv.settle for ip in instruments if ip.inv is not None):
        slots.append(Slot("cost", coverage_plan.inverse_cost_key(settle), coverage_plan.inverse_cost_bits(plan), signed=True))
    for cp in collateral:
        slots.append(Slot("balance", cp.asset, plan.amount_bits, signed=mode == "unified"))
    plan.slots = slots
    from .public_numbers import check_public_numbers

    check_public_numbers(plan)  # no public integer is read modulo r (public_numbers.py)
    return plan
