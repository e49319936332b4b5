"""Pydantic models and loaders for the three documents: policy, market snapshot, account.

* ``zkmargin.policy/1`` (public, the venue's): scales, bit widths, margin rules, collateral haircuts,
  scenario tables.
* ``zkmargin.market/1`` (public): marks of instruments and quote prices of collateral assets.
* ``zkmargin.account/1`` (private, the trader's): balances, positions, isolated margins.

The exact format is documented in ``docs/formats.md``. Loading happens in two steps: pydantic checks
the shape (types, required and unknown fields), then ``validate_*`` checks the meaning (scales,
bracket tables, haircut tiers, symbols, bit widths) and normalizes the model (bracket amounts filled
in from the recursion, ``initial_factor`` filled in, timestamps in UTC), so that two documents with
the same content give the same model and the same digest.

Every failure is one of the errors of :mod:`zkmargin.errors`, one line, naming the file (``source``)
and the field (``positions[2].size``, ``instruments[0].maintenance.brackets[3].amount``). No pydantic
``ValidationError`` escapes. Messages about an account never contain its values.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, PlainValidator, PrivateAttr, ValidationError, \
    model_validator

from .rules.decimals import EXACT, canonical as _c, check_scale, decimals_of, load_json_file, \
    parse_decimal, to_fixed
from .errors import (
    FormatError,
    InputError,
    MissingPriceError,
    PolicyError,
    UnknownSymbolError,
    ZkMarginError,
)
from decimal import localcontext

__all__ = [
    "POLICY_FORMAT",
    "MARKET_FORMAT",
    "ACCOUNT_FORMAT",
    "DEFAULT_BITS",
    "Scales",
    "Bits",
    "Bracket",
    "Rule",
    "Tier",
    "Collateral",
    "Instrument",
    "Scenarios",
    "Rounding",
    "Custodian",
    "Trust",
    "SLOT_KINDS",
    "Policy",
    "Market",
    "Position",
    "Account",
    "load_policy",
    "load_market",
    "load_account",
    "parse_policy",
    "parse_market",
    "parse_account",
    "validate_policy",
    "validate_market",
    "validate_account",
    "bracket_amounts",
    "price_of",
    "dump_document",
    "write_document",
    "parse_timestamp",
]

POLICY_FORMAT = "zkmargin.policy/1"
MARKET_FORMAT = "zkmargin.market/1"
ACCOUNT_FORMAT = "zkmargin.account/1"

#: Default range-check widths (bits) of the private values, per kind.
DEFAULT_BITS = {"size": 64, "price": 48, "amount": 64}
#: Widths a policy may declare (the field is ~255 bits; products of two values must stay far below).
MIN_BITS, MAX_BITS = 8, 120
MAX_SCALE = 18
#: Position slots a policy may declare (``"slots": K``: the K-slot circuit, docs/notes/lookup.md).
MAX_SLOTS = 256
#: Modes the K-slot circuit supports.
SLOT_MODES = ("cross", "portfolio")


# --- field types ----------------------------------------------------------------------------------


class _Tagged(ValueError):
    """Raised inside pydantic validators; carries the zkmargin error class to report."""

    def __init__(self, cls: type[ZkMarginError], message: str):
        super().__init__(message)
        self.cls = cls
        self.message = message


def _dec(value: Any) -> Decimal:
    try:
        return parse_decimal(value)
    except ZkMarginError as e:
        raise _Tagged(type(e), e.message) from None


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise _Tagged(FormatError, "expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value() \
            and decimals_of(value) == 0 and "E" not in str(value).upper():
        return int(value)
    raise _Tagged(FormatError, "expected an integer")


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise _Tagged(FormatError, f"expected a string, got {type(value).__name__}")
    if not value.strip():
        raise _Tagged(FormatError, "must not be empty")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Tagged(FormatError, f"expected true or false, got {type(value).__name__}")
    return value


def _key_hex(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise _Tagged(FormatError, "an Ed25519 public key is 64 lowercase hex digits")
    return value


Dec = Annotated[Decimal, PlainValidator(_dec)]
Int = Annotated[int, PlainValidator(_int)]
Str = Annotated[str, PlainValidator(_str)]
Bool = Annotated[bool, PlainValidator(_bool)]
KeyHex = Annotated[str, PlainValidator(_key_hex)]

#: The kinds of committed slots a custodian can attest (``size:X``, ``cost``, ``entry:X``,
#: ``isolated:X``, ``balance:A``), in their canonical order.
SLOT_KINDS = ("size", "cost", "entry", "isolated", "balance")


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=False)


# --- policy ---------------------------------------------------------------------------------------


class Scales(_M):
    """Digits after the decimal point per kind of number (0..18)."""

    size: Int
    price: Int
    rate: Int
    amount: Int


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


class Rule(_M):
    """A margin rule: ``{"rate"}`` flat, ``{"rate", "per_size"}`` size-scaled, ``{"brackets"}``."""

    rate: Dec | None = None
    per_size: Dec | None = None
    brackets: list[Bracket] | None = None

    @model_validator(mode="after")
    def _shape(self):
        if self.brackets is not None:
            if self.rate is not None or self.per_size is not None:
                raise _Tagged(FormatError, "a bracket rule has only 'brackets' (no 'rate' or "
                                           "'per_size' beside it)")
            if not self.brackets:
                raise _Tagged(PolicyError, "a bracket table needs at least one bracket")
        elif self.rate is None:
            raise _Tagged(FormatError, "a rule is {'rate'}, {'rate', 'per_size'} or {'brackets'}")
        return self

    @property
    def kind(self) -> str:
        """``"flat"``, ``"linear"`` (Deribit size-scaled) or ``"brackets"``."""
        if self.brackets is not None:
            return "brackets"
        return "linear" if self.per_size is not None else "flat"


class Tier(_M):
    """One slice of a tiered haircut: quote value up to ``up_to`` (null: no bound)."""

    up_to: Dec | None = None
    haircut: Dec


class Collateral(_M):
    """A collateral asset with a flat ``haircut`` or value-sliced ``tiers``."""

    asset: Str
    haircut: Dec | None = None
    tiers: list[Tier] | None = None

    @model_validator(mode="after")
    def _shape(self):
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


class Rounding(_M):
    """Rounding of the requirement: ``up`` (toward +inf), ``down`` (toward -inf), ``half_even``."""

    mode: Literal["up", "down", "half_even"]
    decimals: Int


class Custodian(_M):
    """A custodian whose attestations the venue accepts: a name for reports, its Ed25519 key."""

    name: Str
    key: KeyHex


class Trust(_M):
    """The venue's trust rule (``docs/notes/trust.md``): which custodians may vouch for the
    committed values, which slot kinds they must cover, how fresh an attestation must be, and
    whether self-declared values or proofs without a challenge are acceptable at all."""

    custodians: list[Custodian] = []
    attest: list[Literal["size", "cost", "entry", "isolated", "balance"]] | None = None
    max_age_seconds: Int | None = None
    self_declared: Bool | None = None
    unchallenged: Bool = False
    attestation_challenge: Bool = False


class Policy(_M):
    format: Literal["zkmargin.policy/1"]
    venue: Str
    quote: Str
    decimals: Scales
    bits: Bits = Bits()
    requirement: Literal["maintenance", "initial"]
    mode: Literal["cross", "isolated", "portfolio"]
    buffer: Dec = Decimal(0)
    collateral: list[Collateral]
    instruments: list[Instrument]
    scenarios: Scenarios | None = None
    rounding: Rounding | None = None
    trust: Trust | None = None
    slots: Int | None = None
    notes: Str | None = None

    _by_symbol: dict = PrivateAttr(default_factory=dict)
    _by_asset: dict = PrivateAttr(default_factory=dict)

    def scale(self, kind: str) -> int:
        """Digits after the point for ``kind`` (size, price, rate, amount)."""
        return getattr(self.decimals, kind)

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

    def _index(self):
        self._by_symbol = {i.symbol: i for i in self.instruments}
        self._by_asset = {c.asset: c for c in self.collateral}


# --- market and account ---------------------------------------------------------------------------


class Market(_M):
    format: Literal["zkmargin.market/1"]
    as_of: Str
    prices: dict[str, Dec]


class Position(_M):
    symbol: Str
    size: Dec
    entry_price: Dec


class Account(_M):
    format: Literal["zkmargin.account/1"]
    balances: dict[str, Dec] = {}
    positions: list[Position] = []
    isolated_margin: dict[str, Dec] = {}


# --- pydantic errors -> zkmargin errors -----------------------------------------------------------


def _path(loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            part = str(part)
            # pydantic adds the union/validator tag names to some locations; drop them.
            if part.startswith("function-"):
                continue
            out += ("." if out else "") + part
    return out or None


def _convert(err: ValidationError, source: str | None) -> ZkMarginError:
    e = err.errors(include_url=False)[0]
    field = _path(e.get("loc", ()))
    typ = e.get("type")
    ctx = e.get("ctx") or {}
    inner = ctx.get("error")
    if isinstance(inner, _Tagged):
        return inner.cls(inner.message, source=source, field=field)
    if typ == "missing":
        return FormatError("missing field", source=source, field=field)
    if typ == "extra_forbidden":
        return FormatError("unknown field", source=source, field=field)
    if typ == "literal_error":
        return FormatError(f"must be {ctx.get('expected', 'one of the allowed values')}",
                           source=source, field=field)
    msg = e.get("msg", "invalid value")
    return FormatError(msg[0].lower() + msg[1:] if msg else "invalid value", source=source,
                       field=field)


def _read(src, expected_format: str, source: str | None) -> tuple[dict, str | None]:
    if isinstance(src, (str, os.PathLike)):
        source = source or os.fspath(src)
        data = load_json_file(src)
    elif isinstance(src, bytes):
        from .rules.decimals import loads_json

        data = loads_json(src, source=source)
    elif isinstance(src, dict):
        data = src
    else:
        raise FormatError(f"expected a path or a dict, got {type(src).__name__}", source=source)
    if not isinstance(data, dict):
        raise FormatError("the document is not a JSON object", source=source)
    check_format_tag(data, expected_format, source)
    return data, source


def check_format_tag(data: dict, expected_format: str, source=None) -> None:
    """A document's ``format`` tag is exactly ``expected_format`` (one-line FormatError)."""
    fmt = data.get("format")
    if fmt is None:
        raise FormatError(f"missing format tag (expected {expected_format!r})", source=source,
                          field="format")
    if fmt != expected_format:
        shown = fmt if isinstance(fmt, str) else type(fmt).__name__
        raise FormatError(f"expected format {expected_format!r}, got {shown!r}", source=source,
                          field="format")


