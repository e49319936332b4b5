"""Venue, custodian and auditor workflows: custodian-keygen, venue-keygen, attest, commit, open,
audit, receipt, log-head, serve.

Plus the pieces ``verify``, ``verify-batch`` and ``prove`` (in :mod:`commands_core`) use for their
workflow options: :func:`log_option`, :func:`trust_options`, :func:`openings_options` and the
functions :func:`run_verify`, :func:`run_verify_batch`, :func:`run_prove` they call.

Each command is one library call plus formatting; errors become exit codes in the group
(:mod:`zkmargin.cli.app`): 0 clean/valid, 1 rejected/tampered, 2 usage or input error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import click

from . import output
from .app import backend_from, cli
from .errors import say
from .params import HEX_CHALLENGE, MAX_AGE

json_option = click.option("--json", "as_json", is_flag=True, help="Write exactly one JSON document to stdout.")


def _slot_list(text: Optional[str]) -> Optional[list[str]]:
    if text is None:
        return None
    slots = [s.strip() for s in text.split(",") if s.strip()]
    if not slots:
        raise click.BadParameter("name at least one slot, e.g. size:BTCUSDT,balance:USDT", param_hint="'--slots'")
    return slots


# --- options other commands reuse ------------------------------------------------------------------


def log_option(f):
    """``--log LOG --log-key KEY``: append every outcome to this verification log (SQLite, created
    if absent) and sign the new tree head with the venue's key."""
    f = click.option("--log-key", "log_key", default=None, metavar="KEY",
                     help="The venue's Ed25519 signing key file ('zkmargin venue-keygen'): signs the "
                          "log's tree head after every append; never stored in the log.")(f)
    return click.option("--log", "log", default=None, metavar="LOG",
                        help="Append the outcome (accepted or rejected) to this transparency log "
                             "(SQLite Merkle log, created if absent; needs --log-key). A challenge "
                             "the log accepted before is refused as a replay.")(f)


def _log_key_needed(log, log_key) -> None:
    if log is not None and log_key is None:
        raise click.UsageError("--log needs --log-key KEY (the venue's signing key; 'zkmargin venue-keygen' "
                               "makes one)")
    if log is None and log_key is not None:
        raise click.UsageError("--log-key goes with --log LOG")


def trust_options(f=None, *, batch: bool = False):
    """``--subject ID`` (repeatable for batches) and ``--max-age SECONDS``: the account the proof
    is for and a tighter attestation age. The rule itself is the policy's (its ``trust``
    section); no option loosens it."""
    def wrap(fn):
        fn = click.option("--max-age", "max_age", type=MAX_AGE, default=None, metavar="SECONDS",
                          help="Refuse attestations older than this; may only tighten the policy's "
                               "trust.max_age_seconds.")(fn)
        help_text = ("The account id this venue knows for the trader (what the custodians' "
                     "attestations must name); required when the policy lists custodians.")
        if batch:
            fn = click.option("--subject", "subject", multiple=True, metavar="ID",
                              help=help_text + " None, one for every proof, or one per proof in order.")(fn)
        else:
            fn = click.option("--subject", "subject", default=None, metavar="ID", help=help_text)(fn)
        return fn

    return wrap if f is None else wrap(f)


def openings_options(f):
    """``--attestation FILE`` and ``--openings FILE`` (both repeatable) for ``prove``."""
    f = click.option("--openings", "openings", multiple=True, metavar="OPENINGS",
                     help="Openings (zkmargin.openings/1) from 'attest' or 'commit'; the proof's "
                          "commitments are then the attested (or committed) ones.")(f)
    f = click.option("--attestation", "-a", "attestations", multiple=True, metavar="ATTESTATION",
                     help="The custodian attestation(s) the openings belong to.")(f)
    return f


def run_verify(proof, market, policy, threshold, challenge, *, log=None, log_key=None, subject=None,
               max_age=None, backend=None, min_zone=None):
    """What ``verify`` calls: the policy's full rule, logged (with a receipt) when ``log`` is
    given."""
    _log_key_needed(log, log_key)
    if log is None:
        import zkmargin

        return zkmargin.verify(Path(proof), market, policy, threshold, challenge, subject=subject,
                               max_age=max_age, backend=backend, min_zone=min_zone)
    if min_zone is not None:
        raise click.UsageError("--min-zone with --log is not supported yet")
    from zkmargin.verifier.log import verify_and_log

    return verify_and_log(_bundle_arg(proof), market, policy, threshold, challenge, log=log, log_key=log_key,
                          subject=subject,
                          max_age=max_age, backend=backend)


