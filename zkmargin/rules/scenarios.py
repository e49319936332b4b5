"""Scenario builder: the venue's numpy side of portfolio margin.

A venue turns spot and volatility shocks into a table of per-unit P&L per instrument and scenario,
and publishes that table inside its policy as fixed-point decimals. Floats live only in here; the
published table is exact decimals at the policy's price scale, so prover, verifier and engine use
identical numbers whatever the machine.

Grids (a *scenario* is a price move, a volatility move and a cover fraction):

* ``"span"`` — the standard CME SPAN 16-scenario risk array: price unchanged, up and down 1/3, 2/3
  and 3/3 of the price scan range, each with volatility up and down by the volatility scan range
  (scenarios 1-14), plus the two extreme moves, up and down ``extreme_move`` times the price scan
  range with volatility unchanged, of which ``extreme_cover`` counts (scenarios 15-16; default 3
  and 35%; McMillan's S&P example uses 2 and 35%: a 14-point extreme move on a 20-point range).
  Order and names follow CME's numbering (``s01`` ... ``s16``).
* ``"deribit"`` — a Deribit portfolio-margin style grid: spot moves evenly spaced from ``-range`` to
  ``+range`` (default 9 levels: -16%, -12%, ... +16% with the default range 0.16) crossed with
  volatility up and down (``vol_scenarios=3``: up, unchanged and down, Deribit's 27-row standard
  table, bucket by bucket); full cover.

Repricing: perpetuals and futures linearly (``S * move``), or with ``inverse`` as Deribit's inverse
contracts sized in the base currency (``move / (1 + move)`` base-currency units per unit); options with Black–Scholes on the
underlying's market price (rate ``r``, default 0 — then identical to Black-76 on a forward), time
to expiry ACT/365 from the snapshot's ``as_of``, shortened by ``horizon_days`` in every scenario
(the SPAN look-ahead). Per-unit P&L of scenario ``s`` (gain positive; the engine's
``loss_s = -sum q * pnl``) is ``cover_s * (V_s - V_0)`` with ``V_0`` the model value now.

Fixed point: each float P&L is converted with ``Decimal(float)`` (exact binary value) and rounded
half-even to the policy's price decimals — the only rounding, explicit and documented.

Imports numpy, :mod:`zkmargin.rules.decimals`, :mod:`zkmargin.errors` and :mod:`zkmargin.rules.models`.
Used by the command line (``scenarios``), the benchmarks and ``examples/portfolio/build_policy.py``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import InputError, MissingPriceError
from .decimals import Number, canonical, parse_decimal, quantize
from .models import (
    DocumentSource,
    Market,
    Policy,
    dump_document,
    load_market,
    load_policy,
    parse_timestamp,
    write_document,
)

__all__ = [
    "Grid",
    "span_grid",
    "deribit_grid",
    "black_scholes",
    "year_fraction",
    "to_price_scale",
    "scenario_pnl",
    "build_scenarios",
    "policy_with_scenarios",
    "write_policy_with_scenarios",
    "SPAN_EXTREME_COVER",
    "SPAN_EXTREME_MOVE",
]

#: Cover fraction of the two SPAN extreme scenarios (CME: 35%).
SPAN_EXTREME_COVER = 0.35
#: Default size of the two SPAN extreme moves, in price scan ranges (a parameter of span_grid).
SPAN_EXTREME_MOVE = 3.0
SECONDS_PER_YEAR = 365 * 86400


@dataclass(frozen=True)
class Grid:
    """Scenario grid: price moves as fractions of the price scan range, volatility moves as
    fractions (-1, 0, +1) of the volatility scan range, cover fractions, and names."""

    names: tuple[str, ...]
    price_moves: np.ndarray
    vol_moves: np.ndarray
    cover: np.ndarray

    def __len__(self) -> int:
        return len(self.names)


def span_grid(extreme_move: float = SPAN_EXTREME_MOVE,
              extreme_cover: float = SPAN_EXTREME_COVER) -> Grid:
    """CME SPAN's 16 standard risk-array scenarios (see the module docstring), the extreme moves
    ``extreme_move`` price scan ranges covered at ``extreme_cover``."""
    if not (math.isfinite(extreme_move) and extreme_move > 0):
        raise InputError("the extreme move must be a positive number of price scan ranges",
                         field="extreme_move")
    if not (math.isfinite(extreme_cover) and 0 <= extreme_cover <= 1):
        raise InputError("the extreme cover must be between 0 and 1", field="extreme_cover")
    x = Fraction(extreme_move)
    rows: list[tuple[Fraction, int, float]] = [(Fraction(0), +1, 1.0), (Fraction(0), -1, 1.0)]
    for k in (1, 2, 3):
        f = Fraction(k, 3)
        rows += [(f, +1, 1.0), (f, -1, 1.0), (-f, +1, 1.0), (-f, -1, 1.0)]
    rows += [(x, 0, extreme_cover), (-x, 0, extreme_cover)]
    names = []
    for i, (f, v, c) in enumerate(rows, 1):
        move = "0" if f == 0 else (f"{'+' if f > 0 else '-'}{abs(f) if i <= 14 else f'{abs(float(f)):g}'}")
        vol = {1: "vol up", -1: "vol down", 0: "vol unchanged"}[v]
        extra = f", {c * 100:g}% cover" if i > 14 else ""
        names.append(f"s{i:02d} price {move} range, {vol}{extra}")
    return Grid(tuple(names), np.array([float(f) for f, _, _ in rows]),
                np.array([v for _, v, _ in rows], dtype=float), np.array([c for *_, c in rows]))


def deribit_grid(levels: int = 9, vol: bool = True, vol_scenarios: int = 2) -> Grid:
    """Spot moves ``linspace(-1, 1, levels)`` of the range, each with volatility up and down
    (``vol_scenarios=3``: up, unchanged and down, as Deribit's risk matrix; ``vol`` false: only
    unchanged)."""
    if levels < 2:
        raise InputError("a grid needs at least 2 price levels")
    if vol_scenarios not in (2, 3):
        raise InputError("a Deribit grid has 2 (up, down) or 3 (up, unchanged, down) volatility "
                         "scenarios per level", field="vol_scenarios")
    moves = np.linspace(-1.0, 1.0, levels)
    vols = ((+1, 0, -1) if vol_scenarios == 3 else (+1, -1)) if vol else (0,)
    names, pm, vm = [], [], []
    for m in moves:
        for v in vols:
            tag = {1: "vol up", -1: "vol down", 0: "vol unchanged"}[v]
            names.append(f"spot {m:+.4f} range, {tag}")
            pm.append(m)
            vm.append(v)
    return Grid(tuple(names), np.array(pm), np.array(vm, dtype=float), np.ones(len(names)))


_GRIDS = {"span": span_grid, "deribit": deribit_grid}

#: A scan range or volatility: one number for every key, or one per underlying (or option symbol).
Shock = float | Mapping[str, float]


def _ncdf(x: np.ndarray) -> np.ndarray:
    erf = np.vectorize(math.erf, otypes=[float])
    out: np.ndarray = 0.5 * (1.0 + erf(x / math.sqrt(2.0)))  # np.vectorize returns Any
    return out


def black_scholes(spot: npt.ArrayLike, strike: float, t: npt.ArrayLike, vol: npt.ArrayLike,
                  right: str, rate: float = 0.0) -> np.ndarray:
    """Black–Scholes value per unit (vectorized over ``spot``, ``t`` and ``vol``); intrinsic value
    at or after expiry; volatility floored at 1e-6."""
    s = np.asarray(spot, dtype=float)
    t = np.broadcast_to(np.asarray(t, dtype=float), s.shape)
    v = np.maximum(np.broadcast_to(np.asarray(vol, dtype=float), s.shape), 1e-6)
    k = float(strike)
    disc = np.exp(-rate * np.maximum(t, 0.0))
    intrinsic = np.maximum(s - k, 0.0) if right == "call" else np.maximum(k - s, 0.0)
    live = t > 0
    out = intrinsic.copy()
    if np.any(live):
        sl, tl, vl, dl = s[live], t[live], v[live], disc[live]
        sq = vl * np.sqrt(tl)
        d1 = (np.log(sl / k) + (rate + 0.5 * vl * vl) * tl) / sq
        d2 = d1 - sq
        if right == "call":
            out[live] = sl * _ncdf(d1) - k * dl * _ncdf(d2)
        else:
            out[live] = k * dl * _ncdf(-d2) - sl * _ncdf(-d1)
    return out


def year_fraction(start: str, end: str) -> float:
    """``(end - start)`` in years, ACT/365 (ISO 8601 timestamps with time zone)."""
    return (parse_timestamp(end) - parse_timestamp(start)).total_seconds() / SECONDS_PER_YEAR


def to_price_scale(x: float, scale: int) -> str:
    """A float P&L as a decimal string at ``scale``: ``Decimal(x)`` (exact) rounded half-even."""
    if not math.isfinite(x):
        raise InputError("a scenario P&L is not finite")
    return canonical(quantize(Decimal(x), scale, "half_even"))


def _param(values: Shock, key: str, name: str, what: str) -> float:
    if isinstance(values, Mapping):
        if key not in values:
            raise InputError(f"no {what} for {key!r}", field=f"{name}.{key}")
        v = values[key]
    else:
        v = values
    return float(np.asarray(v, dtype=float))


def _market_float(market: Market, policy: Policy, key: str) -> float:
    v = market.prices.get(key)
    if v is None:
        if key == policy.quote:
            return 1.0
        raise MissingPriceError(f"the market snapshot has no price for {key!r}",
                                field=f"prices.{key}")
    return float(np.asarray(str(v), dtype=float))


def scenario_pnl(policy: Policy, market: Market, grid: Grid, *, spot_shocks: Shock = 0.15,
                 vol_shocks: Shock = 0.25, vols: Shock | None = None, rate: float = 0.0,
                 horizon_days: float = 1.0, inverse: bool = False) -> dict[str, np.ndarray]:
    """Float per-unit P&L per instrument (``{symbol: array(len(grid))}``).

    ``spot_shocks``: price scan range as a fraction of the underlying price (a number, or a mapping
    from underlying — the instrument itself for perpetuals and futures, ``underlying`` for
    options — to a number). ``vol_shocks``: volatility scan range in volatility points (0.25 = 25
    points), same keys. ``vols``: implied volatility per option symbol or per underlying."""
    out: dict[str, np.ndarray] = {}
    for ins in policy.instruments:
        under = ins.symbol if ins.kind != "option" else ins.underlying
        # a validated option has its underlying, expiry, strike and right
        assert under is not None
        scan = _param(spot_shocks, under, "spot_shocks", "spot shock")
        if ins.kind != "option":
            if inverse:  # one base-currency unit of an inverse contract, in the base currency
                m = scan * grid.price_moves
                out[ins.symbol] = grid.cover * m / (1.0 + m)
                continue
            s0 = _market_float(market, policy, ins.symbol)
            out[ins.symbol] = grid.cover * s0 * scan * grid.price_moves
            continue
        s0 = _market_float(market, policy, under)
        vscan = _param(vol_shocks, under, "vol_shocks", "volatility shock")
        if vols is None:
            raise InputError(f"an implied volatility is needed for option {ins.symbol!r}",
                             field="vols")
        key = ins.symbol if isinstance(vols, Mapping) and ins.symbol in vols else under
        sigma = _param(vols, key, "vols", "implied volatility")
        assert ins.expiry is not None and ins.right is not None
        t0 = year_fraction(market.as_of, ins.expiry)
        t1 = max(t0 - horizon_days / 365.0, 0.0)
        strike = float(np.asarray(str(ins.strike), dtype=float))
        v0 = black_scholes(np.array([s0]), strike, t0, sigma, ins.right, rate)[0]
        s = s0 * (1.0 + scan * grid.price_moves)
        s = np.maximum(s, 1e-12)
        sig = sigma + vscan * grid.vol_moves
        v = black_scholes(s, strike, t1, sig, ins.right, rate)
        out[ins.symbol] = grid.cover * (v - v0)
    return out


def build_scenarios(policy: Policy | DocumentSource, market: Market | DocumentSource,
                    grid: str | Grid = "span", *, factor: Number = "1",
                    initial_factor: Number | None = None, spot_shocks: Shock = 0.15,
                    vol_shocks: Shock = 0.25, vols: Shock | None = None, rate: float = 0.0,
                    horizon_days: float = 1.0, levels: int = 9,
                    extreme_move: float = SPAN_EXTREME_MOVE,
                    extreme_cover: float = SPAN_EXTREME_COVER, vol_scenarios: int = 2,
                    inverse: bool = False) -> dict[str, Any]:
    """The ``scenarios`` section for ``policy``: ``{"factor", ["initial_factor"], "names", "pnl"}``
    with every P&L a decimal string at the policy's price scale (see :func:`to_price_scale`).

    ``grid`` is ``"span"``, ``"deribit"`` or a :class:`Grid`; ``policy`` and ``market`` are models
    or anything their loaders take (a portfolio policy may still lack its table)."""
    policy = load_policy(policy, allow_missing_scenarios=True)
    market = load_market(market)
    if isinstance(grid, str):
        if grid not in _GRIDS:
            raise InputError(f"unknown grid {grid!r} (span or deribit)", field="grid")
        grid = (span_grid(extreme_move, extreme_cover) if grid == "span"
                else deribit_grid(levels, vol_scenarios=vol_scenarios))
    floats = scenario_pnl(policy, market, grid, spot_shocks=spot_shocks, vol_shocks=vol_shocks,
                          vols=vols, rate=rate, horizon_days=horizon_days, inverse=inverse)
    scale = policy.decimals.price
    section: dict[str, Any] = {
        "factor": canonical(parse_decimal(factor, field="factor")),
        "names": list(grid.names),
        "pnl": {sym: [to_price_scale(float(x), scale) for x in row] for sym, row in floats.items()},
    }
    if initial_factor is not None:
        section["initial_factor"] = canonical(parse_decimal(initial_factor,
                                                            field="initial_factor"))
    return section


def policy_with_scenarios(policy: Policy | DocumentSource, market: Market | DocumentSource,
                          **kwargs: Any) -> Policy:
    """A copy of ``policy`` with the table from :func:`build_scenarios`, validated."""
    base = load_policy(policy, allow_missing_scenarios=True)
    doc = dump_document(base)
    doc["scenarios"] = build_scenarios(base, market, **kwargs)
    return load_policy(doc)


def write_policy_with_scenarios(policy: Policy | DocumentSource, market: Market | DocumentSource,
                                out_path: str | os.PathLike[str], **kwargs: Any) -> Policy:
    """:func:`policy_with_scenarios`, written to ``out_path`` atomically (temp file +
    ``os.replace``). Returns the new policy."""
    new = policy_with_scenarios(policy, market, **kwargs)
    write_document(new, out_path)
    return new