def _build(cls, data: dict, source):
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise _convert(e, source) from None


# --- policy validation ----------------------------------------------------------------------------


def _iso8601(text: str, *, field: str, source, cls=FormatError) -> str:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise cls(f"{text!r} is not an ISO 8601 timestamp", source=source, field=field) from None
    if t.tzinfo is None:
        raise cls("the timestamp needs a time zone (e.g. 'Z' or '+00:00')", source=source,
                  field=field)
    t = t.astimezone(timezone.utc)
    s = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        s += f".{t.microsecond:06d}".rstrip("0")
    return s + "Z"


def parse_timestamp(text: str) -> datetime:
    """An ISO 8601 timestamp with time zone as an aware UTC datetime."""
    t = datetime.fromisoformat(text)
    if t.tzinfo is None:
        raise FormatError("the timestamp needs a time zone")
    return t.astimezone(timezone.utc)


def bracket_amounts(brackets: list[Bracket]) -> list[Decimal]:
    """The maintenance amounts by the recursion: ``cum_1 = 0``,
    ``cum_n = floor_n * (rate_n - rate_{n-1}) + cum_{n-1}`` (exact)."""
    out: list[Decimal] = []
    with localcontext(EXACT):
        for k, b in enumerate(brackets):
            if k == 0:
                out.append(Decimal(0))
            else:
                out.append(b.floor * (b.rate - brackets[k - 1].rate) + out[-1])
    return out


