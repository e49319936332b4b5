"""The round trip: does an imported account, under the imported policy, carry the maintenance margin
the exchange itself reports for each position?

For every open position of the exchange's recording, zkmargin's figure is the policy's maintenance
rule at the exchange's own mark (``info.markPrice``) for the account's size, with the policy's
rounding — the number ``zkmargin check`` reports for that position when the market snapshot holds
the same mark. The exchange's figure is its raw field (Binance ``maintMargin``; Bybit
``positionMMByMp``, or ``positionMM``, which Bybit computes on the position value at the entry
price: then zkmargin's figure uses the entry price too). They agree when they differ by at most the
exchange's rounding: one unit in the last decimal the exchange wrote (``"370.31500000"``: 1e-8), or
an explicit tolerance.

ccxt's unified ``maintenanceMargin`` is not used: for Binance, ccxt 4.5 computes it as rate ×
notional without the bracket's ``cum``, so it overstates every position above the first bracket.

May import the rules (the engine) and the importers beside it. Used by :mod:`.workflows`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, localcontext

from zkmargin.errors import ExchangeDataError, InputError, RoundTripMismatchError
from zkmargin.rules.decimals import EXACT, canonical, parse_decimal
from zkmargin.rules.engine import apply_rounding, position_requirement
from zkmargin.rules.models import Account, Policy

from .account import position_rows
from .markets import Contracts
from .source import ExchangeData

__all__ = ["PositionCheck", "RoundTrip", "round_trip"]


@dataclass
class PositionCheck:
    symbol: str
    ours: Decimal | None
    exchange: Decimal | None
    field: str
    basis: str  # mark | entry
    tolerance: Decimal
    problem: str | None = None

    @property
    def difference(self) -> Decimal | None:
        if self.ours is None or self.exchange is None:
            return None
        with localcontext(EXACT):
            return self.ours - self.exchange

    @property
    def agrees(self) -> bool:
        d = self.difference
        return self.problem is None and d is not None and abs(d) <= self.tolerance

    def to_json_dict(self) -> dict:
        d = self.difference
        return {
            "symbol": self.symbol,
            "zkmargin": None if self.ours is None else canonical(self.ours),
            "exchange": None if self.exchange is None else canonical(self.exchange),
            "exchange_field": self.field,
            "basis": self.basis,
            "difference": None if d is None else canonical(d),
            "tolerance": canonical(self.tolerance),
            "agrees": self.agrees,
            "problem": self.problem,
        }


@dataclass
class RoundTrip:
    exchange: str
    rows: list[PositionCheck] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return all(r.agrees for r in self.rows)

    @property
    def differing(self) -> list[PositionCheck]:
        return [r for r in self.rows if not r.agrees]

    def to_json_dict(self) -> dict:
        return {"exchange": self.exchange, "agrees": self.agrees,
                "positions": [r.to_json_dict() for r in self.rows]}

    def raise_if_differs(self) -> RoundTrip:
        bad = self.differing
        if bad:
            parts = []
            for r in bad:
                if r.problem:
                    parts.append(f"{r.symbol}: {r.problem}")
                else:
                    assert r.difference is not None  # a row without a problem has both values
                    parts.append(f"{r.symbol} differs by {canonical(r.difference)} "
                                 f"(tolerance {canonical(r.tolerance)})")
            raise RoundTripMismatchError("the maintenance margin differs from the exchange's: "
                                         + "; ".join(parts))
        return self


def _written_unit(text: str) -> Decimal:
    """One unit in the last decimal the exchange wrote (``"370.31500000"`` -> 1e-8)."""
    frac = text.strip().partition(".")[2]
    return Decimal(1).scaleb(-len(frac))


def round_trip(account: Account, policy: Policy, data: ExchangeData, *,
               tolerance=None) -> RoundTrip:
    """Compare, position by position, zkmargin's maintenance margin of ``account`` under
    ``policy`` with the exchange's own figure in the recording (see the module rules)."""
    tol_given = None if tolerance is None else parse_decimal(tolerance, field="tolerance")
    if tol_given is not None and tol_given < 0:
        raise InputError("must be >= 0", field="tolerance")
    contracts = Contracts(data.markets(), data.profile, data.name("markets"))
    held = {p.symbol: p for p in account.positions if p.size != 0}
    out = RoundTrip(data.profile.id)
    seen = set()
    for row, w in position_rows(data, contracts):
        if row.size == 0:
            continue
        c = contracts.get(row.market_id)
        sym = c.id
        seen.add(sym)
        fld = row.mm_field or "maintenance margin"
        if row.mm_text is None:
            raise ExchangeDataError("missing: the exchange's maintenance margin of this position "
                                    "(nothing to compare with)", source=w.source,
                                    field=f"{w.path}.info.{fld}")
        theirs = parse_decimal(row.mm_text, source=w.source, field=f"{w.path}.info.{fld}")
        tol = tol_given if tol_given is not None else _written_unit(row.mm_text)
        pos = held.get(sym)
        if pos is None:
            out.rows.append(PositionCheck(sym, None, theirs, fld, row.mm_basis, tol,
                                          "open on the exchange, not in the account"))
            continue
        if not policy.has_instrument(sym):
            out.rows.append(PositionCheck(sym, None, theirs, fld, row.mm_basis, tol,
                                          "not an instrument of the policy"))
            continue
        price = row.mark if row.mm_basis == "mark" else row.entry_price
        try:
            ours = apply_rounding(
                position_requirement(policy.instrument(sym).rule("maintenance"), pos.size, price),
                policy.rounding)
        except InputError as e:
            out.rows.append(PositionCheck(sym, None, theirs, fld, row.mm_basis, tol, e.message))
            continue
        out.rows.append(PositionCheck(sym, ours, theirs, fld, row.mm_basis, tol))
    for sym in held:
        if sym not in seen:
            out.rows.append(PositionCheck(sym, None, None, "-", "-", Decimal(0),
                                          "in the account, not open on the exchange"))
    return out
