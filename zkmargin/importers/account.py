"""ccxt balances and positions → a ``zkmargin.account/1`` (private).

* size: the exchange's signed size × contract size (base units); zero legs are skipped;
* entry price: the exchange's average entry price (``entryPrice`` / ``avgPrice``);
* balances: the wallet balance per asset without unrealized PnL (Binance ``crossWalletBalance``,
  Bybit ``walletBalance``; the engine adds PnL from entry prices itself); zero balances skipped;
* isolated mode: ``isolated_margin`` per position from the margin the exchange holds for it without
  PnL (Binance ``isolatedWallet``); an account mixing cross and isolated positions is refused
  (a zkmargin account has one mode);
* hedge mode: one open leg per symbol is imported as that symbol's position; both legs open on one
  symbol is refused (the account format holds one position per symbol, and netting the legs would
  understate the requirement the exchange charges on each).

With a policy, the account is validated against it (symbols, scales, widths) before anything is
written; balances in assets the policy does not accept as collateral are left out and named.
Error messages name the symbol and field, never a value.

May import the rules and the importers beside it. Used by :mod:`.workflows`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import localcontext
from typing import Any

from zkmargin.errors import ExchangeDataError, UnknownSymbolError
from zkmargin.rules.decimals import EXACT
from zkmargin.rules.models import Account, Policy, parse_account, validate_account

from .exchanges import PositionRow
from .fields import Where
from .markets import Contracts
from .source import ExchangeData

__all__ = ["ImportedAccount", "position_rows", "account_from_exchange"]


@dataclass
class ImportedAccount:
    account: Account
    mode: str  # cross | isolated
    ignored_assets: list[str] = field(default_factory=list)
    symbols: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """What may be printed without showing a value: counts and names."""
        return {
            "mode": self.mode,
            "positions": len(self.account.positions),
            "balances": sorted(self.account.balances),
            "ignored_assets": list(self.ignored_assets),
        }


def position_rows(data: ExchangeData, contracts: Contracts) -> list[tuple[PositionRow, Where]]:
    """Every position leg of the recording with its place (for error messages), in order."""
    src = data.name("positions")
    rows = []
    for k, p in enumerate(data.positions()):
        sym = p.get("symbol") if isinstance(p, dict) else None
        info = p.get("info") if isinstance(p, dict) else None
        label = info.get("symbol") if isinstance(info, dict) and isinstance(info.get("symbol"), str) \
            else sym if isinstance(sym, str) else str(k)
        w = Where(src, f"positions[{label}]")
        if not isinstance(p, dict):
            raise w.error("expected a JSON object (a ccxt position)")
        row = data.profile.position(p, w)
        if row.market_id not in contracts:
            raise UnknownSymbolError(f"{row.market_id!r} is not a market of {data.profile.id} "
                                     f"(not in {data.name('markets')})", source=src,
                                     field=f"{w.path}.info.symbol")
        rows.append((row, w))
    return rows


def account_from_exchange(data: ExchangeData, *, policy: Policy | None = None,
                          symbols: list[str] | None = None) -> ImportedAccount:
    """Convert the recording's positions and balance into an account (see the module rules).

    ``symbols`` (ids or unified symbols) limits which positions may be held: a position outside
    them is an error, never dropped silently."""
    contracts = Contracts(data.markets(), data.profile, data.name("markets"))
    allowed = None
    if symbols is not None:
        allowed = {contracts.get(s, Where(None, "symbols")).id for s in symbols}
    src = data.name("positions")
    held: dict[str, tuple[PositionRow, Where]] = {}
    modes: dict[str, str] = {}
    for row, w in position_rows(data, contracts):
        if row.size == 0:
            continue
        c = contracts.get(row.market_id)
        if allowed is not None and c.id not in allowed:
            raise UnknownSymbolError(f"a position in {c.id} outside --symbols", source=src,
                                     field=f"{w.path}.info.symbol")
        if policy is not None and not policy.has_instrument(c.id):
            raise UnknownSymbolError(f"a position in {c.id}, which the policy {policy.venue!r} "
                                     "does not list", source=src, field=f"{w.path}.info.symbol")
        if c.id in held:
            first = held[c.id][0]
            raise ExchangeDataError(
                f"two open legs in {c.id} ({first.leg} and {row.leg}, hedge mode): a zkmargin "
                "account holds one position per symbol, and netting the legs would understate "
                "the requirement the exchange charges on each; close one leg or prove them at a "
                "venue that nets", source=src, field=f"{w.path}.info")
        held[c.id] = (row, w)
        modes.setdefault(row.margin_mode, c.id)
    if len(modes) > 1:
        raise ExchangeDataError(
            f"the account mixes cross ({modes['cross']}) and isolated ({modes['isolated']}) "
            "positions; a zkmargin account has one margin mode", source=src, field="positions")
    mode = next(iter(modes), policy.mode if policy is not None and policy.mode != "portfolio"
                else "cross")
    if policy is not None and policy.mode != mode and held:
        raise ExchangeDataError(f"the positions are {mode} but the policy is {policy.mode}",
                                source=src, field="positions")

    positions: list[dict[str, Any]] = []
    isolated = {}
    with localcontext(EXACT):
        for mid, (row, w) in held.items():
            c = contracts.get(mid)
            positions.append({"symbol": c.id, "size": row.size * c.contract_size,
                              "entry_price": row.entry_price})
            if mode == "isolated":
                if row.isolated_margin is None or row.isolated_margin < 0:
                    raise ExchangeDataError("missing or negative isolated margin", source=src,
                                            field=f"{w.path}.info")
                isolated[c.id] = row.isolated_margin

    bsrc = data.name("balance")
    balances = {}
    ignored = []
    for asset, amount in data.profile.balances(data.balance(), Where(bsrc, "balance")).items():
        if amount == 0:
            continue
        if amount < 0:
            raise ExchangeDataError("a negative wallet balance (a loan): zkmargin balances are "
                                    ">= 0; repay it or leave the asset out with a policy that "
                                    "does not accept it", source=bsrc, field=f"balance[{asset}]")
        if policy is not None and not policy.has_collateral(asset):
            ignored.append(asset)
            continue
        balances[asset] = amount

    doc = {"format": "zkmargin.account/1", "balances": balances, "positions": positions}
    if mode == "isolated":
        doc["isolated_margin"] = isolated
    account = parse_account(doc, source="imported account")
    if policy is not None:
        account = validate_account(account, policy, source="imported account")
    return ImportedAccount(account, mode, sorted(ignored), [p["symbol"] for p in positions])
