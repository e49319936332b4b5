"""The venue's service command: serve (the HTTP verification service, :mod:`zkmargin.workflows.service`).

One library call (:func:`zkmargin.workflows.service.serve`) with the limits built from the
options; errors become exit codes in the group (:mod:`zkmargin.cli.app`). The clients it serves
are registered by ``client-add`` (:mod:`.commands_clients`).

May import the library. Registered by :mod:`.main`.
"""

from __future__ import annotations

import click

from zkmargin.errors import InputError

from .app import backend_from, cli
from .errors import say
from .params import MAX_AGE
from .workflow_options import log_key_needed


@click.command(short_help="Venue: run the HTTP verification service.")
@click.option("--market", "-m", required=True, metavar="MARKET", help="The market snapshot proofs are checked against.")
@click.option("--policy", "-p", required=True, metavar="POLICY", help="The venue's policy.")
@click.option("--clients", "clients", required=True, metavar="CLIENTS",
              help="The clients file (zkmargin.clients/1, written by 'client-add'); re-read when it changes.")
@click.option("--threshold", "-t", default="0", show_default=True, metavar="X",
              help="Extra amount (quote currency) every proof's equity must exceed the buffered requirement by.")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="The port to listen on.")
@click.option("--log", "log", default=None, metavar="LOG", help="Append every verification to this log (a SQLite file).")
@click.option("--db", "db", default=None, metavar="URL",
              help="A PostgreSQL database (postgresql://user@host:port/name) holding the log, the challenges and "
                   "the request rates, shared by every worker (needs --log-key; 'pip install zkmargin[postgres]').")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), metavar="N",
              help="Worker processes (more than one needs --db).")
@click.option("--batch-window", default=0.005, show_default=True, type=click.FloatRange(0, 1), metavar="SECONDS",
              help="Verify the requests arriving within this time together (one multi-scalar multiplication); "
                   "under load a batch also waits, briefly, for as many requests as the last one held.")
@click.option("--max-batch", default=64, show_default=True, type=click.IntRange(1, 4096), metavar="N",
              help="At most this many requests in one batch.")
@click.option("--log-key", "log_key", default=None, metavar="KEY",
              help="The venue's signing key for the log's tree heads (with --log).")
@click.option("--max-age", "max_age", type=MAX_AGE, default=None, metavar="SECONDS",
              help="Refuse attestations older than this; may only tighten the policy's trust.max_age_seconds.")
@click.option("--challenge-ttl", default=300.0, show_default=True, type=click.FloatRange(1, 86_400), metavar="SECONDS",
              help="How long an issued challenge stays valid.")
@click.option("--max-body", default=256 * 1024, show_default=True, type=click.IntRange(1024, 1 << 20), metavar="BYTES",
              help="Refuse (413) a request body larger than this (a proof bundle is a few KB).")
@click.option("--body-timeout", default=30.0, show_default=True, type=click.FloatRange(0.1, 3600), metavar="SECONDS",
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
def serve(ctx, market, policy, clients, threshold, host, port, log, db, workers, batch_window, max_batch, log_key,
          max_age, challenge_ttl, max_body,
          body_timeout, client_challenges, client_verifies, client_outstanding, global_challenges,
          global_verifies, global_outstanding):
    """Run the verification service (needs the 'serve' extra: pip install 'zkmargin[serve]').
    Every verification applies the policy's trust rule.

    Clients authenticate with the API key 'client-add' gave them (Authorization: Bearer KEY) and
    are held to their quotas (429 with Retry-After). RATE is N/unit or 'N per K units' (second,
    minute, hour, day).

    One worker keeps challenges and rates in memory; with --db postgresql://… and --workers N,
    N processes share the log, the challenges and the rates in that database (503 with
    Retry-After while it is unreachable).

    \b
    POST /v1/challenge            a fresh challenge for the calling client (single use, expires)
    POST /v1/verify               verify a proof bundle against the service's policy and market
    GET  /v1/verification/CHAL    the logged outcome of CHAL, for a client whose answer got lost
    GET  /v1/client               the calling client's id, account and quotas
    GET  /v1/health               liveness and what this service verifies (digests, no paths)
    GET  /v1/policy               the policy proofs must be made against (canonical JSON)
    GET  /v1/market               the market snapshot proofs must be made against (canonical JSON)
    GET  /v1/log/head             the log's latest signed tree head (with --log)
    OpenAPI at /openapi.json, interactive documentation at /docs."""
    from zkmargin.workflows.service import ServiceLimits
    from zkmargin.workflows.service import serve as run

    if db is not None and log is not None:
        raise InputError("give --log (a SQLite file) or --db (a PostgreSQL database), not both", field="--db")
    log = db if db is not None else log
    log_key_needed(log, log_key)
    limits = ServiceLimits.build(
        client_challenges=client_challenges, client_verifies=client_verifies, client_outstanding=client_outstanding,
        global_challenges=global_challenges, global_verifies=global_verifies,
        global_outstanding=global_outstanding, body_timeout=body_timeout)
    run(policy, market, threshold, clients=clients, host=host, port=port, log=log, log_key=log_key,
        max_age=max_age, challenge_ttl=challenge_ttl, max_body=max_body, limits=limits,
        backend=backend_from(ctx), announce=say, workers=workers, batch_window=batch_window, max_batch=max_batch)


for _command in (serve,):
    if _command.name not in cli.commands:
        cli.add_command(_command)