def _bundle_arg(proof):
    """A parsed bundle, or for a file that does not parse its raw bytes (so the log records the
    rejection)."""
    from zkmargin.bundle import ProofBundle
    from zkmargin.errors import FormatError

    try:
        return ProofBundle.load(proof)
    except FormatError:
        p = Path(proof)
        if not p.is_file():
            raise
        with open(p, "rb") as fh:
            return fh.read(1 << 20)


def run_verify_batch(proofs, market, policy, threshold, challenges, *, log=None, log_key=None, subject=None,
                     max_age=None, backend=None):
    """What ``verify-batch`` calls."""
    import zkmargin

    _log_key_needed(log, log_key)
    if log is None:
        return zkmargin.verify_batch([Path(p) for p in proofs], market, policy, threshold, challenges,
                                     subject=subject, max_age=max_age, backend=backend)
    from zkmargin.verifier.log import verify_batch_and_log

    return verify_batch_and_log([_bundle_arg(p) for p in proofs], market, policy, threshold, challenges,
                                log=log, log_key=log_key, subject=subject, max_age=max_age, backend=backend)


def run_prove(account, market, policy, threshold, challenge, *, attestations: Sequence = (),
              openings: Sequence = (), backend=None, timings=None, zone=None):
    """What ``prove`` calls: over attested commitments (``attestations`` + ``openings``; the
    bundle then carries the attestations), over self-made openings (``openings`` only, from
    ``commit``), or plain."""
    import zkmargin
    from zkmargin import attest

    if zone is not None and (attestations or openings):
        raise click.UsageError("--zone over attested commitments is not supported yet")
    if attestations:
        if not openings:
            raise click.UsageError("--attestation needs the matching --openings")
        return attest.prove_attested(account, market, policy, threshold, challenge, attestations=attestations,
                                     openings=openings, backend=backend)
    if openings:
        if len(openings) != 1:
            raise click.UsageError("several --openings need their --attestation files")
        return attest.prove_with_openings(account, market, policy, threshold, challenge, openings=openings[0],
                                          backend=backend)
    return zkmargin.prove(account, market, policy, threshold, challenge, backend=backend, timings=timings,
                          zone=zone)


# --- custodian -----------------------------------------------------------------------------------


@click.command("custodian-keygen", short_help="Custodian: create an Ed25519 signing key.")
@click.option("--output", "-o", "out", required=True, metavar="KEY",
              help="Write the Ed25519 private key here (PEM, mode 0600).")
@click.option("--force", is_flag=True, help="Overwrite an existing key file.")
def custodian_keygen(out, force):
    """Create a custodian signing key. Prints the public key (hex) that a venue lists in its
    policy's trust.custodians."""
    from zkmargin import attest

    click.echo(attest.new_key_file(out, force=force))
    say(f"custodian key written to {out} (mode 0600); the line above is its public key")


@click.command("venue-keygen", short_help="Venue: create the Ed25519 key that signs the log's tree heads.")
@click.option("--output", "-o", "out", required=True, metavar="KEY",
              help="Write the Ed25519 private key here (PEM, mode 0600).")
@click.option("--force", is_flag=True, help="Overwrite an existing key file.")
def venue_keygen(out, force):
    """Create the venue's log signing key (for verify/verify-batch/serve --log-key). Prints the
    public key (hex): publish it; traders check receipts and auditors check the log with it
    (receipt --venue-key, audit --venue-key)."""
    from zkmargin import attest

    click.echo(attest.new_key_file(out, force=force))
    say(f"venue log key written to {out} (mode 0600); the line above is its public key: publish it")


@click.command(short_help="Custodian: commit to an account and sign the commitments.")
@click.argument("account", metavar="ACCOUNT")
@click.option("--policy", "-p", required=True, metavar="POLICY", help="The venue's policy (fixes the slots).")
@click.option("--market", "-m", default=None, metavar="MARKET",
              help="Optional market snapshot (the committed values do not depend on prices).")
@click.option("--key", "-k", "key", required=True, metavar="KEY", help="The custodian's private key file.")
@click.option("--output", "-o", "out", required=True, metavar="ATTESTATION",
              help="Write the signed commitments here (public: for the venue).")
@click.option("--openings", "openings_out", required=True, metavar="OPENINGS",
              help="Write the openings here (PRIVATE: for the trader only; mode 0600).")
@click.option("--slots", default=None, metavar="S1,S2,...",
              help="Attest only these slots (several custodians each attest what they hold). "
                   "Default: every slot of the policy's circuit.")
@click.option("--subject", required=True, metavar="ID",
              help="The account id the venue knows for this trader (signed; the venue checks it).")
@click.option("--challenge", "-c", type=HEX_CHALLENGE, default=None,
              help="The venue's challenge for the proof to come (signed): the attestation then "
                   "answers that one request only.")
