"""What a policy means, checked after its shape: scales of every number, bracket tables and their
cumulative-amount recursion, haircut tiers, widths, slots, the trust section; the loaders
(``parse_policy``, ``load_policy``).

May import :mod:`.fields`, :mod:`.documents`, :mod:`.policy` and :mod:`.trust`. Used through
:mod:`zkmargin.rules.models`.
"""

from __future__ import annotations

import os
from decimal import Decimal, localcontext
from typing import Any

from ...errors import (
    PolicyError,
)
from ...files.inputs import display_name
from ..decimals import EXACT, check_scale, decimals_of
from ..decimals import canonical as _c
from .coverage import option_in_cross, validate_coverage, validate_option_rule
from .deribit_pme import validate_deribit_pme
from .documents import DocumentSource, _build, _iso8601, _read
from .fields import MAX_BITS, MAX_SCALE, MAX_SLOTS, MIN_BITS, POLICY_FORMAT, SLOT_MODES
from .policy import Bracket, Collateral, Policy, Rule
from .provability import check_provable
from .risk import validate_measure, validate_zones
from .span import validate_span
from .tier_rules import validate_rule_extras
from .trust import _validate_trust
from .unified import validate_unified


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


def _check_rate(d: Decimal, p: Policy, field: str, source: str | None, *,
                upper: Decimal | None = None) -> None:
    check_scale(d, p.decimals.rate, field=field, kind="rate", source=source)
    if d < 0:
        raise PolicyError("must be >= 0", source=source, field=field)
    if upper is not None and d > upper:
        raise PolicyError(f"must be <= {_c(upper)}", source=source, field=field)


def _check_amount(d: Decimal, p: Policy, field: str, source: str | None) -> None:
    check_scale(d, p.decimals.amount, field=field, kind="amount", source=source)


def scaled_brackets(rule: Rule) -> list[Bracket]:
    """A bracket table as it applies: floors and caps times ``notional_coef`` (Binance's per-account
    multiplier), amounts 0 for a ``whole_position`` table, else by the recursion (exact)."""
    assert rule.brackets is not None  # a bracket rule
    coef = rule.notional_coef
    bs = rule.brackets
    if coef is not None:
        with localcontext(EXACT):
            bs = [b.model_copy(update={"floor": b.floor * coef,
                                       "cap": None if b.cap is None else b.cap * coef,
                                       "amount": None}) for b in bs]
    if rule.whole_position:
        return [b.model_copy(update={"amount": Decimal(0)}) for b in bs]
    if coef is None:
        return list(bs)
    return [b.model_copy(update={"amount": a}) for b, a in zip(bs, bracket_amounts(bs))]


def _validate_rule(rule: Rule, p: Policy, field: str, source: str | None) -> Rule:
    if rule.kind == "option":
        return rule  # checked with its instrument (coverage.validate_option_rule)
    validate_rule_extras(rule, p, field, source)
    if rule.kind == "leverage":
        return rule
    if rule.kind in ("flat", "linear", "open_interest"):
        assert rule.rate is not None  # Rule._shape: without brackets, leverage or option, a rate
        _check_rate(rule.rate, p, f"{field}.rate", source)
        if rule.per_size is not None:
            _check_rate(rule.per_size, p, f"{field}.per_size", source)
        return rule
    bs = rule.brackets
    assert bs is not None  # a bracket rule: every other kind has returned above
    by_size = rule.basis == "size"
    for k, b in enumerate(bs):
        bf = f"{field}.brackets[{k}]"
        if by_size:  # OKX's tiers count contracts: floors and caps are sizes
            check_scale(b.floor, p.decimals.size, field=f"{bf}.floor", kind="size", source=source)
            if b.cap is not None:
                check_scale(b.cap, p.decimals.size, field=f"{bf}.cap", kind="size", source=source)
        else:
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
    if rule.whole_position:
        for k, b in enumerate(bs):
            if b.amount is not None and b.amount != 0:
                raise PolicyError("a whole-position table charges the whole notional at its "
                                  "bracket's rate: no maintenance amount", source=source,
                                  field=f"{field}.brackets[{k}].amount")
        return rule.model_copy(update={"brackets": [b.model_copy(update={"amount": Decimal(0)})
                                                    for b in bs]})
    if rule.notional_coef is not None:
        for k, (_b, cum) in enumerate(zip(bs, bracket_amounts(scaled_brackets(rule)))):
            need = decimals_of(cum)
            if need > p.decimals.amount:
                raise PolicyError(f"with notional_coef {_c(rule.notional_coef)} the recursion "
                                  f"amount {_c(cum)} needs {need} decimals, the policy allows "
                                  f"{p.decimals.amount} for amount", source=source,
                                  field=f"{field}.brackets[{k}].floor")
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


