"""Database commands: db-migrate (upgrade a PostgreSQL database's schema in place).

One library call (:func:`zkmargin.verifier.log.migrations.migrate`); errors become exit codes in
the group (:mod:`zkmargin.cli.app`).

May import the library. Registered by :mod:`.main`.
"""

from __future__ import annotations

import click

from .app import cli
from .output import emit_json
from .workflow_options import json_option


@click.command("db-migrate", short_help="Venue: create or upgrade a PostgreSQL database's schema.")
@click.argument("url", metavar="URL")
@json_option
def db_migrate(url, as_json):
    """Bring the PostgreSQL database at URL (postgresql://user@host:port/name) to this zkmargin's
    schema version: the missing migrations in one transaction, every entry kept. A database
    written by a newer zkmargin, or tables that are not a versioned zkmargin schema, are refused
    (exit 2). Run it once after upgrading zkmargin, before starting the workers."""
    from zkmargin.verifier.log.migrations import SCHEMA_VERSION, migrate
    from zkmargin.verifier.log.pg_connection import PgConnection

    db = PgConnection(url, application="zkmargin-db-migrate")
    try:
        before, after, applied = migrate(db)
    finally:
        db.close()
    if as_json:
        emit_json({"database": db.name, "before": before, "after": after, "applied": applied,
                   "current": SCHEMA_VERSION})
    elif applied:
        click.echo(f"{db.name}: schema version {before or 0} -> {after} (applied {', '.join(map(str, applied))})")
    else:
        click.echo(f"{db.name}: schema version {after}, up to date")


for _command in (db_migrate,):
    if _command.name not in cli.commands:
        cli.add_command(_command)
