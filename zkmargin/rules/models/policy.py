"""The policy document (``zkmargin.policy/1``, public, the venue's): scales, bit widths, margin rules,
collateral haircuts, scenario tables, rounding, position slots and the trust section, as pydantic
models (the shape; :mod:`.policy_checks` checks the meaning).

May import :mod:`.fields` and :mod:`.trust`. Used by every reader of a policy.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import (
    PrivateAttr,
    model_validator,
)

from ...errors import (
    FormatError,
    PolicyError,
    UnknownSymbolError,
)
from .coverage import Inverse, Liquidation, OpenOrders, OptionRule
from .deribit_pme import DeribitPme
from .fields import _M, DEFAULT_BITS, Bool, Dec, Int, Str, _Tagged
from .risk import Measure, ScenarioSource, ZoneRung
from .span import Span
from .trust import Trust
from .unified import Unified


class Scales(_M):
    """Digits after the decimal point per kind of number (0..18)."""

    size: Int
    price: Int
    rate: Int
    amount: Int
    reciprocal: Int | None = None  # digits of 1/price (inverse contracts)


class Bits(_M):
    """Range-check widths of the private values: |size|, entry price, balances/isolated margins."""

    size: Int = DEFAULT_BITS["size"]
    price: Int = DEFAULT_BITS["price"]
    amount: Int = DEFAULT_BITS["amount"]


class Bracket(_M):
    """One notional bracket: applies when ``floor < N <= cap`` (``cap`` null: no upper bound)."""

    floor: Dec
    cap: Dec | None = None
    rate: Dec
    amount: Dec | None = None


class OpenInterestScaling(_M):
    """dYdX's open-interest-scaled initial margin fraction: the rate rises linearly from the base
    rate at ``lower_cap`` to 1 at ``upper_cap`` (open notional in the quote currency)."""

    lower_cap: Dec
    upper_cap: Dec


class Rule(_M):
    """A margin rule: ``{"rate"}`` flat, ``{"rate", "per_size"}`` size-scaled, ``{"brackets"}``,
    ``{"leverage"}`` (Hyperliquid: ``N / leverage``); the optional requirement rules of
    :mod:`.tier_rules` (``whole_position``, ``basis``, ``notional_coef``, ``fee_to_close``,
    ``open_interest``) refine them."""

    rate: Dec | None = None
    per_size: Dec | None = None
    brackets: list[Bracket] | None = None
    leverage: Dec | None = None
    whole_position: Bool | None = None
    basis: Literal["notional", "size"] | None = None
    notional_coef: Dec | None = None
    fee_to_close: Dec | None = None
    open_interest: OpenInterestScaling | None = None
    option: OptionRule | None = None  # option standard margin (coverage.py)

    @model_validator(mode="after")
    def _shape(self) -> Rule:
        if self.option is not None:
            if self.rate is not None or self.per_size is not None or self.brackets is not None:
                raise _Tagged(FormatError, "an option rule has only 'option'")
            if self.leverage is not None or self.open_interest is not None:
                raise _Tagged(FormatError, "an option rule has only 'option'")
            return self
        if self.leverage is not None:
            if self.rate is not None or self.per_size is not None or self.brackets is not None:
                raise _Tagged(FormatError, "a leverage rule has only 'leverage' (no 'rate', "
                                           "'per_size' or 'brackets' beside it)")
            return self
        if self.brackets is not None:
            if self.rate is not None or self.per_size is not None:
                raise _Tagged(FormatError, "a bracket rule has only 'brackets' (no 'rate' or "
                                           "'per_size' beside it)")
            if not self.brackets:
                raise _Tagged(PolicyError, "a bracket table needs at least one bracket")
        elif self.rate is None:
            raise _Tagged(FormatError, "a rule is {'rate'}, {'rate', 'per_size'}, {'brackets'}, {'option'} or "
                                       "{'leverage'}")
        return self

    @property
    def kind(self) -> str:
        """``"flat"``, ``"linear"`` (Deribit size-scaled), ``"brackets"``, ``"leverage"``
        (Hyperliquid), ``"open_interest"`` (dYdX) or ``"option"`` (option standard margin)."""
        if self.option is not None:
            return "option"
        if self.leverage is not None:
            return "leverage"
        if self.open_interest is not None:
            return "open_interest"
        if self.brackets is not None:
            return "brackets"
        return "linear" if self.per_size is not None else "flat"


class Tier(_M):
    """One slice of a tiered haircut: quote value up to ``up_to`` (null: no bound)."""

    up_to: Dec | None = None
    haircut: Dec


class Collateral(_M):
    """A collateral asset with a flat ``haircut`` or value-sliced ``tiers``; in unified mode also
    how a negative balance (a liability) counts (:mod:`.unified`)."""

    asset: Str
    haircut: Dec | None = None
    tiers: list[Tier] | None = None
    liability_weight: Dec | None = None
    loan_rate: Dec | None = None
    imf: Dec | None = None

    @model_validator(mode="after")
    def _shape(self) -> Collateral:
        if (self.haircut is None) == (self.tiers is None):
            raise _Tagged(FormatError, "a collateral entry has exactly one of 'haircut' or 'tiers'")
        if self.tiers is not None and not self.tiers:
            raise _Tagged(PolicyError, "'tiers' needs at least one tier")
        return self


class Instrument(_M):
    symbol: Str
    kind: Literal["perpetual", "future", "option"]
    maintenance: Rule | None = None
    initial: Rule | None = None
    underlying: Str | None = None
    strike: Dec | None = None
    expiry: Str | None = None
    right: Literal["call", "put"] | None = None
    inverse: Inverse | None = None  # coin-margined contract (coverage.py)
    index: Str | None = None  # option: market key of the index price in strike units
    multiplier: Dec | None = None  # option: underlying units per contract (default 1)

    def rule(self, requirement: str) -> Rule:
        """The rule used for ``requirement`` (``"maintenance"`` or ``"initial"``)."""
        r = self.maintenance if requirement == "maintenance" else self.initial
        if r is None:
            raise PolicyError(f"instrument {self.symbol!r} has no {requirement} rule")
        return r


class Scenarios(_M):
    """Portfolio-mode scenario table: per-unit P&L (gain positive) per instrument and scenario."""

    factor: Dec
    initial_factor: Dec | None = None
    names: list[Str]
    pnl: dict[str, list[Dec]]
    measure: Measure | None = None  # risk measure over the losses (models/risk.py); None: worst
    source: ScenarioSource | None = None  # how the table was generated (informative)


class Rounding(_M):
    """Rounding of the requirement: ``up`` (toward +inf), ``down`` (toward -inf), ``half_even``."""

    mode: Literal["up", "down", "half_even"]
    decimals: Int


class Policy(_M):
    format: Literal["zkmargin.policy/1"]
    venue: Str
    quote: Str
    decimals: Scales
    bits: Bits = Bits()
    requirement: Literal["maintenance", "initial"]
    mode: Literal["cross", "isolated", "portfolio", "unified"]
    buffer: Dec = Decimal(0)
    collateral: list[Collateral]
    instruments: list[Instrument]
    scenarios: Scenarios | None = None
    rounding: Rounding | None = None
    trust: Trust | None = None
    slots: Int | None = None
    unified: Unified | None = None
    position_mode: Literal["one_way", "hedge"] | None = None
    open_orders: OpenOrders | None = None
    liquidation: Liquidation | None = None
    zones: list[ZoneRung] | None = None  # margin-call ladder (models/risk.py)
    notes: Str | None = None
    span: Span | None = None  # CME SPAN add-ons (rules/models/span.py)
    deribit_pme: DeribitPme | None = None  # Deribit PME add-ons (rules/models/deribit_pme.py)

    _by_symbol: dict[str, Instrument] = PrivateAttr(default_factory=dict)
    _by_asset: dict[str, Collateral] = PrivateAttr(default_factory=dict)

    def scale(self, kind: str) -> int:
        """Digits after the point for ``kind`` (size, price, rate, amount)."""
        scale: int = getattr(self.decimals, kind)
        return scale

    def instrument(self, symbol: str) -> Instrument:
        try:
            return self._by_symbol[symbol]
        except KeyError:
            raise UnknownSymbolError(f"the policy lists no instrument {symbol!r}") from None

    def collateral_entry(self, asset: str) -> Collateral:
        try:
            return self._by_asset[asset]
        except KeyError:
            raise UnknownSymbolError(f"the policy lists no collateral asset {asset!r}") from None

    def has_instrument(self, symbol: str) -> bool:
        return symbol in self._by_symbol

    def has_collateral(self, asset: str) -> bool:
        return asset in self._by_asset

    @property
    def symbols(self) -> list[str]:
        return [i.symbol for i in self.instruments]

    @property
    def factor(self) -> Decimal:
        """The scenario factor in force for ``requirement`` (portfolio mode)."""
        if self.scenarios is None:
            raise PolicyError("the policy has no scenarios")
        if self.requirement == "initial" and self.scenarios.initial_factor is not None:
            return self.scenarios.initial_factor
        return self.scenarios.factor

    @property
    def trust_rule(self) -> Trust:
        """The trust section in force: the policy's, or the default (no custodians, self-declared
        values accepted, a challenge required)."""
        return self.trust if self.trust is not None else Trust()

    def _index(self) -> None:
        self._by_symbol = {i.symbol: i for i in self.instruments}
        self._by_asset = {c.asset: c for c in self.collateral}
