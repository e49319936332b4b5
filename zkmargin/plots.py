"""Pictures (matplotlib, the optional ``plot`` extra): where a trader or a venue would rather look.

* :func:`plot_account` — the account's equity and requirement (maintenance, and initial when the
  policy's ladder names it) against a price shock of each of its largest exposures, with the
  liquidation price (equity = maintenance requirement) and the margin-call zones marked; every
  point is the clear-text engine's own answer at the shocked mark (``zkmargin check --plot``).
* :func:`plot_losses` — the scenario table's loss distribution (an account's, or one long unit of
  each instrument) with the VaR and expected-shortfall cut-offs of the table's measure
  (``zkmargin scenarios --plot``, ``generate-scenarios --plot``).

Floats are fine here: the pictures show what the exact engine computed. The format follows the
file name (``.png`` or ``.svg``), written atomically. The trader's own picture shows private
values; it is written only where the trader asks, like ``check``'s report.

May import the rules (engine, models, decimals) and :mod:`zkmargin.files`. Used by the CLI.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from .errors import InputError, MissingExtraError
from .files.atomic import write_atomic
from .rules.decimals import canonical, quantize
from .rules.models import load_account, load_market, load_policy

__all__ = ["plot_account", "plot_losses", "FORMATS"]

FORMATS = (".png", ".svg")
ZONE_COLOURS = ("#d8f0d8", "#fdf1c9", "#f9d6cf", "#e9d5f5", "#dddddd")


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingExtraError("pictures need matplotlib: pip install 'zkmargin[plot]'") from None
    return plt


def _format(path) -> str:
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in FORMATS:
        raise InputError(f"a picture is written as .png or .svg, not {ext or 'no extension'!r}", field="plot")
    return ext[1:]


def _save(fig: Any, path) -> None:
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format=_format(path), dpi=110, bbox_inches="tight", metadata=_metadata(path))
    plt.close(fig)
    write_atomic(path, buf.getvalue())


def _metadata(path) -> dict:
    # no creation date: the same inputs give the same file
    return {"Date": None} if _format(path) == "svg" else {"Software": "zkmargin"}


def largest_exposures(account, market, policy, top: int = 3) -> list[str]:
    """The symbols of the account's ``top`` largest positions by notional ``|q|·mark``."""
    rows = [(abs(p.size) * market.prices[p.symbol], p.symbol) for p in account.positions if p.size != 0]
    rows.sort(key=lambda r: (-r[0], r[1]))
    return [sym for _, sym in rows[:top]]


def account_curves(account, market, policy, symbol: str, shocks: Sequence[float], threshold=0) -> dict:
    """The engine's equity, requirements and zone thresholds with ``symbol``'s mark moved by each
    relative shock (the new mark rounded half-even at the price scale)."""
    from .rules.engine import check
    from .rules.engine.zones import kind_policy, zone_thresholds

    kinds = ["maintenance"]
    if policy.zones is not None:
        kinds = sorted({"maintenance"} | {r.requirement for r in policy.zones if r.requirement})
    elif policy.requirement == "initial":
        kinds = ["maintenance", "initial"]
    out: dict[str, Any] = {"shock": [], "mark": [], "equity": [], **{k: [] for k in kinds}, "zones": []}
    mark0 = market.prices[symbol]
    for x in shocks:
        mark = quantize(mark0 * (1 + Decimal(repr(float(x)))), policy.decimals.price, "half_even")
        if mark < 0:
            continue
        prices = dict(market.prices)
        prices[symbol] = mark
        mkt = market.model_copy(update={"prices": prices})
        reqs = {}
        equity = Decimal(0)
        for kind in kinds:
            try:
                rep = check(account, mkt, kind_policy(policy, kind), threshold)
            except InputError:
                break  # beyond the last bracket's cap: no requirement exists there
            reqs[kind] = rep.requirement
            equity = rep.equity
        else:
            out["shock"].append(float(x))
            out["mark"].append(float(mark))
            out["equity"].append(float(equity))
            for kind in kinds:
                out[kind].append(float(reqs[kind]))
            if policy.zones is not None:
                out["zones"].append([None if t is None else float(t) for t in zone_thresholds(policy, reqs, threshold)])
    return out


