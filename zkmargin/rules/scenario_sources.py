"""Scenario generation for venues (numpy): historical simulation, Monte-Carlo and named stress
scenarios, frozen into the policy's fixed-point table with what regenerates it.

Every method produces *underlying moves* per scenario — a relative spot move ``m_{u,s}`` per
underlying ``u`` (a perpetual or future is its own underlying; an option's is ``underlying``) and
an additive implied-volatility move ``v_{u,s}`` — and the per-unit P&L of one long unit:

* perpetual, future: ``S0_u · m_{u,s}``;
* option: ``BS(S0_u·(1 + m_{u,s}), K, τ − h, σ + v_{u,s}) − BS(S0_u, K, τ, σ)`` (Black–Scholes of
  :mod:`.scenarios`, rate 0, ``τ`` ACT/365 from the snapshot's ``as_of``, ``h`` the horizon);

then each float is frozen at the policy's price scale (``Decimal(x)`` rounded half-even,
:func:`.scenarios.to_price_scale`), the only rounding. The methods:

``historical``
    a price history (``zkmargin.history/1``: one series per underlying, oldest first, equal
    lengths) gives, for the last ``window`` days ``d``, ``m_{u,d} = P_{u,d} / P_{u,d−h} − 1``
    (``h`` = ``horizon`` rows): the joint moves of those days applied to today's marks. No
    volatility move.
``monte_carlo``
    a seeded ``numpy.random.Generator(PCG64(seed))``; correlated log-normal moves over
    ``τ_h = horizon_days/365`` years: ``Z = N(0, 1)^{n×m} · chol(C)ᵀ`` (C the correlation matrix
    over the underlyings in the model's order), ``m = exp(−σ²τ_h/2 + σ√τ_h·Z) − 1``; then, when
    ``vol_of_vol`` is given, one more standard normal ``W_s`` per scenario (drawn after Z) and
    ``v_{u,s} = vol_of_vol_u · √τ_h · W_s`` (one common volatility factor), implied volatility
    floored at 0.01.
``stress``
    the venue names each scenario and gives its moves (``zkmargin.stress/1``).

The policy records ``scenarios.source``: the method, ``zkmargin``/numpy versions, every parameter
and the SHA-256 of every input file and of the market snapshot; :func:`regenerate` rebuilds the
table from those and the same files, and :func:`check_regenerates` says whether it is the
published one. Floats differ between machines only in the last bits; a P&L that lands exactly
between two price ticks could then round the other way — the published table is the statement
either way, and the check names the entry that differs.

The methods' moves are computed in :mod:`.scenario_moves` (re-exported here); this module
reprices, freezes, records and regenerates. May import numpy, :mod:`.scenario_moves`,
:mod:`.scenarios`, :mod:`.decimals`, :mod:`.digests`, :mod:`.models` and :mod:`zkmargin.errors`.
Used by the command line (``generate-scenarios``), the examples and the tests.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np

from ..errors import FormatError, InputError, PolicyError
from ..files.inputs import read_input
from .decimals import Number, canonical, load_json_file, parse_decimal
from .models import (
    DocumentSource,
    Market,
    Policy,
    dump_document,
    load_market,
    load_policy,
    write_document,
)
from .scenario_moves import History, Moves, historical_moves, monte_carlo_moves, stress_moves
from .scenarios import black_scholes, to_price_scale, year_fraction

__all__ = [
    "STRESS_FORMAT",
    "Moves",
    "underlyings",
    "historical_moves",
    "monte_carlo_moves",
    "stress_moves",
    "moves_pnl",
    "generate",
    "write_generated",
    "regenerate",
    "check_regenerates",
    "file_digest",
    "load_stress",
]

STRESS_FORMAT = "zkmargin.stress/1"
HISTORY_FORMAT = "zkmargin.history/1"
VOL_FLOOR = 0.01

def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes (hex): what ``scenarios.source.inputs`` records."""
    return hashlib.sha256(read_input(path, "history")[0]).hexdigest()  # bounded, as every input


def underlyings(policy: Policy) -> list[str]:
    """The underlyings of the policy's instruments, in the policy's order, each once."""
    out: list[str] = []
    for ins in policy.instruments:
        u = ins.symbol if ins.kind != "option" else ins.underlying
        assert u is not None  # a validated option has its underlying
        if u not in out:
            out.append(u)
    return out