def _check_rate(d: Decimal, p: Policy, field: str, source, *, upper: Decimal | None = None):
    check_scale(d, p.decimals.rate, field=field, kind="rate", source=source)
    if d < 0:
        raise PolicyError("must be >= 0", source=source, field=field)
    if upper is not None and d > upper:
        raise PolicyError(f"must be <= {_c(upper)}", source=source, field=field)


def _check_amount(d: Decimal, p: Policy, field: str, source):
    check_scale(d, p.decimals.amount, field=field, kind="amount", source=source)


def _validate_rule(rule: Rule, p: Policy, field: str, source) -> Rule:
    if rule.kind in ("flat", "linear"):
        _check_rate(rule.rate, p, f"{field}.rate", source)
        if rule.per_size is not None:
            _check_rate(rule.per_size, p, f"{field}.per_size", source)
        return rule
    bs = rule.brackets
    for k, b in enumerate(bs):
        bf = f"{field}.brackets[{k}]"
        _check_amount(b.floor, p, f"{bf}.floor", source)
        if b.cap is not None:
            _check_amount(b.cap, p, f"{bf}.cap", source)
        _check_rate(b.rate, p, f"{bf}.rate", source)
        if b.amount is not None:
            _check_amount(b.amount, p, f"{bf}.amount", source)
            if b.amount < 0:
                raise PolicyError("a maintenance amount must be >= 0", source=source,
                                  field=f"{bf}.amount")
        if k == 0 and b.floor != 0:
            raise PolicyError(f"the first bracket must start at 0, not {_c(b.floor)}", source=source,
                              field=f"{bf}.floor")
        if k > 0:
            prev = bs[k - 1]
            if prev.cap is None:
                raise PolicyError("only the last bracket may have no cap", source=source,
                                  field=f"{field}.brackets[{k - 1}].cap")
            if b.floor > prev.cap:
                raise PolicyError(f"gap: this bracket starts at {_c(b.floor)} but the previous one "
                                  f"ends at {_c(prev.cap)}", source=source, field=f"{bf}.floor")
            if b.floor < prev.cap:
                raise PolicyError(f"overlap: this bracket starts at {_c(b.floor)} but the previous "
                                  f"one ends at {_c(prev.cap)}", source=source, field=f"{bf}.floor")
            if b.rate < prev.rate:
                raise PolicyError(f"rates must not decrease from bracket to bracket ({_c(prev.rate)} "
                                  f"then {_c(b.rate)}); the requirement must be convex", source=source,
                                  field=f"{bf}.rate")
        if b.cap is not None and b.cap <= b.floor:
            raise PolicyError(f"cap {_c(b.cap)} must be above floor {_c(b.floor)}", source=source,
                              field=f"{bf}.cap")
    cums = bracket_amounts(bs)
    new = []
    for k, (b, cum) in enumerate(zip(bs, cums)):
        bf = f"{field}.brackets[{k}]"
        need = decimals_of(cum)
        if need > p.decimals.amount:
            raise PolicyError(f"the recursion amount {_c(cum)} needs {need} decimals, the policy "
                              f"allows {p.decimals.amount} for amount", source=source,
                              field=f"{bf}.amount")
        if b.amount is not None and b.amount != cum:
            raise PolicyError(
                f"amount {_c(b.amount)} differs from the recursion value {_c(cum)} "
                f"(floor x (rate - previous rate) + previous amount); the requirement would jump "
                f"at notional {_c(b.floor)}", source=source, field=f"{bf}.amount")
        new.append(b.model_copy(update={"amount": Decimal(_c(cum))}))
    return rule.model_copy(update={"brackets": new})