def _crossing(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """The first x where ``ys`` changes sign (linear between grid points), nearest zero shock."""
    best = None
    for i in range(len(xs) - 1):
        a, b = ys[i], ys[i + 1]
        if a == 0:
            cand = xs[i]
        elif (a > 0) != (b > 0):
            cand = xs[i] + (xs[i + 1] - xs[i]) * a / (a - b)
        else:
            continue
        if best is None or abs(cand) < abs(best):
            best = cand
    return best


def plot_account(account, market, policy, out_path, *, threshold=0, top: int = 3,
                 shocks: Sequence[float] | None = None) -> dict:
    """Draw the account's equity and requirements against price shocks of its ``top`` largest
    exposures (one panel each) and write the picture to ``out_path`` (``.png``/``.svg``).
    Returns what was drawn: ``{symbol: {"liquidation_shock", "liquidation_price"}}``."""
    import numpy as np

    _format(out_path)
    plt = _pyplot()
    policy = load_policy(policy)
    market = load_market(market, policy)
    account = load_account(account, policy)
    symbols = largest_exposures(account, market, policy, top)
    if not symbols:
        raise InputError("the account holds no position to shock", field="positions")
    grid = list(np.linspace(-0.5, 0.5, 81)) if shocks is None else list(shocks)
    fig, axes = plt.subplots(1, len(symbols), figsize=(5.2 * len(symbols), 4.2), squeeze=False)
    drawn: dict[str, dict] = {}
    names = [r.name for r in policy.zones] if policy.zones is not None else []
    for ax, sym in zip(axes[0], symbols):
        c = account_curves(account, market, policy, sym, grid, threshold)
        xs = [100 * x for x in c["shock"]]
        if c["zones"]:
            lo = min(c["equity"] + [t for row in c["zones"] for t in row if t is not None])
            hi = max(c["equity"] + [t for row in c["zones"] for t in row if t is not None])
            pad = 0.05 * (hi - lo or 1)
            for z in range(len(names)):
                upper = [hi + pad if z == 0 else row[z - 1] for row in c["zones"]]
                lower = [row[z] if row[z] is not None else lo - pad for row in c["zones"]]
                ax.fill_between(xs, lower, upper, where=[u >= lw for u, lw in zip(upper, lower)],
                                color=ZONE_COLOURS[z % len(ZONE_COLOURS)], alpha=0.6, label=f"zone: {names[z]}", step=None)
        ax.plot(xs, c["equity"], color="#1f4e9a", lw=2, label="equity")
        ax.plot(xs, c["maintenance"], color="#b23a2b", lw=1.6, label="maintenance requirement")
        if "initial" in c:
            ax.plot(xs, c["initial"], color="#d98a1c", lw=1.2, ls="--", label="initial requirement")
        gap = [e - m for e, m in zip(c["equity"], c["maintenance"])]
        liq = _crossing(c["shock"], gap)
        info: dict[str, Any] = {"liquidation_shock": liq, "liquidation_price": None}
        if liq is not None:
            price = quantize(market.prices[sym] * (1 + Decimal(repr(liq))), policy.decimals.price, "half_even")
            info["liquidation_price"] = canonical(price)
            ax.axvline(100 * liq, color="#b23a2b", ls=":", lw=1.4)
            ax.annotate(f"liquidation ≈ {canonical(price)}", xy=(100 * liq, ax.get_ylim()[1]), xytext=(4, -14),
                        textcoords="offset points", color="#b23a2b", fontsize=8)
        ax.axvline(0, color="#888888", lw=0.8)
        ax.set_title(f"{sym} (mark {canonical(market.prices[sym])})", fontsize=10)
        ax.set_xlabel(f"shock to {sym}'s mark, %")
        ax.set_ylabel(f"{policy.quote}")
        ax.grid(alpha=0.3)
        drawn[sym] = info
    axes[0][0].legend(fontsize=7, loc="best")
    fig.suptitle(f"{policy.venue}: equity and requirement against price shocks", fontsize=11)
    _save(fig, out_path)
    return drawn


def plot_losses(policy, out_path, *, account=None, market=None, max_panels: int = 6) -> dict:
    """Draw the scenario table's loss distribution with the VaR and ES cut-offs of its measure
    (k from the table; ``worst`` shows k = 1) — of ``account`` when given, else of one long unit
    of each instrument (one panel each, at most ``max_panels``). Returns the cut-offs drawn."""
    from .rules.engine import risk_measure, scenario_losses
    from .rules.models.risk import measure_of

    _format(out_path)
    plt = _pyplot()
    policy = load_policy(policy)
    if policy.scenarios is None:
        raise InputError("the policy has no scenario table", field="scenarios")
    kind, k = measure_of(policy.scenarios)
    if account is not None:
        acct = load_account(account, policy)
        sets = {"account": scenario_losses(policy.scenarios, {p.symbol: p.size for p in acct.positions})}
    else:
        sets = {f"long 1 {s}": scenario_losses(policy.scenarios, {s: Decimal(1)}) for s in policy.symbols[:max_panels]}
    fig, axes = plt.subplots(1, len(sets), figsize=(4.6 * len(sets), 3.8), squeeze=False)
    cut: dict[str, dict] = {}
    for ax, (title, losses) in zip(axes[0], sets.items()):
        values = [float(v) for v in losses]
        var = float(risk_measure("var", k, losses))
        es = float(risk_measure("expected_shortfall", k, losses))
        ax.hist(values, bins=min(60, max(8, len(values) // 4)), color="#7a9cc6", edgecolor="#44607f")
        ax.axvline(var, color="#d98a1c", lw=1.6, label=f"VaR (k={k}): {var:,.2f}")
        ax.axvline(es, color="#b23a2b", lw=1.6, ls="--", label=f"ES (k={k}): {es:,.2f}")
        ax.set_title(f"{title}: {len(values)} scenarios", fontsize=10)
        ax.set_xlabel(f"loss ({policy.quote}, gain negative)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        cut[title] = {"var": var, "es": es, "k": k}
    fig.suptitle(f"{policy.venue}: scenario losses, measure {kind}", fontsize=11)
    _save(fig, out_path)
    return cut
