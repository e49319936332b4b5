"""The venue's policy-building commands: scenarios, dynamic-margin.

``scenarios`` writes a copy of a policy with a portfolio scenario table
(:func:`zkmargin.rules.scenarios.write_policy_with_scenarios`); ``dynamic-margin`` writes a copy whose
rule rates are scaled by realized volatility (:func:`zkmargin.rules.dynamic.write_dynamic_policy`).
Each is one library call plus reading its small parameter files and formatting; errors become
exit codes in the group (:mod:`zkmargin.cli.app`): 0 written, 2 usage or input error (nothing
written).

Parameter files are read with the project's exact JSON loader
(:func:`zkmargin.rules.decimals.load_json_file`): numbers are JSON numbers or decimal strings without an
exponent; NaN, infinities and duplicate keys are refused. Shocks and volatilities are model
parameters and become floats after that check; multipliers, factors and rates stay decimals.

The price history ``dynamic-margin`` reads (``zkmargin.history/1``)::

    {"format": "zkmargin.history/1",
     "prices": {"BTCUSDT": ["67250.4", "66980.1", ...], ...},
     "notes": "optional free text"}

one series (oldest first, at least 3 prices, each > 0) per instrument of the policy to rescale.

May import the library (the rules: models, scenarios, dynamic margin). Registered by
:mod:`.main`.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import click

from zkmargin.errors import FormatError, InputError, UnknownSymbolError
from zkmargin.rules.decimals import canonical, load_json_file, parse_decimal

from . import output
from .app import cli
from .guards import Output, guard

HISTORY_FORMAT = "zkmargin.history/1"
_HISTORY_KEYS = ("format", "prices", "notes")

json_option = click.option("--json", "as_json", is_flag=True,
                           help="Write exactly one JSON document to stdout.")
force_option = click.option("--force", is_flag=True,
                            help="Allow OUT to be the input POLICY file (replaced atomically).")


# --- parameters ----------------------------------------------------------------------------------


class Number(click.ParamType):
    """A plain decimal number on the command line (no exponent, NaN or infinity), checked against
    a lower and an upper bound (the venue tools' sanity bounds, issue 11); returned as a
    ``Decimal`` (``as_float``: as a float, for model parameters)."""

    name = "X"

    def __init__(self, *, minimum: Decimal | int | None = None, strict: bool = False,
                 as_float: bool = False, maximum: Decimal | int | None = None,
                 max_strict: bool = False, meaning: str = ""):
        self.minimum = None if minimum is None else Decimal(minimum)
        self.maximum = None if maximum is None else Decimal(maximum)
        self.strict, self.max_strict, self.as_float, self.meaning = strict, max_strict, as_float, meaning

    def problem(self, d: Decimal) -> str | None:
        """Why ``d`` is out of bounds, or None."""
        lo = self.minimum is not None and (d <= self.minimum if self.strict else d < self.minimum)
        hi = self.maximum is not None and (d >= self.maximum if self.max_strict else d > self.maximum)
        if not (lo or hi):
            return None
        parts = []
        if self.minimum is not None:
            parts.append(f"{'>' if self.strict else '>='} {self.minimum}")
        if self.maximum is not None:
            parts.append(f"{'<' if self.max_strict else '<='} {self.maximum}")
        why = f" ({self.meaning})" if self.meaning and (hi or self.max_strict) else ""
        return f"must be {' and '.join(parts)}{why}, got {canonical(d)}"

    def convert(self, value, param, ctx):
        if isinstance(value, (float, Decimal)) and not isinstance(value, bool):
            return value
        try:
            d = parse_decimal(value)
        except FormatError as exc:
            self.fail(exc.message, param, ctx)
        problem = self.problem(d)
        if problem is not None:
            self.fail(problem, param, ctx)
        return float(d) if self.as_float else d


NONNEG_FLOAT = Number(minimum=Decimal(0), as_float=True)
POSITIVE_FLOAT = Number(minimum=Decimal(0), strict=True, as_float=True)
ANY_FLOAT = Number(as_float=True)
POSITIVE_DECIMAL = Number(minimum=Decimal(0), strict=True)
# The venue tools' sanity bounds (issue 11): beyond them a table or a rate means nothing.
VOLATILITY = Number(minimum=0, strict=True, maximum=5, as_float=True,
                    meaning="an annualized volatility; 5 is 500%")
SPOT_SHOCK = Number(minimum=0, maximum=1, max_strict=True, as_float=True,
                    meaning="a fraction of the price; 1 would take it to zero")
VOL_SHOCK = Number(minimum=0, maximum=2, as_float=True, meaning="volatility points; 2 is 200 points")
RATE = Number(minimum=-1, maximum=1, as_float=True, meaning="an annual rate; 1 is 100%")
HORIZON_DAYS = Number(minimum=0, maximum=366, as_float=True, meaning="at most a year")
EXTREME_MOVE = Number(minimum=0, strict=True, maximum=10, as_float=True, meaning="price scan ranges")
COVER = Number(minimum=0, maximum=1, as_float=True, meaning="a fraction")
FACTOR = Number(minimum=0, strict=True, maximum=100, meaning="a multiplier of the requirement")
MULTIPLIER = Number(minimum=0, strict=True, maximum=100, meaning="a multiplier of the rates")
PERIODS = Number(minimum=0, strict=True, maximum=525_600, as_float=True,
                 meaning="prices per year; 525600 is one a minute")
DECAY = Number(minimum=0, strict=True, maximum=1, max_strict=True, as_float=True,
               meaning="an EWMA decay factor, between 0 and 1")
MAX_LEVELS = 2000  # 4,000 scenarios: far past the generator cap for any universe


def _check_out(out: str, policy: str, force: bool, *, inputs=(), as_json: bool = False,
               plot: str | None = None) -> None:
    """Fail before any work when OUT (or the picture) cannot be written, is one of the command's
    inputs, or is the input policy without --force."""
    guard([Output(out, "the new policy"), Output(plot, "the picture", "--plot")],
          [(policy, "the input policy"), *inputs], as_json=as_json,
          replace_input="the input policy", force=force)


def _json_object(path: str, kind: str = "parameters") -> dict:
    data = load_json_file(path, kind)
    if not isinstance(data, dict):
        raise FormatError("expected a JSON object", source=path)
    return data


def _finite_float(value, *, source: str, field: str, bound: Number) -> float:
    d = parse_decimal(value, source=source, field=field)
    problem = bound.problem(d)
    if problem is not None:
        raise InputError(problem, source=source, field=field)
    x = float(d)
    if not math.isfinite(x):
        raise InputError("not a finite number", source=source, field=field)
    return x


def _mapping(path: str | None, known: set[str | None], *, bound: Number) -> dict | None:
    """A ``{key: number}`` file as ``{key: float}``; every key must be one of ``known``, every
    value within ``bound``."""
    if path is None:
        return None
    data = _json_object(path)
    out = {}
    for key, value in data.items():
        if key not in known:
            raise UnknownSymbolError(f"{key!r} is neither an instrument nor an underlying of the "
                                     "policy", source=path, field=key)
        out[key] = _finite_float(value, source=path, field=key, bound=bound)
    return out


def _exclusive(pairs) -> None:
    for flag, flag_value, file_flag, file_value in pairs:
        if flag_value is not None and file_value is not None:
            raise click.UsageError(f"give {flag} or {file_flag}, not both")


def _either(flag_value, file_value, default):
    if file_value is not None:
        return file_value
    return flag_value if flag_value is not None else default


def _digest(policy) -> str:
    from zkmargin.rules.digests import policy_digest

    return policy_digest(policy)


# --- scenarios -----------------------------------------------------------------------------------


def _worst(pnl: list[Decimal], names: list[str]) -> dict:
    """Worst per-unit loss (positive = a loss) of a long and of a short unit, with the scenario."""
    i_long = min(range(len(pnl)), key=lambda i: pnl[i])
    i_short = max(range(len(pnl)), key=lambda i: pnl[i])
    return {"worst_loss_long": canonical(max(-pnl[i_long], Decimal(0))),
            "worst_scenario_long": names[i_long],
            "worst_loss_short": canonical(max(pnl[i_short], Decimal(0))),
            "worst_scenario_short": names[i_short]}


@cli.command(short_help="Venue: build a policy's portfolio scenario table.")
@click.argument("policy", metavar="POLICY")
@click.option("--market", "-m", "market", required=True, metavar="MARKET",
              help="The market snapshot the table is priced at (zkmargin.market/1 JSON).")
@click.option("--output", "-o", "out", required=True, metavar="OUT",
              help="Write the new policy here (atomically).")
@click.option("--grid", type=click.Choice(["span", "deribit"]), default="span", show_default=True,
              help="span: CME SPAN's 16 scenarios; deribit: LEVELS spot moves x volatility "
                   "up/down.")
@click.option("--levels", type=click.IntRange(2, MAX_LEVELS), default=None, metavar="N",
              help="Spot levels of the deribit grid (default 9; 2N scenarios).")
@click.option("--factor", type=FACTOR, default=Decimal(1), show_default=True,
              help="Multiplier of the worst scenario loss (maintenance).")
@click.option("--initial-factor", type=FACTOR, default=None,
              help="Multiplier for the initial requirement (default: --factor).")
@click.option("--spot-shock", type=SPOT_SHOCK, default=None,
              help="Price scan range, a fraction of the underlying's price, for every "
                   "underlying. [default: 0.15]")
@click.option("--spot-shocks", metavar="FILE.json", default=None,
              help="Price scan range per underlying: {\"BTCUSDT\": 0.15, ...}.")
@click.option("--vol-shock", type=VOL_SHOCK, default=None,
              help="Volatility scan range in volatility points (0.25 = 25 points). "
                   "[default: 0.25]")
@click.option("--vol-shocks", metavar="FILE.json", default=None,
              help="Volatility scan range per underlying: {\"BTCUSDT\": 0.25, ...}.")
@click.option("--vol", type=VOLATILITY, default=None,
              help="Implied volatility of every option (needed when the policy lists options).")
@click.option("--vols", metavar="FILE.json", default=None,
              help="Implied volatility per option symbol or underlying: {\"BTCUSDT\": 0.55, ...}.")
@click.option("--horizon-days", type=HORIZON_DAYS, default=1.0, show_default=True,
              help="Look-ahead: option expiries are shortened by this many days.")
@click.option("--rate", type=RATE, default=0.0, show_default=True,
              help="Risk-free rate of the Black-Scholes repricing.")
@click.option("--extreme-move", type=EXTREME_MOVE, default=None,
              help="span: size of the two extreme moves in price scan ranges. [default: 3]")
@click.option("--extreme-cover", type=COVER, default=None,
              help="span: fraction of the extreme moves' P&L that counts (0..1). [default: 0.35]")
@click.option("--vol-scenarios", type=click.Choice(["2", "3"]), default=None,
              help="deribit: volatility up/down (2) or up/unchanged/down (3) per level. "
                   "[default: 2]")
@click.option("--inverse", is_flag=True,
              help="Futures and perpetuals are inverse contracts sized in the base currency "
                   "(Deribit): P&L move/(1+move) per unit, in the base currency.")
@click.option("--plot", default=None, metavar="FILE.png|svg",
              help="Also draw the loss distribution (one long unit per instrument, or --plot-account's) "
                   "with the VaR/ES cut-offs of the table's measure (needs zkmargin[plot]).")
@click.option("--plot-account", default=None, metavar="ACCOUNT", help="The account whose losses --plot draws.")
@force_option
@json_option
def scenarios(policy, market, out, grid, levels, factor, initial_factor, spot_shock, spot_shocks,
              vol_shock, vol_shocks, vol, vols, horizon_days, rate, extreme_move, extreme_cover,
              vol_scenarios, inverse, plot, plot_account, force, as_json):
    """Write a copy of POLICY (a portfolio-mode policy; an existing table is replaced) with the
    per-unit P&L table of the chosen scenario grid, priced at MARKET and frozen as decimals at the
    policy's price scale. Shocks are keyed by underlying (a perpetual or future is its own
    underlying); options are repriced with Black-Scholes."""
    from zkmargin.circuits.provable import write_policy_with_scenarios
    from zkmargin.rules.models import load_policy

    if levels is not None and grid != "deribit":
        raise click.BadParameter("only the deribit grid has levels", param_hint="'--levels'")
    if vol_scenarios is not None and grid != "deribit":
        raise click.BadParameter("only the deribit grid has volatility scenarios per level",
                                 param_hint="'--vol-scenarios'")
    for flag, value in (("--extreme-move", extreme_move), ("--extreme-cover", extreme_cover)):
        if value is not None and grid != "span":
            raise click.BadParameter("only the span grid has extreme moves", param_hint=f"'{flag}'")
    if extreme_cover is not None and extreme_cover > 1:
        raise click.BadParameter(f"must be <= 1, got {extreme_cover:g}",
                                 param_hint="'--extreme-cover'")
    _exclusive([("--spot-shock", spot_shock, "--spot-shocks", spot_shocks),
                ("--vol-shock", vol_shock, "--vol-shocks", vol_shocks),
                ("--vol", vol, "--vols", vols)])
    _check_out(out, policy, force, as_json=as_json, plot=plot,
               inputs=[(market, "the market snapshot"), (spot_shocks, "the spot shocks"),
                       (vol_shocks, "the volatility shocks"), (vols, "the volatilities"),
                       (plot_account, "the plotted account")])
    base = load_policy(policy, allow_missing_scenarios=True)
    if plot_account is not None:  # read before the policy is written: a bad account writes nothing
        from zkmargin.rules.models import load_account

        load_account(plot_account, base)
    options = [i.symbol for i in base.instruments if i.kind == "option"]
    if options and vol is None and vols is None:
        raise click.UsageError(f"the policy lists {len(options)} option(s) ({options[0]}, ...); "
                               "give their implied volatility with --vol or --vols")
    underlyings = {i.symbol if i.kind != "option" else i.underlying for i in base.instruments}
    keys = underlyings | {i.symbol for i in base.instruments}
    spot = _either(spot_shock, _mapping(spot_shocks, keys, bound=SPOT_SHOCK), 0.15)
    vshock = _either(vol_shock, _mapping(vol_shocks, keys, bound=VOL_SHOCK), 0.25)
    sigma = _either(vol, _mapping(vols, keys, bound=VOLATILITY), None)
    if grid == "span":  # the extreme moves must leave every price above zero
        move = 3.0 if extreme_move is None else extreme_move
        worst = max(spot.values()) if isinstance(spot, dict) and spot else spot
        if isinstance(worst, float) and worst * move >= 1:
            raise click.BadParameter(f"the extreme moves ({move:g} x the price scan range {worst:g}) would take a "
                                     "price to zero or below; lower --spot-shock or --extreme-move",
                                     param_hint="'--extreme-move'")
    new, gates = write_policy_with_scenarios(
        base, market, out, grid=grid, levels=levels if levels is not None else 9, factor=factor,
        initial_factor=initial_factor, spot_shocks=spot, vol_shocks=vshock, vols=sigma,
        rate=rate, horizon_days=horizon_days,
        extreme_move=3.0 if extreme_move is None else extreme_move,
        extreme_cover=0.35 if extreme_cover is None else extreme_cover,
        vol_scenarios=2 if vol_scenarios is None else int(vol_scenarios), inverse=inverse)
    if plot is not None:
        from zkmargin.plots import plot_losses

        plot_losses(new, plot, account=plot_account)
    table = new.scenarios
    assert table is not None  # write_policy_with_scenarios wrote one
    worst = [{"symbol": sym, **_worst(row, table.names)} for sym, row in table.pnl.items()]
    doc = {"policy": out, "policy_digest": _digest(new), "grid": grid,
           "scenarios": len(table.names), "gates": gates, "instruments": worst}
    if as_json:
        output.emit_json(doc)
        return
    echo = output.echo_beside(out)  # stderr when the policy itself went to stdout ('-o -')
    echo(f"wrote {out}: {doc['scenarios']} scenarios ({grid}) x {len(worst)} instruments, {gates} gates, "
               f"factor {canonical(table.factor)}"
               + (f", initial factor {canonical(table.initial_factor)}"
                  if table.initial_factor is not None else ""))
    rows = [["instrument", "worst loss, long 1", "worst loss, short 1"]]
    rows += [[w["symbol"], w["worst_loss_long"], w["worst_loss_short"]] for w in worst]
    echo(output.table(rows, right={1, 2}))
    echo(f"policy digest {doc['policy_digest']}")


# --- dynamic-margin ------------------------------------------------------------------------------


def load_history(path: str, policy) -> dict[str, list[Decimal]]:
    """Read a ``zkmargin.history/1`` file: ``{symbol: [price, ...]}`` for instruments of
    ``policy``, each series at least 3 prices > 0."""
    from zkmargin.rules.models import check_format_tag

    data = _json_object(path, "history")
    check_format_tag(data, HISTORY_FORMAT, path)
    extra = [k for k in data if k not in _HISTORY_KEYS]
    if extra:
        raise FormatError(f"unknown key {extra[0]!r} (a history has {', '.join(_HISTORY_KEYS)})",
                          source=path, field=extra[0])
    prices = data.get("prices")
    if not isinstance(prices, dict) or not prices:
        raise FormatError("expected a non-empty object {symbol: [price, ...]}", source=path,
                          field="prices")
    out = {}
    for sym, series in prices.items():
        field = f"prices.{sym}"
        if not policy.has_instrument(sym):
            raise UnknownSymbolError(f"the policy lists no instrument {sym!r}", source=path,
                                     field=field)
        if not isinstance(series, list) or len(series) < 3:
            raise FormatError("expected a list of at least 3 prices (oldest first)", source=path,
                              field=field)
        values = [parse_decimal(v, source=path, field=f"{field}[{i}]")
                  for i, v in enumerate(series)]
        bad = next((i for i, v in enumerate(values) if v <= 0), None)
        if bad is not None:
            raise InputError("a price must be > 0", source=path, field=f"{field}[{bad}]")
        out[sym] = values
    return out


@cli.command("dynamic-margin", short_help="Venue: scale a policy's rates by realized volatility.")
@click.argument("policy", metavar="POLICY")
@click.option("--history", "history", required=True, metavar="FILE.json",
              help=f"Price histories per instrument ({HISTORY_FORMAT} JSON).")
@click.option("--reference-vol", type=Number(minimum=0, strict=True, maximum=5, meaning="an annualized volatility; 5 is 500%"),
              required=True,
              help="The annualized volatility at which the rates stay as they are (0.5 = 50%).")
@click.option("--output", "-o", "out", required=True, metavar="OUT",
              help="Write the new policy here (atomically).")
@click.option("--min-mult", type=MULTIPLIER, default=Decimal(1), show_default=True,
              help="Lower bound of the multiplier.")
@click.option("--max-mult", type=MULTIPLIER, default=Decimal(3), show_default=True,
              help="Upper bound of the multiplier.")
@click.option("--periods-per-year", type=PERIODS, default=365.0, show_default=True,
              help="Prices per year in the histories (365 daily, 8760 hourly).")
@click.option("--venue", default=None, metavar="NAME", help="Venue name of the new policy.")
@click.option("--method", type=click.Choice(["realized", "ewma"]), default="realized", show_default=True,
              help="Volatility estimator: the sample standard deviation, or RiskMetrics' EWMA.")
@click.option("--lambda", "lam", type=DECAY, default=0.94, show_default=True,
              help="EWMA decay (RiskMetrics: 0.94 for daily prices); with --method ewma.")
@force_option
@json_option
def dynamic_margin(policy, history, reference_vol, out, min_mult, max_mult, periods_per_year,
                   venue, method, lam, force, as_json):
    """Write a copy of the rule-based POLICY whose maintenance and initial rates of every
    instrument in the history are multiplied by clip(realized vol / reference vol, min, max),
    rounded up (bracket amounts recomputed). Instruments without a history keep their rates."""
    from zkmargin.rules.dynamic import ewma_vol, multipliers, realized_vol, write_dynamic_policy
    from zkmargin.rules.models import load_policy

    if min_mult > max_mult:
        raise click.BadParameter(f"{canonical(max_mult)} is below --min-mult "
                                 f"{canonical(min_mult)}", param_hint="'--max-mult'")
    _check_out(out, policy, force, as_json=as_json, inputs=[(history, "the price history")])
    base = load_policy(policy)
    hist = load_history(history, base)
    params = dict(reference_vol=reference_vol, min_mult=min_mult, max_mult=max_mult,
                  periods_per_year=periods_per_year, method=method, lam=lam)
    mults = multipliers(base, hist, **params)
    new = write_dynamic_policy(base, hist, out, venue=venue, **params)
    vol_of = (lambda s: realized_vol(s, periods_per_year)) if method == "realized" else \
        (lambda s: ewma_vol(s, lam, periods_per_year))
    rows: list[dict[str, Any]] = [
        {"symbol": sym, "realized_vol": round(vol_of(series), 6), "method": method,
         "multiplier": canonical(mults[sym])} for sym, series in hist.items()]
    doc = {"policy": out, "policy_digest": _digest(new), "previous_policy_digest": _digest(base),
           "venue": new.venue, "reference_vol": canonical(reference_vol), "instruments": rows}
    if as_json:
        output.emit_json(doc)
        return
    echo = output.echo_beside(out)  # stderr when the policy itself went to stdout ('-o -')
    echo(f"wrote {out}: rates of {len(rows)} instrument(s) scaled (reference volatility "
               f"{doc['reference_vol']}, multiplier in [{canonical(min_mult)}, "
               f"{canonical(max_mult)}])")
    table = [["instrument", "realized vol", "multiplier"]]
    table += [[r["symbol"], f"{r['realized_vol']:.4f}", r["multiplier"]] for r in rows]
    echo(output.table(table, right={1, 2}))
    echo(f"policy digest {doc['policy_digest']} (was {doc['previous_policy_digest']})")