def _validate_collateral(c: Collateral, p: Policy, field: str, source) -> None:
    one = Decimal(1)
    if c.haircut is not None:
        _check_rate(c.haircut, p, f"{field}.haircut", source, upper=one)
        return
    prev_up = None
    prev_h = None
    for k, t in enumerate(c.tiers):
        tf = f"{field}.tiers[{k}]"
        _check_rate(t.haircut, p, f"{tf}.haircut", source, upper=one)
        last = k == len(c.tiers) - 1
        if t.up_to is None and not last:
            raise PolicyError("only the last tier may have up_to null", source=source,
                              field=f"{tf}.up_to")
        if t.up_to is not None and last:
            raise PolicyError("the last tier must have up_to null (no upper bound)", source=source,
                              field=f"{tf}.up_to")
        if t.up_to is not None:
            _check_amount(t.up_to, p, f"{tf}.up_to", source)
            if t.up_to <= 0:
                raise PolicyError("up_to must be > 0", source=source, field=f"{tf}.up_to")
            if prev_up is not None and t.up_to <= prev_up:
                raise PolicyError(f"up_to must increase strictly ({_c(prev_up)} then {_c(t.up_to)})",
                                  source=source, field=f"{tf}.up_to")
            prev_up = t.up_to
        if prev_h is not None and t.haircut < prev_h:
            raise PolicyError(
                f"haircuts must not decrease across tiers ({_c(prev_h)} then {_c(t.haircut)}): each "
                "later "
                "slice may be worth at most as much as the one before, so the value is concave",
                source=source, field=f"{tf}.haircut")
        prev_h = t.haircut


