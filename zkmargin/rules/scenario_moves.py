"""The scenario methods' underlying moves: historical simulation, seeded Monte-Carlo and named
stress scenarios, each as :class:`Moves` — per scenario, a relative spot move per underlying and an
additive implied-volatility move (the formulas are in :mod:`.scenario_sources`, which reprices the
instruments under them and freezes the table).

May import numpy, :mod:`.decimals` and :mod:`zkmargin.errors`. Used by :mod:`.scenario_sources`
(which re-exports the public names) and the tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from ..errors import FormatError, InputError
from .decimals import parse_decimal

#: ``{underlying: prices}``, oldest first (decimals as read from a history file, or floats).
History = Mapping[str, Sequence[Decimal | float | str]]


@dataclass
class Moves:
    """Scenario names and, per underlying, relative spot moves and additive volatility moves."""

    names: list[str]
    spot: dict[str, np.ndarray]
    vol: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.names)

    def extend(self, other: Moves) -> Moves:
        keys = set(self.spot) | set(other.spot)
        z0, z1 = np.zeros(len(self)), np.zeros(len(other))
        return Moves(self.names + other.names,
                     {u: np.concatenate([self.spot.get(u, z0), other.spot.get(u, z1)]) for u in keys},
                     {u: np.concatenate([self.vol.get(u, z0), other.vol.get(u, z1)])
                      for u in set(self.vol) | set(other.vol)})


def _float(x: Any, where: str, source: str | None = None) -> float:
    v = float(parse_decimal(x, source=source, field=where)) if not isinstance(x, float) else x
    if not np.isfinite(v):
        raise InputError("not a finite number", source=source, field=where)
    return v


# --- the methods ----------------------------------------------------------------------------------


def historical_moves(history: History, under: Sequence[str], *, window: int | None = None,
                     horizon: int = 1) -> Moves:
    """The joint moves of the last ``window`` days of ``history`` (``{underlying: prices}``)."""
    missing = [u for u in under if u not in history]
    if missing:
        raise InputError(f"the history has no prices for {missing[0]!r}", field=f"prices.{missing[0]}")
    series = {u: np.asarray([_float(p, f"prices.{u}[{i}]") for i, p in enumerate(history[u])]) for u in under}
    lengths = {len(s) for s in series.values()}
    if len(lengths) != 1:
        raise InputError("every series of a historical simulation needs the same number of prices (one per day)",
                         field="prices")
    n = lengths.pop()
    if horizon < 1 or n <= horizon:
        raise InputError(f"{n} prices give no {horizon}-day returns", field="prices")
    if any(np.any(s <= 0) for s in series.values()):
        raise InputError("prices must be > 0", field="prices")
    days = n - horizon
    w = days if window is None else window
    if not 1 <= w <= days:
        raise InputError(f"the window must be between 1 and {days} days", field="window")
    idx = range(n - w, n)
    spot = {u: np.array([s[d] / s[d - horizon] - 1.0 for d in idx]) for u, s in series.items()}
    names = [f"day {d - n + 1:+d}" if d != n - 1 else "day 0" for d in idx]
    names = [f"hist {k:04d} ({nm})" for k, nm in enumerate(names)]
    return Moves(names, spot)


def monte_carlo_moves(under: Sequence[str], *, vols: Mapping[str, float], correlation: Sequence[Sequence[float]] | None,
                      n: int, seed: int, horizon_days: float = 1.0,
                      vol_of_vol: Mapping[str, float] | None = None) -> Moves:
    """Correlated log-normal moves from ``numpy.random.Generator(PCG64(seed))`` (module docstring)."""
    m = len(under)
    if n < 1:
        raise InputError("at least one scenario", field="n")
    sig = np.array([_float(vols.get(u, np.nan), f"vols.{u}") if u in vols else np.nan for u in under])
    if np.any(np.isnan(sig)):
        missing = [u for u, s in zip(under, sig) if np.isnan(s)]
        raise InputError(f"no volatility for {missing[0]!r}", field=f"vols.{missing[0]}")
    if np.any(sig < 0):
        raise InputError("volatilities must be >= 0", field="vols")
    C = np.eye(m) if correlation is None else np.asarray(correlation, dtype=float)
    if C.shape != (m, m) or not np.allclose(C, C.T) or not np.allclose(np.diag(C), 1.0):
        raise InputError(f"the correlation matrix must be symmetric {m}x{m} with ones on the diagonal "
                         f"(underlyings in the order {', '.join(under)})", field="correlation")
    try:
        L = np.linalg.cholesky(C)
    except np.linalg.LinAlgError:
        raise InputError("the correlation matrix is not positive definite", field="correlation") from None
    tau = float(horizon_days) / 365.0
    rng = np.random.Generator(np.random.PCG64(int(seed)))
    Z = rng.standard_normal((n, m)) @ L.T
    moves = np.exp(-0.5 * sig**2 * tau + sig * np.sqrt(tau) * Z) - 1.0
    spot = {u: moves[:, j] for j, u in enumerate(under)}
    vol: dict[str, np.ndarray] = {}
    if vol_of_vol:
        W = rng.standard_normal(n)
        vol = {u: float(vol_of_vol.get(u, 0.0)) * np.sqrt(tau) * W for u in under}
    return Moves([f"mc {k:05d}" for k in range(n)], spot, vol)


def stress_moves(doc: Mapping[str, Any], under: Sequence[str], source: str | None = None) -> Moves:
    """The venue's named scenarios as moves (every underlying not named moves by 0)."""
    names: list[str] = []
    spot = {u: [] for u in under}  # type: dict[str, list[float]]
    vol = {u: [] for u in under}  # type: dict[str, list[float]]
    for i, sc in enumerate(doc["scenarios"]):
        f = f"scenarios[{i}]"
        if not isinstance(sc, dict) or not isinstance(sc.get("name"), str) or set(sc) - {"name", "spot", "vol"}:
            raise FormatError("a scenario is {name, spot, vol}", source=source, field=f)
        for key in ("spot", "vol"):
            for u in sc.get(key, {}):
                if u not in under:
                    raise InputError(f"{u!r} is not an underlying of the policy", source=source, field=f"{f}.{key}.{u}")
        names.append(f"stress: {sc['name']}")
        for u in under:
            mv = _float(sc.get("spot", {}).get(u, "0"), f"{f}.spot.{u}", source)
            if mv <= -1:
                raise InputError("a spot move must be > -1 (a price stays > 0)", source=source, field=f"{f}.spot.{u}")
            spot[u].append(mv)
            vol[u].append(_float(sc.get("vol", {}).get(u, "0"), f"{f}.vol.{u}", source))
    return Moves(names, {u: np.array(v) for u, v in spot.items()}, {u: np.array(v) for u, v in vol.items()})