@click.pass_context
def attest(ctx, account, policy, market, key, out, openings_out, slots, subject, challenge):
    """As a custodian, commit to ACCOUNT's values and sign the commitments for the policy's venue
    (the audience), the account the venue knows (--subject) and, optionally, the venue's
    challenge. The trader proves over them with 'prove --attestation A --openings O' (the bundle
    carries the attestation); the venue's policy lists the custodian keys it accepts."""
    from zkmargin import attest as A

    att, op = A.attest(account, market, policy, key, slots=_slot_list(slots), subject=subject,
                       challenge=challenge, backend=backend_from(ctx))
    op.save(openings_out)
    att.save(out)
    say(f"attested {len(att.slots)} slot(s) as custodian {att.custodian[:16]}…: {out} (public), "
        f"{openings_out} (private, 0600)")


@click.command(short_help="Trader: draw your own commitment openings.")
@click.argument("account", metavar="ACCOUNT")
@click.option("--policy", "-p", required=True, metavar="POLICY", help="The venue's policy (fixes the slots).")
@click.option("--output", "-o", "out", required=True, metavar="OPENINGS",
              help="Write the openings here (PRIVATE; mode 0600).")
def commit(account, policy, out):
    """As a trader without a custodian, draw the blindings of ACCOUNT's commitments yourself and
    keep them ('prove --openings O'), so chosen commitments can be opened to an auditor later."""
    from zkmargin import attest as A

    op = A.new_openings(account, policy)
    op.save(out)
    say(f"openings for {len(op.slots)} slot(s) written to {out} (private, 0600)")


# --- auditor -------------------------------------------------------------------------------------


@click.command("open", short_help="Trader/auditor: open or check commitments.")
@click.argument("openings", nargs=-1, metavar="[OPENINGS...]")
@click.option("--slots", default=None, metavar="S1,S2,...", help="The slots to open (default: all).")
@click.option("--output", "-o", "out", default=None, metavar="PART",
              help="Write the chosen openings here (mode 0600) to hand to an auditor.")
@click.option("--check", "part", default=None, metavar="PART",
              help="As an auditor: check these openings against --proof's commitments.")
@click.option("--proof", default=None, metavar="BUNDLE", help="The proof bundle the openings are about.")
@click.option("--market", "-m", default=None, metavar="MARKET",
              help="With --policy: recompute the clear-text margin the opened slots allow.")