def _validate_trust(t: Trust | None, source) -> Trust | None:
    """Check the trust section and normalize it: ``None`` when it says what the default says
    (so an empty section and no section have one digest); otherwise every field filled in, the
    attested kinds in canonical order."""
    if t is None:
        return None
    names: dict[str, int] = {}
    keys: dict[str, int] = {}
    for k, c in enumerate(t.custodians):
        if c.name in names:
            raise PolicyError(f"custodian name {c.name!r} is listed twice", source=source,
                              field=f"trust.custodians[{k}].name")
        if c.key in keys:
            raise PolicyError(f"this key is listed twice (trust.custodians[{keys[c.key]}] has it)",
                              source=source, field=f"trust.custodians[{k}].key")
        names[c.name], keys[c.key] = k, k
    listed = bool(t.custodians)
    if t.attest is not None:
        if not t.attest:
            raise PolicyError("name at least one slot kind (or leave 'attest' out: all kinds)",
                              source=source, field="trust.attest")
        if len(set(t.attest)) != len(t.attest):
            raise PolicyError("a slot kind is listed twice", source=source, field="trust.attest")
    if t.max_age_seconds is not None and t.max_age_seconds <= 0:
        raise PolicyError("must be a positive number of seconds", source=source,
                          field="trust.max_age_seconds")
    if listed:
        if t.max_age_seconds is None:
            raise PolicyError("required when custodians are listed: how old an attestation may be, "
                              "in seconds", source=source, field="trust.max_age_seconds")
        if t.self_declared:
            raise PolicyError("must be false when custodians are listed: their attestations are "
                              "what this venue accepts", source=source, field="trust.self_declared")
    else:
        for name in ("attest", "max_age_seconds"):
            if getattr(t, name) is not None:
                raise PolicyError("only used when custodians are listed", source=source,
                                  field=f"trust.{name}")
        if t.attestation_challenge:
            raise PolicyError("only used when custodians are listed", source=source,
                              field="trust.attestation_challenge")
        if t.self_declared is False:
            raise PolicyError("with no custodians listed, refusing self-declared values would refuse "
                              "every proof", source=source, field="trust.self_declared")
    if t.attestation_challenge and t.unchallenged:
        raise PolicyError("attestations bound to the venue's challenge need proofs with a challenge "
                          "(unchallenged must be false)", source=source,
                          field="trust.attestation_challenge")
    if not listed and not t.unchallenged:
        return None  # the default rule
    kinds = [k for k in SLOT_KINDS if t.attest is None or k in t.attest] if listed else None
    return t.model_copy(update={"attest": kinds, "self_declared": not listed})