def load_stress(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A ``zkmargin.stress/1`` document: ``{"scenarios": [{"name", "spot": {u: move},
    "vol": {u: shift}}]}`` (moves relative, shifts in volatility points; absent: 0)."""
    data = load_json_file(path, "stress")
    if not isinstance(data, dict) or data.get("format") != STRESS_FORMAT:
        raise FormatError(f"not a stress file (format must be {STRESS_FORMAT!r})", source=str(path), field="format")
    extra = set(data) - {"format", "scenarios", "notes"}
    if extra:
        raise FormatError(f"unknown key {sorted(extra)[0]!r}", source=str(path))
    if not isinstance(data.get("scenarios"), list) or not data["scenarios"]:
        raise FormatError("expected a non-empty list of scenarios", source=str(path), field="scenarios")
    return StressDocument(data, source=str(path))


class StressDocument(dict[str, Any]):
    """A stress file's document with the file it came from, so the errors :func:`stress_moves`
    finds in it (an exponent, an unknown underlying) name the file (issue 11)."""

    def __init__(self, data: Mapping[str, Any], *, source: str | None = None):
        super().__init__(data)
        self.source = source


# --- repricing and the table ----------------------------------------------------------------------


def moves_pnl(policy: Policy, market: Market, moves: Moves, *, vols: Mapping[str, float] | None = None,
              horizon_days: float = 1.0) -> dict[str, np.ndarray]:
    """Float per-unit P&L of one long unit of every instrument in every scenario."""
    out: dict[str, np.ndarray] = {}
    n = len(moves)
    for ins in policy.instruments:
        u = ins.symbol if ins.kind != "option" else ins.underlying
        assert u is not None
        if u not in market.prices:
            raise InputError(f"the market snapshot has no price for {u!r}", field=f"prices.{u}")
        s0 = float(market.prices[u])
        mv = moves.spot.get(u, np.zeros(n))
        if ins.kind != "option":
            out[ins.symbol] = s0 * mv
            continue
        key = ins.symbol if vols and ins.symbol in vols else u
        if not vols or key not in vols:
            raise InputError(f"an implied volatility is needed for option {ins.symbol!r}", field=f"vols.{u}")
        sigma = float(vols[key])
        assert ins.expiry is not None and ins.right is not None and ins.strike is not None
        t0 = year_fraction(market.as_of, ins.expiry)
        t1 = max(t0 - horizon_days / 365.0, 0.0)
        k = float(ins.strike)
        v0 = black_scholes(np.array([s0]), k, t0, sigma, ins.right)[0]
        sig = np.maximum(sigma + moves.vol.get(u, np.zeros(n)), VOL_FLOOR)
        out[ins.symbol] = black_scholes(np.maximum(s0 * (1.0 + mv), 1e-12), k, t1, sig, ins.right) - v0
    return out


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("zkmargin")
    except PackageNotFoundError:  # a source checkout that was never installed
        ours = "source"
    return f"zkmargin {ours}, numpy {np.__version__}"


def generate(policy: Policy | DocumentSource, market: Market | DocumentSource, *, method: str,
             history: History | None = None, window: int | None = None, horizon: int = 1,
             model: Mapping[str, Any] | None = None, stress: Mapping[str, Any] | None = None,
             vols: Mapping[str, float] | None = None, horizon_days: float = 1.0,
             factor: Number = "1", initial_factor: Number | None = None,
             measure: Mapping[str, Any] | None = None,
             inputs: Mapping[str, str] | None = None) -> Policy:
    """A copy of the portfolio ``policy`` with a generated table (and ``scenarios.source``).

    ``method``: ``historical`` (``history``: ``{underlying: prices}``; ``window`` days,
    ``horizon`` rows), ``monte_carlo`` (``model``: ``{"seed", "n", "vols", "correlation",
    "horizon_days", "vol_of_vol"}``) or ``stress`` only; ``stress`` (a ``zkmargin.stress/1``
    document) is appended to either. ``vols``: implied volatilities of the options (per option or
    underlying). ``measure``: the table's risk measure. ``inputs``: file name -> SHA-256, recorded."""
    base = load_policy(policy, allow_missing_scenarios=True)
    market = load_market(market)
    if base.mode != "portfolio":
        raise PolicyError(f"scenario tables are for portfolio mode (this policy is {base.mode})", field="mode")
    under = underlyings(base)
    params: dict[str, Any] = {}
    if method == "historical":
        if history is None:
            raise InputError("historical simulation needs a price history", field="history")
        moves = historical_moves(history, under, window=window, horizon=horizon)
        params.update(window=len(moves), horizon=horizon)
    elif method == "monte_carlo":
        if model is None:
            raise InputError("Monte-Carlo needs a model (seed, n, vols, correlation)", field="model")
        unknown = set(model) - {"seed", "n", "vols", "correlation", "horizon_days", "vol_of_vol"}
        if unknown:
            raise InputError(f"unknown model parameter {sorted(unknown)[0]!r}", field="model")
        for key in ("seed", "n", "vols"):
            if key not in model:
                raise InputError(f"the model needs {key!r}", field=f"model.{key}")
        moves = monte_carlo_moves(under, vols=model["vols"], correlation=model.get("correlation"), n=int(model["n"]),
                                  seed=int(model["seed"]), horizon_days=float(model.get("horizon_days", horizon_days)),
                                  vol_of_vol=model.get("vol_of_vol"))
        params["model"] = {k: model[k] for k in sorted(model)}
    elif method == "stress":
        if stress is None:
            raise InputError("stress scenarios need a stress file", field="stress")
        moves = Moves([], {})
    else:
        raise InputError(f"unknown method {method!r} (historical, monte_carlo, stress)", field="method")
    if stress is not None:
        named = stress_moves(stress, under, source=getattr(stress, "source", None))
        moves = moves.extend(named) if len(moves) else named
        params["stress"] = [sc["name"] for sc in stress["scenarios"]]
    params.update(horizon_days=horizon_days, underlyings=under)
    if vols:
        params["vols"] = {k: vols[k] for k in sorted(vols)}
    floats = moves_pnl(base, market, moves, vols=vols, horizon_days=horizon_days)
    scale = base.decimals.price
    from .digests import market_digest

    section: dict[str, Any] = {
        "factor": canonical(parse_decimal(factor, field="factor")),
        "names": list(moves.names),
        "pnl": {sym: [to_price_scale(float(x), scale) for x in row] for sym, row in floats.items()},
        "source": {"method": method, "generator": _versions(), "params": _jsonable(params),
                   "inputs": {**dict(inputs or {}), "market": market_digest(market)}},
    }
    if initial_factor is not None:
        section["initial_factor"] = canonical(parse_decimal(initial_factor, field="initial_factor"))
    if measure is not None:
        section["measure"] = dict(measure)
    doc = dump_document(base)
    doc["scenarios"] = section
    return load_policy(doc)


def _jsonable(x: Any) -> Any:
    """Parameters as JSON with every number a canonical decimal string (a reloaded policy reads
    JSON numbers as decimals: strings keep the digest the same in memory and on disk)."""
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in x]
    if isinstance(x, bool) or x is None:
        return x
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        return canonical(Decimal(repr(float(x))))
    if isinstance(x, Decimal):
        return canonical(x)
    return x


