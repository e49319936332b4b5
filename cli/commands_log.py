"""Transparency-log commands: venue-keygen, log-head (venue), receipt (trader), audit (auditor).

The venue makes the key that signs its log's tree heads and publishes the latest signed head; a
trader checks a receipt offline with the venue's public key; an auditor checks the whole log.
Each command is one library call (:mod:`zkmargin.verifier.log`, :mod:`zkmargin.verifier.audit`)
plus formatting; errors become exit codes in the group (:mod:`zkmargin.cli.app`): 0 clean/valid,
1 tampered/rejected, 2 usage or input error.

May import the library. Registered by :mod:`.main`.
"""

from __future__ import annotations

import click

from . import output
from .app import backend_from, cli
from .errors import say
from .guards import Output, guard
from .workflow_options import json_option


@click.command("venue-keygen", short_help="Venue: create the Ed25519 key that signs the log's tree heads.")
@click.option("--output", "-o", "out", required=True, metavar="KEY",
              help="Write the Ed25519 private key here (PEM, mode 0600).")
@click.option("--force", is_flag=True, help="Overwrite an existing key file.")
def venue_keygen(out, force):
    """Create the venue's log signing key (for verify/verify-batch/serve --log-key). Prints the
    public key (hex): publish it; traders check receipts and auditors check the log with it
    (receipt --venue-key, audit --venue-key)."""
    from zkmargin.crypto.ed25519 import new_key_file

    guard([Output(out, "the private key", private=True)])
    click.echo(new_key_file(out, force=force))
    say(f"venue log key written to {out} (mode 0600); the line above is its public key: publish it")


@click.command(short_help="Auditor: check a log, re-verify its proofs.")
@click.argument("log", metavar="LOG")
@click.option("--venue-key", default=None, metavar="PUB",
              help="The venue's public key (hex or a file) as you know it; every signature is checked "
                   "against it. Without it the key the log names itself is used (unauthenticated).")
@click.option("--sth", "sths", multiple=True, metavar="STH",
              help="An older signed tree head (zkmargin.sth/1, from 'log-head --json'); the log must "
                   "still extend it (repeatable).")
@click.option("--receipt", "receipts", multiple=True, metavar="RECEIPT",
              help="A receipt (zkmargin.receipt/1) a trader kept; its entry must still be in the log, "
                   "unchanged (repeatable).")
@click.option("--sample", type=click.IntRange(min=0), default=None, metavar="K",
              help="Re-verify a random sample of K accepted proofs (default: all).")
@click.option("--seed", type=int, default=None, metavar="S", help="Seed of the sample (reproducible audits).")
@click.option("--workers", type=click.IntRange(1, 256), default=None, metavar="N",
              help="Re-verify the proofs on a Dask LocalCluster of N worker processes started here "
                   "(the 'dask' extra).")
@click.option("--scheduler", default=None, metavar="ADDR",
              help="Re-verify the proofs on the existing Dask cluster whose scheduler is at ADDR "
                   "(tcp://host:port; its workers need this zkmargin installed).")
@json_option
@click.pass_context
def audit(ctx, log, venue_key, sths, receipts, sample, seed, workers, scheduler, as_json):
    """Audit a venue's transparency LOG: recompute the Merkle tree from the entries, check every
    signed tree head, check that the log still extends each older signed head (--sth) and
    receipt (--receipt) by a consistency proof, report challenges accepted twice, and re-verify
    the accepted proofs against the stored policies and snapshots with batch verification.

    With --workers N or --scheduler ADDR the proofs are re-verified on a Dask cluster; a
    distributed audit that does not finish (a task failed, the cluster went away) prints no report
    and exits 2, never 0: re-run it.

    Exit 0 clean, 1 tampered, a replay accepted or a proof no longer verifies, 2 usage or input
    error or an unfinished distributed audit. Keep the latest signed head ('zkmargin log-head LOG
    --json') for the next audit's --sth."""
    from zkmargin.verifier.audit import audit as run_audit

    if workers is not None and scheduler is not None:
        raise click.UsageError("give --workers or --scheduler, not both")
    report = run_audit(log, venue_key=venue_key, sths=sths, receipts=receipts, sample=sample, seed=seed,
                       backend=backend_from(ctx), workers=workers, scheduler=scheduler)
    if as_json:
        output.emit_json(report.to_json_dict())
    else:
        click.echo(report.to_text(), nl=False)
    if venue_key is None:
        say("note: no --venue-key: signatures were checked against the key the log names itself")
    report.raise_if_not_clean()


@click.command("receipt", short_help="Trader: check a log receipt offline.")
@click.argument("receipt", metavar="RECEIPT")
@click.option("--venue-key", required=True, metavar="PUB", help="The venue's public key (hex or a file).")
@click.option("--bundle", default=None, metavar="PROOF",
              help="The proof bundle you sent: the logged bundle hash must be this bundle's.")
@json_option
def receipt_cmd(receipt, venue_key, bundle, as_json):
    """Check a log RECEIPT (zkmargin.receipt/1) with the venue's public key only: the signed tree
    head's signature, the entry's leaf hash, the inclusion proof up to the signed root, and with
    --bundle that the logged entry is about this bundle. Exit 0 valid, 1 it does not check out,
    2 a malformed receipt, key or file."""
    from zkmargin.verifier.log.receipt import check_receipt

    res = check_receipt(receipt, venue_key, bundle=bundle)
    if as_json:
        output.emit_json(res.to_json_dict())
    else:
        click.echo(res.to_text(), nl=False)


@click.command("log-head", short_help="Venue/auditor: print the log's latest signed tree head.")
@click.argument("log", metavar="LOG")
@click.option("--venue-key", default=None, metavar="PUB",
              help="Check the head's signature against the venue's public key (hex or a file).")
@json_option
def log_head(log, venue_key, as_json):
    """Print the latest signed tree head of LOG. With --json, exactly the zkmargin.sth/1 document:
    keep it somewhere the venue cannot change, and pass it to the next 'audit --sth'. Exit 1 when
    its signature does not verify."""
    from zkmargin.crypto.ed25519 import load_public_key, public_key_hex
    from zkmargin.errors import InputError, LogTamperedError
    from zkmargin.verifier.log import VerificationLog

    with VerificationLog(log, create=False, read_only=True) as lg:
        sth = lg.latest_head()
    key = public_key_hex(load_public_key(venue_key, "venue public key", InputError)) if venue_key else sth.log_id.hex()
    if not sth.signature_valid(key):
        raise LogTamperedError(f"the latest signed tree head does not verify under the key {key[:16]}…", source=log)
    if as_json:
        output.emit_json(sth.to_json_dict())
        return
    click.echo(f"tree size {sth.tree_size}, root {sth.root_hash.hex()}, signed {sth.time}\n"
               f"venue key {sth.log_id.hex()} "
               + ("(checked against --venue-key)" if venue_key else "(the log's own key; give --venue-key to check)"))


for _command in (venue_keygen, audit, receipt_cmd, log_head):
    if _command.name not in cli.commands:
        cli.add_command(_command)