def _validate_collateral(c: Collateral, p: Policy, field: str, source: str | None) -> None:
    one = Decimal(1)
    if c.haircut is not None:
        _check_rate(c.haircut, p, f"{field}.haircut", source, upper=one)
        return
    prev_up = None
    prev_h = None
    assert c.tiers is not None  # Collateral._shape: exactly one of 'haircut' or 'tiers'
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
    validate_coverage(p, source)
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
            if p.mode != "portfolio" and not option_in_cross(ins):
                raise PolicyError(f"options are only allowed in portfolio mode (this policy is "
                                  f"{p.mode}), or in cross mode with option standard-margin rules "
                                  "({'option': ...})", source=source, field=f"{f}.kind")
            if p.mode != "portfolio":
                validate_option_rule(ins, p, f, source)
            for name in ("underlying", "strike", "expiry", "right"):
                if getattr(ins, name) is None:
                    raise PolicyError(f"an option needs {name!r}", source=source,
                                      field=f"{f}.{name}")
            assert ins.strike is not None  # checked just above
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
        update: dict[str, Any] = {}
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

    update = {"instruments": new_instruments}
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
                "measure": validate_measure(sc.measure, len(sc.names), p.rounding, p.decimals,
                                            source),
            })
    elif sc is not None:
        raise PolicyError(f"scenarios are only used in portfolio mode (this policy is {p.mode})",
                          source=source, field="scenarios")
    validate_unified(p, source)
    update["trust"] = _validate_trust(p.trust, source)
    validate_zones(p.zones, p, source)
    measure = p.scenarios.measure if p.scenarios is not None else None
    if measure is not None and measure.kind != "worst" and (p.span is not None or p.deribit_pme is not None):
        raise PolicyError("a span or deribit_pme section is the venue's whole portfolio rule (its scan is "
                          "the worst loss); the scenario table's measure must be 'worst' there",
                          source=source, field="scenarios.measure")
    out = p.model_copy(update={**update, "span": validate_span(p, source),
                               "deribit_pme": validate_deribit_pme(p, source)})
    out._index()
    if not (allow_missing_scenarios and p.mode == "portfolio" and sc is None):
        check_provable(out, source)
    return out


def parse_policy(src: DocumentSource, *, source: str | None = None) -> Policy:
    """Shape-check a policy (path, bytes or dict) without the semantic checks."""
    data, source = _read(src, POLICY_FORMAT, source)
    return _build(Policy, data, source)


def load_policy(src: Policy | DocumentSource, *, source: str | None = None,
                allow_missing_scenarios: bool = False) -> Policy:
    """Load and validate a policy from a path, JSON bytes, a dict, or a :class:`Policy`."""
    if isinstance(src, Policy):
        if not src._by_symbol and src.instruments:
            return validate_policy(src, source=source,
                                   allow_missing_scenarios=allow_missing_scenarios)
        return src
    if isinstance(src, (str, os.PathLike)):
        source = source or display_name(src)
    p = parse_policy(src, source=source)
    return validate_policy(p, source=source, allow_missing_scenarios=allow_missing_scenarios)
