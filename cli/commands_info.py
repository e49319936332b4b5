"""``policy-info``: what a venue's policy supports — instruments, collateral, scales, widths,
trust rule and the gates of its circuit (:func:`zkmargin.workflows.policy_info.describe_policy`).
One library call plus formatting; errors become exit codes in the group (0 shown, 2 input error).

May import the library. Registered by :mod:`.main`.
"""

from __future__ import annotations

import click

from . import output
from .app import cli
from .guards import guard
from .workflow_options import json_option


@cli.command("policy-info", short_help="Anyone: what a policy supports and the size of its circuit.")
@click.argument("policy", metavar="POLICY")
@click.option("--market", "-m", "market", default=None, metavar="MARKET",
              help="Count the gates at this market snapshot (default: at unit prices).")
@json_option
def policy_info(policy, market, as_json):
    """Show what POLICY (zkmargin.policy/1) supports: its instruments and their rules, collateral
    and haircuts, scales and widths (the largest size, price and amount a proof can carry), its
    trust rule, and the margin circuit a proof against it has (gates, padded gates, inner-product
    rounds, the committed slots)."""
    from zkmargin.workflows.policy_info import describe_policy

    guard(inputs=[(policy, "the policy"), (market, "the market snapshot")])
    doc = describe_policy(policy, market)
    if as_json:
        output.emit_json(doc)
        return
    click.echo(f"{doc['venue']}: {doc['mode']} margin, {doc['requirement']} requirement, buffer {doc['buffer']}, "
               f"amounts in {doc['quote']}")
    click.echo(f"policy digest {doc['policy_digest']}")
    sc, w, big = doc["scales"], doc["widths"], doc["largest"]
    rows = [["", "decimals", "bits", "largest"]]
    rows += [[k, str(sc[k]), str(w[k]), big[k]] for k in ("size", "price", "amount")]
    rows.append(["rate", str(sc["rate"]), "-", "-"])
    click.echo(output.table(rows, right={1, 2, 3}))
    click.echo(f"instruments ({len(doc['instruments'])}; {doc['layout']}):")
    rows = [["symbol", "kind", "maintenance", "initial"]]
    rows += [[i["symbol"], i["kind"], i["maintenance"] or "-", i["initial"] or "-"] for i in doc["instruments"]]
    click.echo(output.table(rows))
    click.echo("collateral: " + "; ".join(f"{c['asset']} (haircut {c['haircut']})" for c in doc["collateral"]))
    if "scenarios" in doc:
        click.echo(f"scenarios: {doc['scenarios']['count']}, measure {doc['scenarios']['measure']}")
    if "zones" in doc:
        click.echo("margin-call zones: " + ", ".join(doc["zones"]))
    t = doc["trust"]
    click.echo("trust: " + (f"custodians {', '.join(t['custodians'])}, attestations at most {t['max_age_seconds']} s old"
                            if t["custodians"] else "no custodians (values are self-declared)")
               + ("; unchallenged proofs accepted" if t["unchallenged"] else "; a fresh challenge per proof"))
    c = doc["circuit"]
    if "error" in c:
        click.echo(f"circuit: {c['error']}")
    else:
        click.echo(f"circuit at {c['at']}: {c['gates']} gates ({c['padded_gates']} padded, "
                   f"{c['inner_product_rounds']} inner-product rounds), {len(c['slots'])} committed slots: "
                   + ", ".join(c["slots"]))