def validate_policy(p: Policy, *, source: str | None = None,
                    allow_missing_scenarios: bool = False) -> Policy:
    """Check a parsed policy's meaning and return it normalized (see the module docstring)."""
    for kind in ("size", "price", "rate", "amount"):
        v = getattr(p.decimals, kind)
        if not 0 <= v <= MAX_SCALE:
            raise PolicyError(f"must be between 0 and {MAX_SCALE}", source=source,
                              field=f"decimals.{kind}")
    for kind in ("size", "price", "amount"):
        v = getattr(p.bits, kind)
        if not MIN_BITS <= v <= MAX_BITS:
            raise PolicyError(f"must be between {MIN_BITS} and {MAX_BITS}", source=source,
                              field=f"bits.{kind}")
    _check_rate(p.buffer, p, "buffer", source)
    if p.slots is not None:
        if not 1 <= p.slots <= MAX_SLOTS:
            raise PolicyError(f"must be between 1 and {MAX_SLOTS}", source=source, field="slots")
        if p.mode not in SLOT_MODES:
            raise PolicyError(f"position slots are supported in {' and '.join(SLOT_MODES)} mode, not {p.mode}",
                              source=source, field="slots")
    if p.rounding is not None and not 0 <= p.rounding.decimals <= p.decimals.amount:
        raise PolicyError(f"must be between 0 and the amount decimals ({p.decimals.amount})",
                          source=source, field="rounding.decimals")

    assets: dict[str, int] = {}
    for j, c in enumerate(p.collateral):
        if c.asset in assets:
            raise PolicyError(f"collateral asset {c.asset!r} is listed twice", source=source,
                              field=f"collateral[{j}].asset")
        assets[c.asset] = j
        _validate_collateral(c, p, f"collateral[{j}]", source)

    symbols: dict[str, int] = {}
    new_instruments = []
    for i, ins in enumerate(p.instruments):
        f = f"instruments[{i}]"
        if ins.symbol in symbols:
            raise PolicyError(f"instrument {ins.symbol!r} is listed twice", source=source,
                              field=f"{f}.symbol")
        if ins.symbol in assets:
            raise PolicyError(f"{ins.symbol!r} is both an instrument and a collateral asset; "
                              "market prices would be ambiguous", source=source,
                              field=f"{f}.symbol")
        if ins.symbol == p.quote:
            raise PolicyError("an instrument cannot be named like the quote asset", source=source,
                              field=f"{f}.symbol")
        symbols[ins.symbol] = i
        if ins.kind == "option":
            if p.mode != "portfolio":
                raise PolicyError(f"options are only allowed in portfolio mode (this policy is "
                                  f"{p.mode})", source=source, field=f"{f}.kind")
            for name in ("underlying", "strike", "expiry", "right"):
                if getattr(ins, name) is None:
                    raise PolicyError(f"an option needs {name!r}", source=source,
                                      field=f"{f}.{name}")
            check_scale(ins.strike, p.decimals.price, field=f"{f}.strike", kind="price",
                        source=source)
            if ins.strike <= 0:
                raise PolicyError("the strike must be > 0", source=source, field=f"{f}.strike")
        else:
            for name in ("strike", "right"):
                if getattr(ins, name) is not None:
                    raise PolicyError(f"only options have {name!r}", source=source,
                                      field=f"{f}.{name}")
            if ins.kind == "perpetual" and ins.expiry is not None:
                raise PolicyError("a perpetual has no expiry", source=source, field=f"{f}.expiry")
        update = {}
        if ins.expiry is not None:
            update["expiry"] = _iso8601(ins.expiry, field=f"{f}.expiry", source=source,
                                        cls=PolicyError)
        if p.mode == "portfolio":
            for name in ("maintenance", "initial"):
                if getattr(ins, name) is not None:
                    raise PolicyError("portfolio mode takes the requirement from the scenario "
                                      f"table; remove the {name!r} rule", source=source,
                                      field=f"{f}.{name}")
        else:
            for name in ("maintenance", "initial"):
                rule = getattr(ins, name)
                if rule is None:
                    raise PolicyError(f"missing the {name!r} rule", source=source,
                                      field=f"{f}.{name}")
                update[name] = _validate_rule(rule, p, f"{f}.{name}", source)
        new_instruments.append(ins.model_copy(update=update) if update else ins)

    update: dict[str, Any] = {"instruments": new_instruments}
    sc = p.scenarios
    if p.mode == "portfolio":
        if sc is None:
            if not allow_missing_scenarios:
                raise PolicyError("portfolio mode needs a scenario table", source=source,
                                  field="scenarios")
        else:
            _check_rate(sc.factor, p, "scenarios.factor", source)
            if sc.initial_factor is not None:
                _check_rate(sc.initial_factor, p, "scenarios.initial_factor", source)
            if not sc.names:
                raise PolicyError("needs at least one scenario", source=source,
                                  field="scenarios.names")
            seen = set()
            for s, name in enumerate(sc.names):
                if name in seen:
                    raise PolicyError(f"scenario {name!r} is named twice", source=source,
                                      field=f"scenarios.names[{s}]")
                seen.add(name)
            for sym in sc.pnl:
                if sym not in symbols:
                    raise PolicyError(f"{sym!r} is not an instrument of the policy", source=source,
                                      field=f"scenarios.pnl.{sym}")
            for sym in symbols:
                row = sc.pnl.get(sym)
                if row is None:
                    raise PolicyError(f"no scenario P&L for instrument {sym!r}", source=source,
                                      field=f"scenarios.pnl.{sym}")
                if len(row) != len(sc.names):
                    raise PolicyError(f"{len(row)} entries, the table has {len(sc.names)} "
                                      "scenarios", source=source, field=f"scenarios.pnl.{sym}")
                for s, v in enumerate(row):
                    check_scale(v, p.decimals.price, field=f"scenarios.pnl.{sym}[{s}]",
                                kind="price", source=source)
            update["scenarios"] = sc.model_copy(update={
                "initial_factor": sc.initial_factor if sc.initial_factor is not None else sc.factor,
                "pnl": {sym: list(sc.pnl[sym]) for sym in symbols},
            })
    elif sc is not None:
        raise PolicyError(f"scenarios are only used in portfolio mode (this policy is {p.mode})",
                          source=source, field="scenarios")
    update["trust"] = _validate_trust(p.trust, source)
    out = p.model_copy(update=update)
    out._index()
    return out


