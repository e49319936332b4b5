"""The core commands: demo, check, prove, verify, verify-batch, challenge, inspect, bench.

Each command is one library call plus formatting; errors are mapped to exit codes by the group
(:mod:`zkmargin.cli.app`). ``prove``, ``verify`` and ``verify-batch`` also take the venue and
custodian options of :mod:`zkmargin.cli.workflow_options` (``--log``, ``--subject``,
``--max-age``, ``--attestation``, ``--openings``) and call its ``run_*`` functions, which fall back
to the plain library calls when those options are absent. Verification always applies the
policy's trust rule; no option loosens it.

May import the library. Registered by :mod:`.main`.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import click

import zkmargin
from zkmargin.errors import Rejected
from zkmargin.files import atomic  # atomic.write_atomic, looked up per call (tests make it fail)

from . import output
from .app import backend_from, cli
from .errors import say
from .guards import Output, each, guard
from .params import CHALLENGE_MAX_BYTES, CHALLENGE_MIN_BYTES, HEX_CHALLENGE, HexChallenge  # noqa: F401,E402
from .workflow_options import (  # the venue/custodian options verify, verify-batch, prove take
    log_option,
    openings_options,
    run_prove,
    run_verify,
    run_verify_batch,
    trust_options,
)

market_option = click.option("--market", "-m", "market", required=True, metavar="MARKET",
                             help="The market snapshot (zkmargin.market/1 JSON).")
policy_option = click.option("--policy", "-p", "policy", required=True, metavar="POLICY",
                             help="The venue's policy (zkmargin.policy/1 JSON).")
threshold_option = click.option("--threshold", "-t", default="0", show_default=True, metavar="X",
                                help="Extra amount (quote currency) the equity must exceed the "
                                     "buffered requirement by.")
json_option = click.option("--json", "as_json", is_flag=True,
                           help="Write exactly one JSON document to stdout.")


def _venue_inputs(market, policy) -> list[tuple[object, str]]:
    return [(market, "the market snapshot"), (policy, "the policy")]


# --- demo ----------------------------------------------------------------------------------------


@cli.command(short_help='Run the whole story on the shipped example data.')
@click.pass_context
def demo(ctx):
    """Run the whole story on the example data shipped with zkmargin: the trader's margin report,
    a proof, the venue's verification, a tampered proof and an under-margined account rejected."""
    from zkmargin.workflows.demo import run_demo

    result = run_demo(echo=click.echo, backend=backend_from(ctx))
    if not result.ok:
        failed = [s.name for s in result.steps if not s.ok]
        say("demo: unexpected outcome in: " + ", ".join(failed))
        ctx.exit(1)


# --- trader --------------------------------------------------------------------------------------


@cli.command(short_help='Trader: clear-text margin report of an account.')
@click.argument("account", metavar="ACCOUNT")
@market_option
@policy_option
@threshold_option
@click.option("--plot", default=None, metavar="FILE.png|svg",
              help="Also draw equity and requirement against price shocks of the largest positions, "
                   "with the liquidation price and margin-call zones (needs zkmargin[plot]).")
@json_option
def check(account, market, policy, threshold, plot, as_json):
    """Clear-text margin report of ACCOUNT (zkmargin.account/1 JSON) on the trader's machine.

    Exit 0 when the account meets the requirement (with the policy's buffer and the threshold),
    1 when it does not."""
    guard([Output(plot, "the picture", "--plot")], [(account, "the account"), *_venue_inputs(market, policy)],
          as_json=as_json)
    report = zkmargin.check(account, market, policy, threshold)
    if plot is not None:
        from zkmargin.plots import plot_account

        plot_account(account, market, policy, plot, threshold=threshold)
        say(f"picture written to {plot}")
    if as_json:
        output.emit_json(report.to_json_dict())
    else:
        click.echo(output.format_report(report))
    report.raise_if_below()


@cli.command(short_help='Trader: prove an account meets the requirement.')
@click.argument("account", metavar="ACCOUNT")
@market_option
@policy_option
@threshold_option
@click.option("--challenge", "-c", type=HEX_CHALLENGE, default=None,
              help="The venue's challenge (hex, from 'zkmargin challenge'); bound into the proof.")
@click.option("--output", "-o", "out", default=None, metavar="PROOF",
              help="Write the proof bundle here (atomically). Default: stdout.")
@openings_options
@click.option("--zone", "zone", default=None, metavar="REQUEST",
              help="Prove the account's margin-call zone on the policy's ladder instead: 'exact', "
                   "'at-least:NAME' or 'exact:NAME'. The proof reveals that zone and nothing else.")