def write_generated(policy: Policy | DocumentSource, market: Market | DocumentSource,
                    out_path: str | os.PathLike[str], **kwargs: Any) -> Policy:
    """:func:`generate`, written to ``out_path`` atomically."""
    new = generate(policy, market, **kwargs)
    write_document(new, out_path)
    return new


def regenerate(policy: Policy | DocumentSource, market: Market | DocumentSource, *,
               history: History | None = None, stress: Mapping[str, Any] | None = None) -> Policy:
    """The table rebuilt from ``policy.scenarios.source`` and the same input documents."""
    pol = load_policy(policy)
    src = pol.scenarios.source if pol.scenarios is not None else None
    if src is None:
        raise InputError("the policy's table records no source to regenerate it from", field="scenarios.source")
    p = src.params
    measure = None if pol.scenarios is None or pol.scenarios.measure is None else dump_document(pol.scenarios.measure)
    assert pol.scenarios is not None
    window = p.get("window")
    return generate(pol, market, method=src.method, history=history, window=None if window is None else int(window),
                    horizon=int(p.get("horizon", 1)), model=p.get("model"), stress=stress, vols=p.get("vols"),
                    horizon_days=float(p.get("horizon_days", 1.0)), factor=pol.scenarios.factor,
                    initial_factor=pol.scenarios.initial_factor, measure=measure,
                    inputs={k: v for k, v in src.inputs.items() if k != "market"})


def check_regenerates(policy: Policy | DocumentSource, market: Market | DocumentSource, *,
                      history: History | None = None,
                      stress: Mapping[str, Any] | None = None) -> list[str]:
    """The entries where the regenerated table differs from the published one (``[]``: same)."""
    pol = load_policy(policy)
    new = regenerate(pol, market, history=history, stress=stress)
    assert pol.scenarios is not None and new.scenarios is not None
    out = []
    if pol.scenarios.names != new.scenarios.names:
        out.append("scenarios.names")
    for sym, row in pol.scenarios.pnl.items():
        other = new.scenarios.pnl.get(sym, [])
        for s, v in enumerate(row):
            if s >= len(other) or other[s] != v:
                out.append(f"scenarios.pnl.{sym}[{s}]")
    return out
