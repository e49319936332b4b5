"""Custodian and trader commands over commitments: custodian-keygen, attest, commit, open.

A custodian makes its signing key and attests an account's commitments; a trader without a
custodian draws its own openings; either opens chosen commitments to an auditor, who checks them
(``open --check``). Each command is one library call (:mod:`zkmargin.workflows.custodian`) plus
formatting; errors become exit codes in the group (:mod:`zkmargin.cli.app`): 0 valid, 1 an
opening does not open, 2 usage or input error.

May import the library. Registered by :mod:`.main`.
"""

from __future__ import annotations

import click

from . import output
from .app import backend_from, cli
from .errors import say
from .guards import Output, each, guard
from .params import HEX_CHALLENGE
from .workflow_options import json_option, slot_list


@click.command("custodian-keygen", short_help="Custodian: create an Ed25519 signing key.")
@click.option("--output", "-o", "out", required=True, metavar="KEY",
              help="Write the Ed25519 private key here (PEM, mode 0600).")
@click.option("--force", is_flag=True, help="Overwrite an existing key file.")
def custodian_keygen(out, force):
    """Create a custodian signing key. Prints the public key (hex) that a venue lists in its
    policy's trust.custodians."""
    from zkmargin.crypto.ed25519 import new_key_file

    guard([Output(out, "the private key", private=True)])
    click.echo(new_key_file(out, force=force))
    say(f"custodian key written to {out} (mode 0600); the line above is its public key")


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
    from zkmargin.workflows import custodian as A

    guard([Output(out, "the attestation"), Output(openings_out, "the openings", "--openings", private=True)],
          [(account, "the account"), (policy, "the policy"), (market, "the market snapshot"),
           (key, "the custodian key")])
    att, op = A.attest(account, market, policy, key, slots=slot_list(slots), subject=subject,
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
    from zkmargin.workflows import custodian as A

    guard([Output(out, "the openings", private=True)], [(account, "the account"), (policy, "the policy")])
    op = A.new_openings(account, policy)
    op.save(out)
    say(f"openings for {len(op.slots)} slot(s) written to {out} (private, 0600)")


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
@click.option("--policy", "-p", default=None, metavar="POLICY",
              help="With --market: the policy the clear-text margin is recomputed under.")
@json_option
@click.pass_context
def open_(ctx, openings, slots, out, part, proof, market, policy, as_json):
    """Open chosen commitments to an auditor.

    \b
    trader:  zkmargin open OPENINGS... --slots size:BTCUSDT,balance:USDT -o PART
             (several OPENINGS, one per custodian, are summed slot by slot)
    auditor: zkmargin open --check PART --proof BUNDLE [--market M --policy P]

    The check exits 1 when an opening does not open the bundle's commitment."""
    from zkmargin.workflows import custodian as A

    if part is None:
        if not openings or out is None:
            raise click.UsageError("give OPENINGS and -o PART (or --check PART --proof BUNDLE)")
        if proof is not None or market is not None or policy is not None:
            raise click.UsageError("--proof, --market and --policy go with --check")
        guard([Output(out, "the chosen openings", private=True)], each(openings, "openings"))
        chosen = A.combine_openings(openings, slot_list(slots))
        chosen.save(out)
        say(f"openings of {len(chosen.slots)} slot(s) written to {out} (mode 0600): {', '.join(chosen.slots)}")
        return
    if openings or out is not None or slots is not None:
        raise click.UsageError("--check takes PART and --proof only (plus --market/--policy)")
    if proof is None:
        raise click.UsageError("--check needs --proof BUNDLE")
    if (market is None) != (policy is None):
        raise click.UsageError("give both --market and --policy, or neither")
    guard(inputs=[(part, "the openings"), (proof, "the proof bundle"), (market, "the market snapshot"),
                  (policy, "the policy")])
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


for _command in (custodian_keygen, attest, commit, open_):
    if _command.name not in cli.commands:
        cli.add_command(_command)