@click.pass_context
def prove(ctx, account, market, policy, threshold, challenge, out, attestations, openings, zone):
    """Prove that ACCOUNT meets the policy's requirement at the market snapshot, without
    revealing the account. Refuses (exit 1, nothing written) when it does not meet it."""
    # before the (slow) proof: the output is writable and none of the inputs (issue 11)
    guard([Output(out, "the proof bundle")],
          [(account, "the account"), *_venue_inputs(market, policy),
           *each(attestations, "an attestation"), *each(openings, "openings")])
    from zkmargin.api import ProveTimings

    timings = ProveTimings()
    with output.progress("proving"):
        bundle = run_prove(account, market, policy, threshold, challenge,
                           attestations=attestations, openings=openings,
                           backend=backend_from(ctx), timings=timings, zone=zone)
    data = bundle.to_json().encode()
    if out is None or out == "-":
        output.require_stdout()
        click.echo(data.decode("ascii"), nl=False)  # the bundle is ASCII JSON
        sys.stdout.flush()
        where = "stdout"
    else:
        atomic.write_atomic(out, data)
        where = out
    st = bundle.statement
    spent = f", {timings.build + timings.prove:.2f} s" if timings.prove else ""
    say(f"proved: {output.statement_summary(st)}; {st['gates']} gates, proof {len(bundle.proof)} "
        f"bytes, bundle {len(data)} bytes{spent} -> {where}")
    if challenge is None:
        say("note: no --challenge was given; a venue refuses a proof without its challenge unless its "
            "policy allows unchallenged proofs (trust.unchallenged)")


# --- venue ---------------------------------------------------------------------------------------


