"""The PostgreSQL database's schema, as explicit, versioned migrations.

A database holds a ``schema_version`` table: one row per migration applied (its number, what it
did, when). :data:`MIGRATIONS` is the ordered list this zkmargin knows; :data:`SCHEMA_VERSION` is
the last. Opening a database checks its version first, so a database is never misread:

* no tables at all — a new database: the log store creates it at the current version;
* zkmargin tables but no ``schema_version`` — not written by a known zkmargin: refused;
* an older version — refused with the command that upgrades it (``zkmargin db-migrate URL``), or
  upgraded in place when the caller asks (:func:`migrate`): all missing migrations in one
  transaction under an advisory lock, so a reader sees the old schema or the new one and workers
  racing to migrate apply each step once;
* a newer version — written by a newer zkmargin: refused.

Migrations (never edited once released; a change is a new one):

1. the verification log ``zkmargin.log/2`` (what the SQLite file holds, in PostgreSQL types):
   ``meta``, ``policies``, ``markets``, ``entries`` with the unique index on accepted
   challenges, ``heads``, ``tree``;
2. the service's state shared by its worker processes: ``service_challenges`` (issued, owned,
   single-use, expiring challenges) and ``service_rate_hits`` (the moving-window request rates).

May import :mod:`zkmargin.errors` and :mod:`.pg_connection`. Used by :mod:`.postgres`, the
service's shared state and the CLI (``db-migrate``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zkmargin.errors import LogError

from .pg_connection import PgConnection


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "the verification log (zkmargin.log/2)", (
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE policies (digest TEXT PRIMARY KEY, body BYTEA NOT NULL)",
        "CREATE TABLE markets (digest TEXT PRIMARY KEY, body BYTEA NOT NULL)",
        """CREATE TABLE entries (
            id BIGINT PRIMARY KEY,
            seq BIGINT NOT NULL,
            time TEXT NOT NULL,
            software TEXT NOT NULL,
            policy_digest TEXT NOT NULL,
            market_digest TEXT NOT NULL,
            circuit_digest TEXT,
            threshold TEXT NOT NULL,
            challenge TEXT,
            subject TEXT,
            bundle_hash TEXT NOT NULL,
            result TEXT NOT NULL,
            code TEXT,
            reason TEXT,
            attestations_hash TEXT,
            bundle BYTEA,
            attestations BYTEA,
            leaf_hash TEXT NOT NULL
        )""",
        "CREATE UNIQUE INDEX entries_accepted_challenge ON entries(challenge) "
        "WHERE result = 'accepted' AND challenge IS NOT NULL",
        "CREATE INDEX entries_challenge ON entries(challenge)",
        """CREATE TABLE heads (
            tree_size BIGINT PRIMARY KEY,
            timestamp BIGINT NOT NULL,
            root_hash TEXT NOT NULL,
            signature TEXT NOT NULL
        )""",
        """CREATE TABLE tree (
            one INTEGER PRIMARY KEY CHECK (one = 1),
            size BIGINT NOT NULL,
            peaks BYTEA NOT NULL,
            timestamp BIGINT NOT NULL
        )""",
        "INSERT INTO tree(one, size, peaks, timestamp) VALUES (1, 0, ''::bytea, 0)",
    )),
    Migration(2, "the service's shared challenges and request rates", (
        """CREATE TABLE service_challenges (
            challenge BYTEA PRIMARY KEY,
            client TEXT NOT NULL,
            issued DOUBLE PRECISION NOT NULL,
            expires DOUBLE PRECISION NOT NULL,
            used DOUBLE PRECISION
        )""",
        "CREATE INDEX service_challenges_outstanding ON service_challenges(client, expires) WHERE used IS NULL",
        "CREATE INDEX service_challenges_expires ON service_challenges(expires)",
        """CREATE TABLE service_rate_hits (
            key TEXT NOT NULL,
            at DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX service_rate_hits_key_at ON service_rate_hits(key, at)",
    )),
)
SCHEMA_VERSION = MIGRATIONS[-1].version
ZKMARGIN_TABLES = ("meta", "entries", "heads", "tree", "service_challenges")
MIGRATION_LOCK = 0x7A6B6D61  # "zkma": one advisory lock for every migration of a database
MIGRATE_HINT = "zkmargin db-migrate"


def _tables(conn) -> set[str]:
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").fetchall()
    return {str(r[0]) for r in rows}


def _version(conn) -> int | None:
    """The applied version: None for a database with no zkmargin tables, 0 for zkmargin tables
    without a version table."""
    tables = _tables(conn)
    if "schema_version" not in tables:
        return 0 if tables & set(ZKMARGIN_TABLES) else None
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0


def schema_version(db: PgConnection) -> int | None:
    """The database's schema version (None: a database with no zkmargin tables)."""
    return db.run(_version)


def _apply(conn, upto: int) -> list[int]:
    """Every missing migration up to ``upto`` in ONE transaction, under the advisory lock (DDL is
    transactional in PostgreSQL): a reader sees the old schema or the new one, never a half."""
    applied: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                     "description TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        done = {int(r[0]) for r in conn.execute("SELECT version FROM schema_version").fetchall()}
        for m in MIGRATIONS:
            if m.version > upto:
                break
            if m.version in done:
                continue
            for stmt in m.statements:
                conn.execute(stmt)
            conn.execute("INSERT INTO schema_version(version, description) VALUES (%s, %s)",
                         (m.version, m.description))
            applied.append(m.version)
    return applied


def check_schema(db: PgConnection, *, create: bool) -> int | None:
    """Refuse a database this zkmargin would misread; with ``create``, bring an empty one to the
    current version. Returns the version (None: still empty)."""

    def work(conn: Any) -> int | None:
        v = _version(conn)
        if v is None:
            if not create:
                return None
            with conn.transaction():  # several workers may start on an empty database at once
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                v = _version(conn)
                if v is None:
                    _apply(conn, SCHEMA_VERSION)  # a nested transaction (savepoint), under the lock
                    return SCHEMA_VERSION
        if v == 0:
            raise LogError("the database has zkmargin tables but no schema_version table: it was not written by "
                           "a zkmargin this one can read", source=db.name)
        if v > SCHEMA_VERSION:
            raise LogError(f"the database schema is version {v}, written by a newer zkmargin (this one knows up to "
                           f"{SCHEMA_VERSION}): refusing to read it", source=db.name)
        if v < SCHEMA_VERSION:
            raise LogError(f"the database schema is version {v}; this zkmargin needs version {SCHEMA_VERSION}: "
                           f"run '{MIGRATE_HINT} {db.name}' (it upgrades in place, keeping every entry)",
                           source=db.name)
        return v

    return db.run(work)


def migrate(db: PgConnection, *, upto: int = SCHEMA_VERSION) -> tuple[int | None, int, list[int]]:
    """Apply the missing migrations up to ``upto``: (version before, version after, applied)."""
    if not 1 <= upto <= SCHEMA_VERSION:
        raise LogError(f"no schema version {upto} (this zkmargin knows 1 to {SCHEMA_VERSION})", source=db.name)

    def work(conn: Any) -> tuple[int | None, int, list[int]]:
        before = _version(conn)
        if before == 0:
            raise LogError("the database has zkmargin tables but no schema_version table: refusing to migrate "
                           "it", source=db.name)
        if before is not None and before > SCHEMA_VERSION:
            raise LogError(f"the database schema is version {before}, newer than this zkmargin's "
                           f"{SCHEMA_VERSION}", source=db.name)
        applied = _apply(conn, upto)
        after = _version(conn)
        return before, int(after or 0), applied

    return db.run(work)