@click.option("--policy", "-p", default=None, metavar="POLICY")
@json_option
@click.pass_context
def open_(ctx, openings, slots, out, part, proof, market, policy, as_json):
    """Open chosen commitments to an auditor.

    \b
    trader:  zkmargin open OPENINGS... --slots size:BTCUSDT,balance:USDT -o PART
             (several OPENINGS, one per custodian, are summed slot by slot)
    auditor: zkmargin open --check PART --proof BUNDLE [--market M --policy P]

    The check exits 1 when an opening does not open the bundle's commitment."""
    from zkmargin import attest as A

    if part is None:
        if not openings or out is None:
            raise click.UsageError("give OPENINGS and -o PART (or --check PART --proof BUNDLE)")
        if proof is not None or market is not None or policy is not None:
            raise click.UsageError("--proof, --market and --policy go with --check")
        chosen = A.combine_openings(openings, _slot_list(slots))
        chosen.save(out)
        say(f"openings of {len(chosen.slots)} slot(s) written to {out} (mode 0600): {', '.join(chosen.slots)}")
        return
    if openings or out is not None or slots is not None:
        raise click.UsageError("--check takes PART and --proof only (plus --market/--policy)")
    if proof is None:
        raise click.UsageError("--check needs --proof BUNDLE")
    if (market is None) != (policy is None):
        raise click.UsageError("give both --market and --policy, or neither")
    res = A.check_openings(part, proof, market=market, policy=policy, backend=backend_from(ctx))
    if as_json:
        output.emit_json(res.to_json_dict())
        return
    lines = [f"valid: {len(res.slots)} opening(s) open the bundle's commitments"
             + (" (every slot: the whole account)" if res.complete else "")]
    lines.append(output.table([[s, v] for s, v in res.slots.items()], right={1}))
    if res.proof_verified:
        lines.append("the proof verifies against the given policy and market snapshot")
    for s, info in res.partial.items():
        lines.append(f"  {s}: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    if res.report is not None:
        r = res.report
        lines.append(f"clear-text margin: equity {r['equity']}, requirement {r['requirement']}, required "
                     f"{r['required']}, excess {r['excess']} -> {'meets' if r['meets'] else 'does NOT meet'} "
                     "the requirement")
    click.echo("\n".join(lines))


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
@json_option
@click.pass_context
def audit(ctx, log, venue_key, sths, receipts, sample, seed, as_json):
    """Audit a venue's transparency LOG: recompute the Merkle tree from the entries, check every
    signed tree head, check that the log still extends each older signed head (--sth) and
    receipt (--receipt) by a consistency proof, report challenges accepted twice, and re-verify
    the accepted proofs against the stored policies and snapshots with batch verification.

    Exit 0 clean, 1 tampered, a replay accepted or a proof no longer verifies, 2 usage or input
    error. Keep the latest signed head ('zkmargin log-head LOG --json') for the next audit's --sth."""
    from zkmargin.verifier.audit import audit as run_audit

    report = run_audit(log, venue_key=venue_key, sths=sths, receipts=receipts, sample=sample, seed=seed,
                       backend=backend_from(ctx))
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
    from zkmargin.verifier.receipt import check_receipt

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
    from zkmargin.attest import load_public_key, public_key_hex
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


# --- venue service -------------------------------------------------------------------------------


@click.command(short_help="Venue: run the HTTP verification service.")
@click.option("--market", "-m", required=True, metavar="MARKET", help="The market snapshot proofs are checked against.")
@click.option("--policy", "-p", required=True, metavar="POLICY", help="The venue's policy.")
@click.option("--clients", "clients", required=True, metavar="CLIENTS",
              help="The clients file (zkmargin.clients/1, written by 'client-add'); re-read when it changes.")
@click.option("--threshold", "-t", default="0", show_default=True, metavar="X")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--log", "log", default=None, metavar="LOG", help="Append every verification to this log.")
@click.option("--log-key", "log_key", default=None, metavar="KEY",
              help="The venue's signing key for the log's tree heads (with --log).")
@click.option("--max-age", "max_age", type=MAX_AGE, default=None, metavar="SECONDS",
              help="Refuse attestations older than this; may only tighten the policy's trust.max_age_seconds.")
@click.option("--challenge-ttl", default=300.0, show_default=True, type=float, metavar="SECONDS")
@click.option("--max-body", default=256 * 1024, show_default=True, type=click.IntRange(min=1024), metavar="BYTES")
@click.option("--body-timeout", default=30.0, show_default=True, type=float, metavar="SECONDS",
              help="Refuse (408) a request body that has not arrived within this time.")
@click.option("--client-challenges", default="60/minute", show_default=True, metavar="RATE",
              help="Challenge requests per client and window (clients file quotas override).")
@click.option("--client-verifies", default="60/minute", show_default=True, metavar="RATE",
              help="Verify requests per client and window.")
@click.option("--client-outstanding", default=16, show_default=True, type=int, metavar="N",
              help="Unused, unexpired challenges one client may hold.")
@click.option("--global-challenges", default="200/second", show_default=True, metavar="RATE",
              help="Challenge requests of all clients together.")
@click.option("--global-verifies", default="100/second", show_default=True, metavar="RATE",
              help="Verify requests of all clients together.")
@click.option("--global-outstanding", default=100_000, show_default=True, type=int, metavar="N",
              help="Unused, unexpired challenges of all clients together.")
@click.pass_context
def serve(ctx, market, policy, clients, threshold, host, port, log, log_key, max_age, challenge_ttl, max_body,
          body_timeout, client_challenges, client_verifies, client_outstanding, global_challenges,
          global_verifies, global_outstanding):
    """Run the verification service (needs the 'serve' extra: pip install 'zkmargin[serve]').
    Every verification applies the policy's trust rule.

    Clients authenticate with the API key 'client-add' gave them (Authorization: Bearer KEY) and
    are held to their quotas (429 with Retry-After). POST /v1/challenge, POST /v1/verify,
    GET /v1/client, GET /v1/health; OpenAPI at /openapi.json. RATE is N/unit or 'N per K units'
    (second, minute, hour, day)."""
    from zkmargin.service import ServiceLimits, serve as run

    _log_key_needed(log, log_key)
    limits = ServiceLimits.build(
        client_challenges=client_challenges, client_verifies=client_verifies, client_outstanding=client_outstanding,
        global_challenges=global_challenges, global_verifies=global_verifies,
        global_outstanding=global_outstanding, body_timeout=body_timeout)
    run(policy, market, threshold, clients=clients, host=host, port=port, log=log, log_key=log_key,
        max_age=max_age, challenge_ttl=challenge_ttl, max_body=max_body, limits=limits,
        backend=backend_from(ctx), announce=say)


COMMANDS = [custodian_keygen, venue_keygen, attest, commit, open_, audit, receipt_cmd, log_head, serve]

for _command in COMMANDS:
    if _command.name not in cli.commands:
        cli.add_command(_command)