def _one_or_each(values, proofs, hint: str, what: str):
    """None, one value for every proof, or one per proof in order."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    if len(values) == len(proofs):
        return list(values)
    raise click.BadParameter(f"{len(values)} {what} for {len(proofs)} proofs (give none, one, or one "
                             "per proof)", param_hint=hint)


def _rejected_json(exc: Rejected, proofs: int, files=None) -> None:
    doc = {"valid": False, "proofs": proofs, "error": exc.one_line(), "error_type": type(exc).__name__}
    if getattr(exc, "receipt", None) is not None:  # the log recorded the rejection
        doc["log"] = getattr(exc, "log_entry", None) or getattr(exc, "log_entries", None)
        doc["receipt"] = exc.receipt
    if files is not None:
        from zkmargin.workflows.batch_report import outcomes_from_log

        doc["bundles"] = [b.to_json_dict() for b in outcomes_from_log(files, getattr(exc, "log_entries", None))]
    output.emit_json(doc)


def _write_receipt(path, receipt) -> None:
    """``--receipt-out``: the receipt the log returned, written atomically."""
    import json

    from zkmargin.files.atomic import write_atomic

    write_atomic(path, (json.dumps(receipt, indent=2) + "\n").encode())
    say(f"receipt of log entry {receipt['entry']['seq']} written to {path}")


@cli.command(short_help='Venue: verify one proof bundle.')
@click.argument("proof", metavar="PROOF")
@market_option
@policy_option
@threshold_option
@click.option("--challenge", "-c", type=HEX_CHALLENGE, default=None,
              help="The challenge this venue issued for this proof (hex). Required unless the "
                   "policy's trust section allows unchallenged proofs.")
@log_option
@click.option("--receipt-out", "receipt_out", default=None, metavar="FILE",
              help="With --log: write the log's receipt for this verification here (for the trader).")
@trust_options
@click.option("--min-zone", "min_zone", default=None, metavar="NAME",
              help="Expect a margin-call zone proof and refuse (exit 1) one that shows a worse zone "
                   "than NAME on the policy's ladder.")
@json_option
@click.pass_context
def verify(ctx, proof, market, policy, threshold, challenge, log, log_key, receipt_out, subject, max_age, min_zone,
           as_json):
    """Verify the proof bundle PROOF against the venue's OWN policy, market snapshot, threshold
    and challenge (never the bundle's), under the policy's trust rule: the custodians it lists
    must vouch for the committed values (their attestations travel in the bundle), or the
    values are reported as self-declared where it lists none. Exit 0 valid, 1 rejected (a
    challenge the --log accepted before is refused as a replay). With --log, the JSON carries the
    receipt."""
    if receipt_out is not None and log is None:
        raise click.UsageError("--receipt-out needs --log")
    guard([Output(receipt_out, "the receipt", "--receipt-out")],
          [(proof, "the proof bundle"), *_venue_inputs(market, policy), (log, "the log"), (log_key, "the log key")],
          as_json=as_json)
    try:
        result = run_verify(proof, market, policy, threshold, challenge, log=log, log_key=log_key, subject=subject,
                            max_age=max_age, backend=backend_from(ctx), min_zone=min_zone)
    except Rejected as exc:
        if receipt_out is not None and getattr(exc, "receipt", None) is not None:
            _write_receipt(receipt_out, exc.receipt)
        if as_json:
            _rejected_json(exc, 1)
        raise
    if receipt_out is not None:
        _write_receipt(receipt_out, result.extra["receipt"])
    if as_json:
        output.emit_json(output.verification_json(result))
    else:
        click.echo(output.format_verification(result))


@cli.command("verify-batch", short_help='Venue/auditor: verify many proof bundles at once.')
@click.argument("proofs", nargs=-1, required=True, metavar="PROOF...")
@market_option
@policy_option
@threshold_option
@click.option("--challenge", "-c", "challenges", type=HEX_CHALLENGE, multiple=True,
              help="Challenge(s) (hex): none, one for every proof, or one per proof in order.")
@log_option
@trust_options(batch=True)
@json_option
@click.pass_context
def verify_batch(ctx, proofs, market, policy, threshold, challenges, log, log_key, subject, max_age, as_json):
    """Verify many proof bundles for the same policy, market and threshold at once (one
    multi-scalar multiplication), each under the policy's trust rule. Exit 0 when all are valid;
    1 names the invalid ones."""
    guard(inputs=[*each(proofs, "a proof bundle"), *_venue_inputs(market, policy)])
    chal = _one_or_each(challenges, proofs, "'--challenge'", "challenges")
    subj = _one_or_each(subject, proofs, "'--subject'", "subjects")
    if as_json and log is None:  # one result per bundle (issue 11)
        from zkmargin.workflows.batch_report import verify_batch_report

        report = verify_batch_report([Path(p) for p in proofs], market, policy, threshold, chal, subject=subj,
                                     max_age=max_age, backend=backend_from(ctx), names=proofs)
        output.emit_json(report.to_json_dict())
        report.raise_if_rejected()
        return
    try:
        result = run_verify_batch(proofs, market, policy, threshold, chal, log=log, log_key=log_key, subject=subj,
                                  max_age=max_age, backend=backend_from(ctx))
    except Rejected as exc:
        if as_json:
            _rejected_json(exc, len(proofs), files=proofs)
        raise
    if as_json:
        from zkmargin.workflows.batch_report import outcomes_from_log

        doc = output.verification_json(result)
        doc["bundles"] = [b.to_json_dict() for b in outcomes_from_log(proofs, result.extra.get("log"))]
        output.emit_json(doc)
    else:
        click.echo(output.format_verification(result))


@cli.command(short_help='Venue: print a fresh random challenge.')
def challenge():
    """Print a fresh random challenge (32 bytes from the OS, hex). A venue hands one to each
    trader and accepts it once."""
    click.echo(secrets.token_bytes(32).hex())


# --- anyone --------------------------------------------------------------------------------------


@cli.command(short_help="Show a proof bundle's public statement and sizes.")
@click.argument("proof", metavar="PROOF")
@json_option
@click.pass_context
def inspect(ctx, proof, as_json):
    """Show a proof bundle's public statement and sizes (it holds nothing private). Does not
    verify the proof."""
    from zkmargin.crypto.proof import R1CSProof

    bundle = zkmargin.ProofBundle.load(proof)
    parsed = R1CSProof.from_bytes(bundle.proof, backend_from(ctx))  # strict decode, no verification
    size = None if proof == "-" else Path(proof).stat().st_size
    desc = output.describe_bundle(bundle, "stdin" if proof == "-" else proof, size, parsed.lg_n,
                                  bundle.proof[4])
    if as_json:
        output.emit_json(desc)
    else:
        click.echo(output.format_inspect(desc))


@cli.command(short_help='Benchmark W1, W2 and a universe-size sweep.')
@click.option("--quick", is_flag=True, help="Limit the universe-size sweep to 4..32 (for tests).")
@json_option
@click.pass_context
def bench(ctx, quick, as_json):
    """Benchmark W1 (cross, 20 perpetuals, 3 collateral assets), W2 (portfolio, 20 instruments x
    16 scenarios) and a sweep of universe sizes 4..256."""
    from zkmargin.workflows.bench import run_benchmarks

    tty = output.progress_enabled()

    def progress(name: str) -> None:
        if tty:
            click.echo(f"bench: {name} ...", err=True)

    report = run_benchmarks(quick=quick, backend=backend_from(ctx), progress=progress)
    if as_json:
        output.emit_json(report.to_json_dict())
    else:
        click.echo(report.to_table())
