"""Importers from exchange data: import-venue, import-market, import-account, reconcile.

Each command is one call to :mod:`zkmargin.importers.workflows`; the exchange data is a recording
of ccxt results (``--data FOLDER``, single files overridable) or, with ``--live``, fetched now
through ccxt (the ``ccxt`` extra; credentials only from the environment variables
``ZKMARGIN_BINANCE_API_KEY``/``_SECRET`` or ``ZKMARGIN_BYBIT_API_KEY``/``_SECRET``, never from
the command line). Exit codes: 0 written / agrees, 1 the round trip differs, 2 usage or input
error (nothing written).

May import the library (:mod:`zkmargin.importers`). Registered by :mod:`.main`.
"""

from __future__ import annotations

import click

from . import output
from .app import cli
from .guards import Output, guard
from .params import LazyChoice


def _profiles():
    from zkmargin.importers.exchanges import PROFILES

    return PROFILES


json_option = click.option("--json", "as_json", is_flag=True,
                           help="Write exactly one JSON document to stdout.")
exchange_argument = click.argument("exchange", metavar="EXCHANGE",
                                   type=LazyChoice(_profiles))


def _workflows():
    from zkmargin.importers import workflows

    return workflows


def _source_options(*kinds):
    """--data / --live and one override option per kind of recording file."""
    helps = {
        "markets": ("--markets", "ccxt load_markets() result (default: FOLDER/markets.json)."),
        "tiers": ("--tiers", "ccxt fetch_leverage_tiers() result (default: "
                             "FOLDER/leverage_tiers.json)."),
        "marks": ("--marks", "ccxt fetch_mark_prices() (Binance) or fetch_tickers() (Bybit) result "
                             "(default: FOLDER/mark_prices.json or FOLDER/tickers.json)."),
        "collateral": ("--collateral-info", "Bybit's raw /v5/account/collateral-info answer "
                                            "(default: FOLDER/collateral_info.json, if present)."),
        "positions": ("--positions", "ccxt fetch_positions() result (default: "
                                     "FOLDER/positions.json)."),
        "balance": ("--balance", "ccxt fetch_balance() result (default: FOLDER/balance.json)."),
    }

    def deco(f):
        for kind in reversed(kinds):
            flag, text = helps[kind]
            f = click.option(flag, f"file_{kind}", metavar="FILE", default=None, help=text)(f)
        f = click.option("--live", is_flag=True,
                         help="Fetch from the exchange now through ccxt (pip install "
                              "'zkmargin[ccxt]'); credentials from the environment.")(f)
        f = click.option("--data", "data", metavar="FOLDER", default=None,
                         help="A recording: ccxt results saved as JSON (see docs/formats.md).")(f)
        return f
    return deco


def _spec(exchange, data, live, kw) -> dict:
    files = {k[len("file_"):]: v for k, v in kw.items() if k.startswith("file_")}
    return {"exchange": exchange, "data": data, "live": live, **files}


def _recordings(kw) -> list[tuple[object, str]]:
    """The recording files named on the command line (inputs no output may replace)."""
    return [(v, f"the {k[len('file_'):]} recording") for k, v in kw.items() if k.startswith("file_")]


def _symbols(text):
    if text is None:
        return None
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise click.BadParameter("give at least one symbol", param_hint="'--symbols'")
    return names


symbols_option = click.option("--symbols", metavar="S1,S2,...", default=None,
                              help="Instruments to import (exchange ids such as BTCUSDT, or "
                                   "ccxt symbols such as BTC/USDT:USDT), comma-separated.")
as_of_option = click.option("--as-of", "as_of", metavar="TIME", default=None,
                            help="When the prices were taken (ISO 8601 with a time zone); needed "
                                 "when the tickers carry no time (Bybit).")


@cli.command("import-venue", short_help="Venue: policy and market snapshot from exchange data.")
@exchange_argument
@_source_options("markets", "tiers", "marks", "collateral")
@symbols_option
@click.option("--mode", type=click.Choice(["cross", "isolated"]), default="cross",
              show_default=True, help="Margin mode of the policy.")
@click.option("--requirement", type=click.Choice(["maintenance", "initial"]),
              default="maintenance", show_default=True, help="Requirement the proofs meet.")
@click.option("--buffer", default="0", show_default=True, metavar="X",
              help="Buffer over the requirement (a rate, e.g. 0.05).")
@click.option("--collateral", metavar="A1,A2", default=None,
              help="Collateral assets besides the quote (need a published haircut).")
@click.option("--venue", default=None, metavar="NAME", help="Venue name (default EXCHANGE-MODE).")
@click.option("--price-decimals", type=click.IntRange(0, 18), default=None,
              help="Price scale (default: 8, or more if the data needs it).")
@click.option("--amount-decimals", type=click.IntRange(0, 18), default=None,
              help="Amount scale (default: 8, or more if the data needs it).")
@as_of_option
@click.option("--policy-out", required=True, metavar="POLICY", help="Write the policy here.")
@click.option("--market-out", required=True, metavar="MARKET",
              help="Write the market snapshot here.")
