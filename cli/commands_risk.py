"""The venue's risk-model command: generate-scenarios (historical simulation, Monte-Carlo, named
stress scenarios) into a portfolio policy's fixed-point table, with the source that regenerates it
(:mod:`zkmargin.rules.scenario_sources`); ``--check`` regenerates a published table instead and
says whether it is the same. One library call each; errors become exit codes in the group.

Input files: a price history (``zkmargin.history/1``, one series per underlying, oldest first), a
Monte-Carlo model (``{"seed", "n", "vols", "correlation", "horizon_days", "vol_of_vol"}``,
numbers or decimal strings), a stress file (``zkmargin.stress/1``), implied volatilities of the
options (``{"BTC": 0.55, ...}``), all read with the project's exact JSON loader.
"""

from __future__ import annotations

import click

from zkmargin.errors import FormatError, InputError

from . import output
from .app import cli
from .commands_venue import (
    FACTOR,
    HORIZON_DAYS,
    VOLATILITY,
    _check_out,
    _json_object,
    _mapping,
    force_option,
    json_option,
)

HISTORY_FORMAT = "zkmargin.history/1"


def _history(path: str) -> dict:
    from zkmargin.rules.models import check_format_tag

    data = _json_object(path, "history")
    check_format_tag(data, HISTORY_FORMAT, path)
    prices = data.get("prices")
    if not isinstance(prices, dict) or not prices:
        raise FormatError("expected a non-empty object {underlying: [price, ...]}", source=path, field="prices")
    return prices


#: Most scenarios a Monte-Carlo model may draw (a table far beyond what a proof can carry).
MAX_MC_SCENARIOS = 100_000


def _model(path: str) -> dict:
    """A Monte-Carlo model file, with its counts bounded before numpy allocates anything."""
    from zkmargin.rules.decimals import parse_decimal

    mdl = _json_object(path)
    for key, top in (("n", MAX_MC_SCENARIOS), ("seed", (1 << 63) - 1)):
        if key in mdl:
            d = parse_decimal(mdl[key], source=path, field=key)
            if d != d.to_integral_value() or not (1 if key == "n" else 0) <= d <= top:
                raise InputError(f"must be a whole number from {1 if key == 'n' else 0} to {top:,}", source=path,
                                 field=key)
    if "horizon_days" in mdl:
        d = parse_decimal(mdl["horizon_days"], source=path, field="horizon_days")
        problem = HORIZON_DAYS.problem(d)
        if problem:
            raise InputError(problem, source=path, field="horizon_days")
    return mdl


def _measure(text: str | None) -> dict | None:
    if text is None:
        return None
    kind, _, k = text.partition(":")
    names = {"worst": "worst", "es": "expected_shortfall", "var": "var"}
    if kind not in names or (kind != "worst") != bool(k) or (k and not k.isdigit()):
        raise click.BadParameter("worst, es:K or var:K", param_hint="'--measure'")
    return {"kind": names[kind]} if kind == "worst" else {"kind": names[kind], "k": int(k)}


@cli.command("generate-scenarios", short_help="Venue: a scenario table from history, Monte-Carlo or stress.")
@click.argument("policy", metavar="POLICY")
@click.option("--market", "-m", "market", required=True, metavar="MARKET", help="Today's marks (zkmargin.market/1).")
@click.option("--output", "-o", "out", default=None, metavar="OUT", help="Write the new policy here (atomically).")
@click.option("--history", default=None, metavar="FILE.json", help="Historical simulation over this price history.")
@click.option("--window", type=click.IntRange(1, 100_000), default=None, metavar="DAYS", help="The last DAYS days (default all).")
@click.option("--horizon", type=click.IntRange(1, 10_000), default=1, show_default=True, metavar="ROWS",
              help="Return horizon in rows of the history.")
@click.option("--monte-carlo", "model", default=None, metavar="MODEL.json", help="Monte-Carlo scenarios from this seeded model.")
@click.option("--stress", default=None, metavar="FILE.json", help="Named stress scenarios (zkmargin.stress/1), appended.")
@click.option("--vols", default=None, metavar="FILE.json", help="Implied volatility per option or underlying.")
@click.option("--horizon-days", type=HORIZON_DAYS, default=1.0, show_default=True,
              help="Option expiries are shortened by this many days.")
