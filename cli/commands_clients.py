"""The venue's service clients: client-add, client-remove.

``client-add`` registers a client in a clients file (:func:`zkmargin.workflows.service.add_client`) and
prints its fresh API key once — on stdout, or into a new mode-0600 file with ``--key-file`` — for
the venue to hand over; the clients file keeps only a salted hash. ``client-remove`` deletes a
client (:func:`zkmargin.workflows.service.remove_client`). A running ``serve`` re-reads the file when it
changes. Errors become exit codes in the group (:mod:`zkmargin.cli.app`): 0 done, 2 usage or input
error (nothing changed).

May import the library (:mod:`zkmargin.workflows.service`). Registered by :mod:`.main`.
"""

from __future__ import annotations

import click

from . import output
from .app import cli
from .errors import say
from .guards import Output, guard

json_option = click.option("--json", "as_json", is_flag=True, help="Write exactly one JSON document to stdout.")


@cli.command("client-add", short_help="Venue: register a service client and print its API key once.")
@click.argument("clients", metavar="CLIENTS")
@click.option("--id", "client_id", required=True, metavar="ID", help="The client's name (A-Z a-z 0-9 . _ -).")
@click.option("--subject", default=None, metavar="ACCOUNT",
              help="The account the venue knows this client as; attestations must name it.")
@click.option("--challenges", default=None, metavar="RATE", help="Own challenge-request rate, e.g. 30/minute.")
@click.option("--verifies", default=None, metavar="RATE", help="Own verify-request rate, e.g. 30/minute.")
@click.option("--outstanding", default=None, type=int, metavar="N", help="Own cap on unused challenges.")
@click.option("--rotate", is_flag=True, help="Give an existing client a new key (the old one stops working).")
@click.option("--key-file", default=None, metavar="FILE",
              help="Write the key to this new file (mode 0600) instead of stdout.")
@json_option
def client_add(clients, client_id, subject, challenges, verifies, outstanding, rotate, key_file, as_json):
    """Register client ID (known to the venue as account ACCOUNT) in the CLIENTS file (created if
    absent; written atomically, mode 0600) and print its API key once. The file keeps only a
    salted hash of the key: a lost key is replaced with --rotate, never recovered."""
    from zkmargin.workflows.service.registration import add_client

    guard([Output(key_file, "the API key", "--key-file", private=True)], [(clients, "the clients file")])
    client, key = add_client(clients, client_id, subject, challenges=challenges, verifies=verifies,
                             outstanding=outstanding, rotate=rotate, key_file=key_file)
    shown = None if key_file else key
    if as_json:
        doc = {**client.public_json_dict(), "quotas": client.quotas.to_json_dict(), "rotated": rotate}
        if shown is not None:
            doc["key"] = shown
        else:
            doc["key_file"] = key_file
        output.emit_json(doc)
    elif shown is not None:
        click.echo(shown)
    where = f"written to {key_file}" if key_file else "printed once"
    say(f"client {client.id!r} (account {client.subject!r}) {'has a new key' if rotate else 'added'} "
        f"in {clients}; its API key is {where}: hand it over securely")


@cli.command("client-remove", short_help="Venue: remove a service client (its key stops working).")
@click.argument("clients", metavar="CLIENTS")
@click.option("--id", "client_id", required=True, metavar="ID", help="The client to remove.")
@json_option
def client_remove(clients, client_id, as_json):
    """Remove client ID from the CLIENTS file; a running service refuses its key once it has
    re-read the file (at the next request)."""
    from zkmargin.workflows.service.registration import remove_client

    client = remove_client(clients, client_id)
    if as_json:
        output.emit_json({**client.public_json_dict(), "removed": True})
    say(f"client {client.id!r} removed from {clients}")
