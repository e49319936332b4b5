"""The verification log in a PostgreSQL database: the :class:`~.store.LogStore` backend for several
service workers, on one host or several (``zkmargin serve --db postgresql://… --workers N``).

The same rows as the SQLite file (the schema is :mod:`.migrations`, version-checked on open). One
append is one transaction: ``SELECT … FOR UPDATE`` on the single ``tree`` row serializes the
appenders of every process and host, then the entry (with the next sequence number), its signed
head, the new tree state and any new policy or snapshot are written and committed together — all
or nothing. Accepted challenges are unique (a partial unique index), so a challenge can never be
accepted twice even by racing writers; ``accepted_seq`` inside the transaction sees every commit
made before the lock was granted (READ COMMITTED), which is what turns a racing acceptance into a
logged replay.

A lost connection (a restarted server) raises :class:`~zkmargin.errors.DatabaseUnavailableError`
before or instead of the commit: the entry is then not in the log and the caller was not told it
was accepted. Reads page through the entries by id (1,000 rows a query), so an audit streams a
large log without a long transaction.

May import :mod:`zkmargin.errors`, :mod:`.store`, :mod:`.migrations` and :mod:`.pg_connection`.
Used by :mod:`.verification_log` (a log given as a ``postgresql://`` URL).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from zkmargin.errors import InputError, LogError

from .migrations import check_schema
from .pg_connection import PgConnection
from .store import DOCUMENT_TABLES, ENTRY_COLUMNS, HEAD_COLUMNS, LogStore, TreeState

PAGE = 1000


class PostgresLogStore(LogStore):
    """The log in a PostgreSQL database (a ``postgresql://`` URL). One object may be shared by
    threads (one connection, under a lock); any number of processes and hosts may append."""

    def __init__(self, dsn: str, *, read_only: bool = False, create: bool = True):
        self.db = PgConnection(dsn, read_only=read_only, application="zkmargin-log")
        self.name = self.db.name
        self.read_only = read_only
        self._version = check_schema(self.db, create=create and not read_only)

    def exists(self) -> bool:
        if self._version is None:
            return False
        return bool(self.db.run(lambda c: c.execute("SELECT EXISTS (SELECT 1 FROM meta)").fetchone()[0]))

    def create(self, meta: dict) -> None:
        if self.read_only:
            raise LogError("the log is opened read-only", source=self.name)
        if self._version is None:
            self._version = check_schema(self.db, create=True)

        def work(conn: Any) -> None:
            with conn.transaction():
                conn.execute("LOCK TABLE meta IN EXCLUSIVE MODE")
                if conn.execute("SELECT COUNT(*) FROM meta").fetchone()[0]:
                    return  # another worker created it first: the caller reads and checks its meta
                with conn.cursor() as cur:
                    cur.executemany("INSERT INTO meta(key, value) VALUES (%s, %s)", sorted(meta.items()))

        self.db.run(work)

    def meta(self) -> dict:
        if self._version is None:
            return {}
        return self.db.run(lambda c: {str(k): str(v) for k, v in c.execute("SELECT key, value FROM meta")})

    def tree_state(self) -> TreeState | None:
        return self.db.run(lambda c: self._state(c, lock=False))

    def _state(self, conn: Any, *, lock: bool) -> TreeState | None:
        row = conn.execute("SELECT size, peaks, timestamp FROM tree WHERE one = 1" + (" FOR UPDATE" if lock else "")
                           ).fetchone()
        if row is None:
            return None
        size, peaks, ts = row
        if not isinstance(size, int) or not isinstance(ts, int) or not isinstance(peaks, (bytes, bytearray, memoryview)):
            raise LogError("the log's tree state is malformed", source=self.name)
        return TreeState(size, bytes(peaks), ts)

    def append_many(self, prepares):
        if self.read_only:
            raise LogError("the log is opened read-only", source=self.name)
        psycopg = self.db.psycopg
        cols = [c for c in ENTRY_COLUMNS if c != "id"]
        insert_entry = (f"INSERT INTO entries(id, {', '.join(cols)}) VALUES (%s, {', '.join(['%s'] * len(cols))})")

        def work(conn: Any):
            out = []
            try:
                with conn.transaction():
                    state = self._state(conn, lock=True)
                    if state is None:
                        raise LogError("the log has no tree state row", source=self.name)
                    for prepare in prepares:
                        rows = prepare(state, lambda ch: _accepted_seq(conn, ch))
                        e = rows.entry
                        conn.execute(insert_entry, (e["seq"],) + tuple(e[c] for c in cols))
                        h = rows.head
                        conn.execute("INSERT INTO heads(tree_size, timestamp, root_hash, signature) "
                                     "VALUES (%s, %s, %s, %s)", tuple(h[c] for c in HEAD_COLUMNS))
                        for table, digest, body in rows.documents:
                            if table not in DOCUMENT_TABLES:
                                raise InputError("unknown document table")
                            conn.execute(f"INSERT INTO {table}(digest, body) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                                         (digest, body))
                        state = rows.state
                        out.append(rows)
                    conn.execute("UPDATE tree SET size = %s, peaks = %s, timestamp = %s WHERE one = 1",
                                 (state.size, state.peaks, state.timestamp))
            except psycopg.errors.IntegrityError as exc:
                raise LogError(f"the log refused the entry ({str(exc).splitlines()[0]})", source=self.name) from None
            return out

        return self.db.run(work)

    def accepted_seq(self, challenge: str) -> int | None:
        return self.db.run(lambda c: _accepted_seq(c, challenge))

    def entry_by_challenge(self, challenge: str) -> dict | None:
        """The last entry (without bodies) that answered this challenge, accepted or not."""
        cols = _columns(bodies=False)
        row = self.db.run(lambda c: c.execute(
            f"SELECT {cols} FROM entries WHERE challenge = %s ORDER BY (result = 'accepted') DESC, id DESC LIMIT 1",
            (challenge,)).fetchone())
        return None if row is None else dict(zip(ENTRY_COLUMNS, row))

    def count(self) -> int:
        return int(self.db.run(lambda c: c.execute("SELECT COUNT(*) FROM entries").fetchone()[0]))

    def entries(self, *, bodies: bool = True, start: int = 1, stop: int | None = None) -> Iterator[dict]:
        cols = _columns(bodies=bodies)
        nxt = start
        while True:
            sql = f"SELECT {cols} FROM entries WHERE id >= %s" + (" AND id < %s" if stop is not None else "")
            args: tuple = (nxt,) if stop is None else (nxt, stop)
            query = sql + f" ORDER BY id LIMIT {PAGE}"

            def page(c: Any, query: str = query, args: tuple = args) -> list:
                return c.execute(query, args).fetchall()

            rows = self.db.run(page)
            for row in rows:
                yield _row(row)
            if len(rows) < PAGE:
                return
            nxt = int(rows[-1][0]) + 1

    def entries_by_id(self, ids):
        out: list[dict] = []
        ids = [int(i) for i in ids]
        for k in range(0, len(ids), PAGE):
            chunk = ids[k:k + PAGE]
            def by_id(c: Any, chunk: list[int] = chunk) -> list:
                return c.execute(f"SELECT {', '.join(ENTRY_COLUMNS)} FROM entries WHERE id = ANY(%s) ORDER BY id",
                                 (chunk,)).fetchall()

            rows = self.db.run(by_id)
            out.extend(_row(r) for r in rows)
        return out

    def heads(self):
        rows = self.db.run(lambda c: c.execute(f"SELECT {', '.join(HEAD_COLUMNS)} FROM heads ORDER BY tree_size").fetchall())
        for row in rows:
            yield dict(zip(HEAD_COLUMNS, row))

    def latest_head(self):
        row = self.db.run(lambda c: c.execute(
            f"SELECT {', '.join(HEAD_COLUMNS)} FROM heads ORDER BY tree_size DESC LIMIT 1").fetchone())
        return None if row is None else dict(zip(HEAD_COLUMNS, row))

    def documents(self, table: str):
        if table not in DOCUMENT_TABLES:
            raise InputError("unknown document table")
        rows = self.db.run(lambda c: c.execute(f"SELECT digest, body FROM {table}").fetchall())
        return [(str(d), bytes(b)) for d, b in rows]

    def document(self, table: str, digest: str):
        if table not in DOCUMENT_TABLES:
            raise InputError("unknown document table")
        row = self.db.run(lambda c: c.execute(f"SELECT body FROM {table} WHERE digest = %s", (digest,)).fetchone())
        return None if row is None else bytes(row[0])

    def close(self) -> None:
        self.db.close()


def _accepted_seq(conn: Any, challenge: str) -> int | None:
    row = conn.execute("SELECT seq FROM entries WHERE challenge = %s AND result = 'accepted' ORDER BY id LIMIT 1",
                       (challenge,)).fetchone()
    return None if row is None else int(row[0])


def _columns(*, bodies: bool) -> str:
    if bodies:
        return ", ".join(ENTRY_COLUMNS)
    # an empty marker where a body is stored, NULL where none is
    return ", ".join(c if c not in ("bundle", "attestations") else
                     f"CASE WHEN {c} IS NULL THEN NULL ELSE ''::bytea END" for c in ENTRY_COLUMNS)


def _row(row) -> dict:
    d = dict(zip(ENTRY_COLUMNS, row))
    for k in ("bundle", "attestations"):
        if isinstance(d[k], memoryview):
            d[k] = bytes(d[k])
    return d