@json_option
def import_venue(exchange, data, live, symbols, mode, requirement, buffer, collateral, venue,
                 price_decimals, amount_decimals, as_of, policy_out, market_out, as_json, **files):
    """Write the venue's POLICY (brackets from the exchange's leverage tiers, haircuts, scales
    and widths chosen so it is provable) and MARKET snapshot (marks, index prices of
    collateral, the time they were taken) for EXCHANGE (binanceusdm or bybit)."""
    guard([Output(policy_out, "the policy", "--policy-out"), Output(market_out, "the market snapshot", "--market-out")],
          _recordings(files), as_json=as_json)
    result = _workflows().import_venue(
        _spec(exchange, data, live, files), policy_out=policy_out, market_out=market_out,
        symbols=_symbols(symbols), mode=mode, requirement=requirement, buffer=buffer,
        collateral=_symbols(collateral) or (), venue=venue, price_decimals=price_decimals,
        amount_decimals=amount_decimals, as_of=as_of)
    s = result.summary()
    if as_json:
        output.emit_json({"policy": policy_out, "market": market_out, **s})
        return
    d = s["decimals"]
    click.echo(f"wrote {policy_out}: {s['venue']}, {s['mode']} margin, {s['requirement']}, "
               f"{len(s['instruments'])} instruments ({', '.join(s['instruments'])}), collateral "
               f"{', '.join(s['collateral'])}; decimals size {d['size']} price {d['price']} rate "
               f"{d['rate']} amount {d['amount']}")
    click.echo(f"wrote {market_out}: {len(result.market.prices)} prices as of {s['as_of']}")
    for note in s["notes"]:
        click.echo(f"note: {note}")


@cli.command("import-market", short_help="Venue: a fresh market snapshot for a policy.")
@exchange_argument
@_source_options("markets", "marks")
@click.option("--policy", "-p", "policy", required=True, metavar="POLICY",
              help="The venue's policy (its instruments, collateral and price scale).")
@as_of_option
@click.option("--output", "-o", "out", required=True, metavar="MARKET",
              help="Write the market snapshot here.")
@json_option
def import_market(exchange, data, live, policy, as_of, out, as_json, **files):
    """Write a MARKET snapshot for POLICY's instruments and collateral from EXCHANGE's marks."""
    guard([Output(out, "the market snapshot")], [(policy, "the policy"), *_recordings(files)], as_json=as_json)
    market = _workflows().import_market(_spec(exchange, data, live, files), policy, out=out, as_of=as_of)
    if as_json:
        output.emit_json({"market": out, "as_of": market.as_of, "prices": len(market.prices)})
    else:
        output.echo_beside(out)(f"wrote {out}: {len(market.prices)} prices as of {market.as_of}")


@cli.command("import-account", short_help="Trader: the private account file from exchange data.")
@exchange_argument
@_source_options("markets", "positions", "balance")
@click.option("--policy", "-p", "policy", default=None, metavar="POLICY",
              help="Validate against the venue's policy before writing; balances in assets it "
                   "does not accept are left out (named).")
@symbols_option
@click.option("--output", "-o", "out", required=True, metavar="ACCOUNT",
              help="Write the account here (atomically, mode 0600).")
@click.option("--show", is_flag=True, help="Also print the account's values (private).")
@json_option
def import_account(exchange, data, live, policy, symbols, out, show, as_json, **files):
    """Write the trader's ACCOUNT (balances, positions, isolated margins) from EXCHANGE's
    balances and positions. Values are printed only with --show."""
    from zkmargin.rules.models import dump_document

    guard([Output(out, "the account", private=True)], [(policy, "the policy"), *_recordings(files)])
    result = _workflows().import_account(_spec(exchange, data, live, files), out=out, policy=policy,
                                symbols=_symbols(symbols))
    s = result.summary()
    if as_json:
        doc = {"account": out, "file_mode": "0600", **s}
        if show:
            doc["values"] = dump_document(result.account)
        output.emit_json(doc)
        return
    left = (f"; left out {', '.join(s['ignored_assets'])} (not collateral of the policy)"
            if s["ignored_assets"] else "")
    click.echo(f"wrote {out} (mode 0600, private): {s['mode']} margin, {s['positions']} "
               f"positions, balances in {', '.join(s['balances']) or 'nothing'}{left}")
    if show:
        click.echo(output.dumps(dump_document(result.account)))


@cli.command("reconcile", short_help="Trader: imported account vs the exchange's own margin.")
@exchange_argument
@click.argument("account", metavar="ACCOUNT")
@click.option("--policy", "-p", "policy", required=True, metavar="POLICY",
              help="The policy the account was imported for.")
@_source_options("markets", "positions")
@click.option("--tolerance", default=None, metavar="X",
              help="Allowed difference (default: one unit in the last decimal the exchange "
                   "wrote).")
@json_option
def reconcile(exchange, account, policy, data, live, tolerance, as_json, **files):
    """Compare, per position, the maintenance margin zkmargin computes for ACCOUNT under POLICY
    with EXCHANGE's own figure (Binance maintMargin, Bybit positionMMByMp). Exit 0 when every
    position agrees within the exchange's rounding, 1 when one differs (named, with the
    difference)."""
    guard(inputs=[(account, "the account"), (policy, "the policy"), *_recordings(files)])
    result = _workflows().check_round_trip(_spec(exchange, data, live, files), account, policy,
                                  tolerance=tolerance)
    if as_json:
        output.emit_json(result.to_json_dict())
    else:
        rows = [["symbol", "zkmargin", "exchange", "field", "difference", ""]]
        for r in result.rows:
            d = r.to_json_dict()
            rows.append([d["symbol"], d["zkmargin"] or "-", d["exchange"] or "-",
                         d["exchange_field"], d["difference"] or "-",
                         "ok" if r.agrees else (r.problem or "DIFFERS")])
        click.echo(f"maintenance margin per position, zkmargin vs {exchange}:")
        click.echo(output.table(rows, right={1, 2, 4}))
        verdict = "agree" if result.agrees else "DIFFER"
        click.echo(f"result: {len(result.rows)} positions; they {verdict}")
    result.raise_if_differs()
