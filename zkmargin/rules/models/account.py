"""The account (``zkmargin.account/1``, private, the trader's): balances, positions, isolated margins;
its checks against a policy (symbols, scales, signs, widths) and its loaders. Messages never
contain the account's values.

May import :mod:`.fields`, :mod:`.documents` and :mod:`.policy`. Used through
:mod:`zkmargin.rules.models`.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Literal

from ...errors import (
    FormatError,
    InputError,
    UnknownSymbolError,
)
from ...files.inputs import display_name
from ..decimals import check_scale, to_fixed
from .coverage import Order, leg_key, validate_account_coverage
from .documents import DocumentSource, _build, _read
from .fields import _M, ACCOUNT_FORMAT, Dec, Str
from .policy import Policy


class Position(_M):
    symbol: Str
    size: Dec
    entry_price: Dec
    side: Literal["long", "short"] | None = None  # hedge mode's legs (coverage.py)


class Account(_M):
    format: Literal["zkmargin.account/1"]
    balances: dict[str, Dec] = {}
    positions: list[Position] = []
    isolated_margin: dict[str, Dec] = {}
    orders: list[Order] | None = None  # open orders (coverage.py)


def _fits(d: Decimal, scale: int, width: int, *, field: str, kind: str, source: str | None) -> None:
    n = abs(to_fixed(d, scale, field=field, kind=kind))
    if n.bit_length() > width:
        raise InputError(
            f"does not fit the policy's {width}-bit range for {kind} (at {scale} decimals it needs "
            f"{n.bit_length()} bits)", source=source, field=field)


def parse_account(src: Account | DocumentSource, *, source: str | None = None) -> Account:
    """Shape-check an account without a policy (numbers parsed exactly, no scale checks)."""
    if isinstance(src, Account):
        return src
    data, source = _read(src, ACCOUNT_FORMAT, source)
    if not isinstance(src, dict):  # a file says it: a missing list must not read as an empty one
        for key, empty in (("balances", "{}"), ("positions", "[]")):
            if key not in data:
                raise FormatError(f"missing field (write {empty} for none)", source=source, field=key)
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
        if amt < 0 and policy.mode != "unified":
            raise InputError("a balance must be >= 0 (negative balances, liabilities, are read in "
                             "unified mode only)", source=source, field=f)
        _fits(amt, sc.amount, bits.amount, field=f, kind="amount", source=source)
    held: dict[str, int] = {}
    for i, pos in enumerate(a.positions):
        f = f"positions[{i}]"
        if not policy.has_instrument(pos.symbol):
            raise UnknownSymbolError(f"the policy lists no instrument {pos.symbol!r}",
                                     source=source, field=f"{f}.symbol")
        key = leg_key(pos.symbol, pos.side)
        if key in held:
            what = "symbol" if pos.side is None else "symbol and side (hedge mode)"
            raise InputError(f"a second position in {key!r} (positions[{held[key]}] "
                             f"is the first); at most one position per {what}", source=source,
                             field=f"{f}.symbol")
        held[key] = i
        check_scale(pos.size, sc.size, field=f"{f}.size", kind="size", source=source)
        check_scale(pos.entry_price, sc.price, field=f"{f}.entry_price", kind="price",
                    source=source)
        if pos.entry_price < 0:
            raise InputError("an entry price must be >= 0", source=source,
                             field=f"{f}.entry_price")
        _fits(pos.size, sc.size, bits.size, field=f"{f}.size", kind="size", source=source)
        _fits(pos.entry_price, sc.price, bits.price, field=f"{f}.entry_price", kind="price",
              source=source)
    validate_account_coverage(a, policy, source, _fits)
    if policy.mode != "isolated":
        if a.isolated_margin:
            raise InputError(f"isolated margins are only used in isolated mode (this policy is "
                             f"{policy.mode})", source=source, field="isolated_margin")
        return a
    for sym, amt in a.isolated_margin.items():
        f = f"isolated_margin.{sym}"
        if not policy.has_instrument(sym.split("#")[0] if policy.position_mode == "hedge" else sym):
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


def load_account(src: Account | DocumentSource, policy: Policy, *,
                 source: str | None = None) -> Account:
    """Load an account and validate it against ``policy`` (scales come from the policy)."""
    if isinstance(src, (str, os.PathLike)):
        source = source or display_name(src)
    a = parse_account(src, source=source)
    return validate_account(a, policy, source=source)