def parse_policy(src, *, source: str | None = None) -> Policy:
    """Shape-check a policy (path, bytes or dict) without the semantic checks."""
    data, source = _read(src, POLICY_FORMAT, source)
    return _build(Policy, data, source)


def load_policy(src, *, source: str | None = None,
                allow_missing_scenarios: bool = False) -> Policy:
    """Load and validate a policy from a path, JSON bytes, a dict, or a :class:`Policy`."""
    if isinstance(src, Policy):
        if not src._by_symbol and src.instruments:
            return validate_policy(src, source=source,
                                   allow_missing_scenarios=allow_missing_scenarios)
        return src
    if isinstance(src, (str, os.PathLike)):
        source = source or os.fspath(src)
    p = parse_policy(src, source=source)
    return validate_policy(p, source=source, allow_missing_scenarios=allow_missing_scenarios)


# --- market ---------------------------------------------------------------------------------------


def parse_market(src, *, source: str | None = None) -> Market:
    """Load a market snapshot and check what needs no policy (timestamp, numbers)."""
    if isinstance(src, Market):
        return src
    data, source = _read(src, MARKET_FORMAT, source)
    m = _build(Market, data, source)
    for key, v in m.prices.items():
        if v < 0:
            raise InputError("a price must be >= 0", source=source, field=f"prices.{key}")
    return m.model_copy(update={"as_of": _iso8601(m.as_of, field="as_of", source=source)})


def price_of(market: Market, policy: Policy, key: str) -> Decimal:
    """The market price of an instrument or asset; the policy's quote asset defaults to 1."""
    v = market.prices.get(key)
    if v is None:
        if key == policy.quote:
            return Decimal(1)
        raise MissingPriceError(f"the market snapshot has no price for {key!r}",
                                field=f"prices.{key}")
    return v


def validate_market(m: Market, policy: Policy, *, source: str | None = None) -> Market:
    """Check a snapshot against a policy: every price at the price scale, a price for every
    instrument and collateral asset, marks of perpetuals and futures > 0, quote price 1."""
    for key, v in m.prices.items():
        check_scale(v, policy.decimals.price, field=f"prices.{key}", kind="price", source=source)
    for i, ins in enumerate(policy.instruments):
        v = m.prices.get(ins.symbol)
        if v is None:
            raise MissingPriceError(f"no mark for instrument {ins.symbol!r}", source=source,
                                    field=f"prices.{ins.symbol}")
        if ins.kind != "option" and v <= 0:
            raise InputError(f"the mark of a {ins.kind} must be > 0", source=source,
                             field=f"prices.{ins.symbol}")
    for c in policy.collateral:
        if c.asset == policy.quote:
            continue
        if c.asset not in m.prices:
            raise MissingPriceError(f"no price for collateral asset {c.asset!r}", source=source,
                                    field=f"prices.{c.asset}")
    q = m.prices.get(policy.quote)
    if q is not None and q != 1:
        raise InputError(f"the quote asset {policy.quote!r} has price 1 by definition",
                         source=source, field=f"prices.{policy.quote}")
    return m


def load_market(src, policy: Policy | None = None, *, source: str | None = None) -> Market:
    """Load a market snapshot; with ``policy``, also :func:`validate_market`."""
    if isinstance(src, (str, os.PathLike)):
        source = source or os.fspath(src)
    m = parse_market(src, source=source)
    if policy is not None:
        validate_market(m, policy, source=source)
    return m


# --- account --------------------------------------------------------------------------------------


def _fits(d: Decimal, scale: int, width: int, *, field: str, kind: str, source) -> None:
    n = abs(to_fixed(d, scale, field=field, kind=kind))
    if n.bit_length() > width:
        raise InputError(
            f"does not fit the policy's {width}-bit range for {kind} (at {scale} decimals it needs "
            f"{n.bit_length()} bits)", source=source, field=field)


def parse_account(src, *, source: str | None = None) -> Account:
    """Shape-check an account without a policy (numbers parsed exactly, no scale checks)."""
    if isinstance(src, Account):
        return src
    data, source = _read(src, ACCOUNT_FORMAT, source)
    return _build(Account, data, source)