@click.option("--factor", type=FACTOR, default="1", show_default=True, help="Multiplier of the measure (maintenance).")
@click.option("--initial-factor", type=FACTOR, default=None, help="Multiplier for the initial requirement.")
@click.option("--measure", default=None, metavar="worst|es:K|var:K", help="The table's risk measure.")
@click.option("--check", "check_only", is_flag=True,
              help="Regenerate POLICY's own table from its recorded source and these inputs; exit 1 if it differs.")
@click.option("--plot", default=None, metavar="FILE.png|svg", help="Also draw the loss distribution with the VaR/ES cut-offs.")
@force_option
@json_option
def generate_scenarios(policy, market, out, history, window, horizon, model, stress, vols, horizon_days, factor,
                       initial_factor, measure, check_only, plot, force, as_json):
    """Write a copy of the portfolio POLICY whose scenario table is generated: historical
    simulation (--history), Monte-Carlo (--monte-carlo) or only the venue's stress scenarios
    (--stress, which the other two append). The table is frozen at the policy's price scale; the
    policy records the method, seed, parameters and input digests so anyone can regenerate it
    (--check)."""
    from zkmargin.rules.models import load_policy
    from zkmargin.rules.scenario_sources import (
        check_regenerates,
        file_digest,
        load_stress,
        write_generated,
    )

    hist = _history(history) if history else None
    stress_doc = load_stress(stress) if stress else None
    if check_only:
        diff = check_regenerates(policy, market, history=hist, stress=stress_doc)
        doc = {"policy": policy, "regenerates": not diff, "differs": diff[:20]}
        if as_json:
            output.emit_json(doc)
        else:
            click.echo(f"{policy}: the table {'regenerates exactly' if not diff else 'DIFFERS at ' + ', '.join(diff[:5])}")
        if diff:
            from zkmargin.errors import RoundTripMismatchError

            raise RoundTripMismatchError(f"{len(diff)} entries of the published table differ from the regenerated one")
        return
    if out is None:
        raise click.UsageError("name the policy to write with -o (or pass --check)")
    if (history is None) == (model is None) and not (history is None and model is None and stress):
        raise click.UsageError("give one of --history or --monte-carlo (or only --stress)")
    _check_out(out, policy, force, as_json=as_json, plot=plot,
               inputs=[(market, "the market snapshot"), (history, "the price history"), (model, "the model"),
                       (stress, "the stress scenarios"), (vols, "the volatilities")])
    base = load_policy(policy, allow_missing_scenarios=True)
    keys: set[str | None] = {i.symbol for i in base.instruments}
    keys |= {i.underlying for i in base.instruments if i.underlying}
    sigma = _mapping(vols, keys, bound=VOLATILITY)
    method = "historical" if history else "monte_carlo" if model else "stress"
    inputs = {name: file_digest(path) for name, path in (("history", history), ("model", model), ("stress", stress),
                                                          ("vols", vols)) if path}
    mdl = _model(model) if model else None
    new = write_generated(base, market, out, method=method, history=hist, window=window, horizon=horizon, model=mdl,
                          stress=stress_doc, vols=sigma, horizon_days=horizon_days, factor=factor,
                          initial_factor=initial_factor, measure=_measure(measure), inputs=inputs)
    cut = None
    if plot:
        from zkmargin.plots import plot_losses

        cut = plot_losses(new, plot)
    sc = new.scenarios
    if sc is None:
        raise InputError("no table was generated")
    doc = {"policy": out, "method": method, "scenarios": len(sc.names), "instruments": len(sc.pnl),
           "measure": measure or "worst", "plot": plot, "cut_offs": cut}
    if as_json:
        output.emit_json(doc)
        return
    output.echo_beside(out)(f"wrote {out}: {doc['scenarios']} scenarios ({method}) x {doc['instruments']} instruments, "
               f"measure {doc['measure']}" + (f"; picture {plot}" if plot else ""))