def validate_account(a: Account, policy: Policy, *, source: str | None = None) -> Account:
    """Check an account against a policy: known assets and symbols, scales, signs, bit widths,
    one position per symbol, isolated margins only (and always) for held positions in isolated
    mode. Messages name the field, never the value."""
    sc = policy.decimals
    bits = policy.bits
    for asset, amt in a.balances.items():
        f = f"balances.{asset}"
        if not policy.has_collateral(asset):
            raise UnknownSymbolError(f"asset {asset!r} is not a collateral asset of the policy",
                                     source=source, field=f)
        check_scale(amt, sc.amount, field=f, kind="amount", source=source)
        if amt < 0:
            raise InputError("a balance must be >= 0", source=source, field=f)
        _fits(amt, sc.amount, bits.amount, field=f, kind="amount", source=source)
    held: dict[str, int] = {}
    for i, pos in enumerate(a.positions):
        f = f"positions[{i}]"
        if not policy.has_instrument(pos.symbol):
            raise UnknownSymbolError(f"the policy lists no instrument {pos.symbol!r}",
                                     source=source, field=f"{f}.symbol")
        if pos.symbol in held:
            raise InputError(f"a second position in {pos.symbol!r} (positions[{held[pos.symbol]}] "
                             "is the first); at most one position per symbol", source=source,
                             field=f"{f}.symbol")
        held[pos.symbol] = i
        check_scale(pos.size, sc.size, field=f"{f}.size", kind="size", source=source)
        check_scale(pos.entry_price, sc.price, field=f"{f}.entry_price", kind="price",
                    source=source)
        if pos.entry_price < 0:
            raise InputError("an entry price must be >= 0", source=source,
                             field=f"{f}.entry_price")
        _fits(pos.size, sc.size, bits.size, field=f"{f}.size", kind="size", source=source)
        _fits(pos.entry_price, sc.price, bits.price, field=f"{f}.entry_price", kind="price",
              source=source)
    if policy.mode != "isolated":
        if a.isolated_margin:
            raise InputError(f"isolated margins are only used in isolated mode (this policy is "
                             f"{policy.mode})", source=source, field="isolated_margin")
        return a
    for sym, amt in a.isolated_margin.items():
        f = f"isolated_margin.{sym}"
        if not policy.has_instrument(sym):
            raise UnknownSymbolError(f"the policy lists no instrument {sym!r}", source=source,
                                     field=f)
        if sym not in held:
            raise InputError("an isolated margin for a symbol with no position", source=source,
                             field=f)
        check_scale(amt, sc.amount, field=f, kind="amount", source=source)
        if amt < 0:
            raise InputError("an isolated margin must be >= 0", source=source, field=f)
        _fits(amt, sc.amount, bits.amount, field=f, kind="amount", source=source)
    for sym, i in held.items():
        if a.positions[i].size != 0 and sym not in a.isolated_margin:
            raise InputError("isolated mode needs an isolated margin for every open position",
                             source=source, field=f"isolated_margin.{sym}")
    return a


def load_account(src, policy: Policy, *, source: str | None = None) -> Account:
    """Load an account and validate it against ``policy`` (scales come from the policy)."""
    if isinstance(src, (str, os.PathLike)):
        source = source or os.fspath(src)
    a = parse_account(src, source=source)
    return validate_account(a, policy, source=source)


# --- dumping --------------------------------------------------------------------------------------


def dump_document(model: BaseModel) -> dict:
    """A model as a JSON-ready dict: decimals as canonical strings, no null fields."""
    from .rules.decimals import canonical

    def walk(x):
        if isinstance(x, Decimal):
            return canonical(x)
        if isinstance(x, dict):
            return {k: walk(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [walk(v) for v in x]
        return x

    return walk(model.model_dump(mode="python", exclude_none=True))


def write_document(doc, path) -> None:
    """Write a model (via :func:`dump_document`) or a JSON-ready dict to ``path`` atomically: a
    temporary file in the same folder, flushed and fsynced, then ``os.replace``. Decimals are
    written as canonical strings; a reader never sees a half-written file."""
    import json

    from .files.atomic import write_atomic
    from .rules.decimals import canonical

    if isinstance(doc, BaseModel):
        doc = dump_document(doc)

    def default(x):
        if isinstance(x, Decimal):
            return canonical(x)
        raise TypeError(f"cannot write {type(x).__name__}")

    text = json.dumps(doc, indent=2, ensure_ascii=False, default=default, allow_nan=False) + "\n"
    write_atomic(path, text.encode("utf-8"))
