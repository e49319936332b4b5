"""The verification log in one SQLite file: the :class:`~zkmargin.verifier.log.store.LogStore`
backend for one venue process (or several on one machine).

WAL journal, ``synchronous=FULL`` (one fsync per append), ``BEGIN IMMEDIATE`` for appends (the
write lock serializes processes; ``busy_timeout`` waits for it), read-only opening for auditors
(``immutable`` when no writer left a write-ahead file, else ``mode=ro``; nothing is written beside
the log either way).

Schema (``zkmargin.log/2``)::

    meta(key, value)
    policies(digest, body), markets(digest, body)            canonical JSON, content-addressed
    entries(id, seq, <hashed fields>, bundle, attestations, leaf_hash)
        UNIQUE (challenge) WHERE result = 'accepted' AND challenge IS NOT NULL
    heads(tree_size, timestamp, root_hash, signature)        one signed head per append
    tree(size, peaks, timestamp)                             the compact range after the last append

May import :mod:`zkmargin.errors` and :mod:`.store`. Used by :mod:`.verification_log` (a log given
as a path is a SQLite file).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Iterator

from zkmargin.errors import InputError, LogError

from .store import DOCUMENT_TABLES, ENTRY_COLUMNS, HEAD_COLUMNS, LogStore, TreeState

BUSY_TIMEOUT_MS = 30_000

_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE policies (digest TEXT PRIMARY KEY, body BLOB NOT NULL)",
    "CREATE TABLE markets (digest TEXT PRIMARY KEY, body BLOB NOT NULL)",
    """CREATE TABLE entries (
        id INTEGER PRIMARY KEY,
        seq INTEGER NOT NULL,
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
        bundle BLOB,
        attestations BLOB,
        leaf_hash TEXT NOT NULL
    )""",
    "CREATE UNIQUE INDEX entries_accepted_challenge ON entries(challenge) "
    "WHERE result = 'accepted' AND challenge IS NOT NULL",
    """CREATE TABLE heads (
        tree_size INTEGER PRIMARY KEY,
        timestamp INTEGER NOT NULL,
        root_hash TEXT NOT NULL,
        signature TEXT NOT NULL
    )""",
    """CREATE TABLE tree (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        size INTEGER NOT NULL,
        peaks BLOB NOT NULL,
        timestamp INTEGER NOT NULL
    )""",
)


def _open_read_only(path: str) -> sqlite3.Connection:
    """The log opened for reading only, writing nothing beside it (issue 11: an auditor with
    read-only access to a root-owned log in a root-owned folder).

    Without a write-ahead file (``LOG-wal``: the venue's process has closed the log), the main
    file holds every entry and is opened ``immutable``: no lock, no ``-wal`` or ``-shm`` file is
    created, and it works on a file and folder this user may not write. With one (a writer is
    running, or stopped without closing), its last appends live in that file: the log is opened
    ``mode=ro`` through SQLite's shared memory, which needs the ``-shm`` file to exist or be
    creatable; when it cannot, the error says so."""
    if not os.path.exists(path):
        raise LogError("no such verification log", source=path)
    if os.path.isdir(path):
        raise LogError("is a folder, not a verification log", source=path)
    if not os.access(path, os.R_OK):
        raise LogError("cannot read the verification log (permission denied)", source=path)
    wal = os.path.exists(path + "-wal")
    query = "mode=ro" if wal else "mode=ro&immutable=1"
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?" + query
    db = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                         check_same_thread=False)
    try:
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as exc:
        db.close()
        if wal and "readonly" in str(exc).replace("-", "").replace(" ", ""):
            raise LogError("the log has a write-ahead file (its writer is running or did not close "
                           "it) that this user cannot share read-only; audit it when the venue's "
                           "process has closed the log, or as a user who may write in its folder",
                           source=path) from None
        raise
    return db


class SQLiteLogStore(LogStore):
    """The log in one SQLite file. One object may be shared by threads; several processes may
    append to one file. ``durable=False`` turns off the fsync per append (bulk loading and
    benchmarks only: a crash may then lose the last appends, never half of one)."""

    def __init__(self, path, *, read_only: bool = False, durable: bool = True):
        self.name = self.path = os.fspath(path)
        self.read_only = read_only
        self._lock = threading.RLock()
        try:
            if read_only:
                self._db = _open_read_only(self.path)
            else:
                folder = os.path.dirname(self.path) or "."
                if not os.path.isdir(folder):
                    raise LogError(f"the folder {folder} does not exist", source=self.path)
                if os.path.isdir(self.path):
                    raise LogError("is a folder, not a verification log", source=self.path)
                self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                           check_same_thread=False)
                self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise LogError(f"cannot switch the log to WAL mode (got {mode})", source=self.path)
                self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
        except sqlite3.DatabaseError as exc:
            raise LogError(f"not a usable SQLite database ({exc})", source=self.path) from None

    def _query(self, sql: str, args=()):
        try:
            return self._db.execute(sql, args)
        except sqlite3.DatabaseError as exc:
            raise LogError(f"the log is unreadable ({exc})", source=self.path) from None

    def _fetch(self, sql: str, args=(), one: bool = False):
        """Run a query and fetch its rows under the lock (threads share the connection)."""
        with self._lock:
            cur = self._query(sql, args)
            try:
                return cur.fetchone() if one else cur.fetchall()
            except sqlite3.DatabaseError as exc:
                raise LogError(f"the log is unreadable ({exc})", source=self.path) from None

    def _tables(self) -> set:
        return {r[0] for r in self._query("SELECT name FROM sqlite_master WHERE type='table'")}

    def exists(self) -> bool:
        return bool(self._tables())

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the lock: ``BEGIN IMMEDIATE`` (a writer elsewhere holding
        the log is a :class:`LogError`), ``COMMIT`` when the block ends, ``ROLLBACK`` when it raises."""
        if self.read_only:
            raise LogError("the log is opened read-only", source=self.path)
        db = self._db
        with self._lock:
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise LogError(f"cannot lock the log for writing ({exc})", source=self.path) from None
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # the transaction is gone already; the original error is what matters
                raise

    def create(self, meta: dict) -> None:
        with self._write() as db:
            if self._tables():
                raise LogError("not an empty file: refusing to create a log in it", source=self.path)
            for stmt in _SCHEMA:
                db.execute(stmt)
            db.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", sorted(meta.items()))
            db.execute("INSERT INTO tree(one, size, peaks, timestamp) VALUES (1, 0, X'', 0)")

    def meta(self) -> dict:
        if "meta" not in self._tables():
            return {}
        return {str(k): str(v) for k, v in self._fetch("SELECT key, value FROM meta")}

    def _state(self) -> TreeState | None:
        row = self._db.execute("SELECT size, peaks, timestamp FROM tree WHERE one = 1").fetchone()
        if row is None:
            return None
        size, peaks, ts = row
        if not isinstance(size, int) or not isinstance(ts, int) or not isinstance(peaks, (bytes, bytearray)):
            raise LogError("the log's tree state is malformed", source=self.path)
        return TreeState(size, bytes(peaks), ts)

    def tree_state(self) -> TreeState | None:
        try:
            return self._state()
        except sqlite3.DatabaseError as exc:
            raise LogError(f"the log is unreadable ({exc})", source=self.path) from None

    def append_many(self, prepares):
        out = []
        with self._write() as db:
            try:
                state = self._state()
                if state is None:
                    raise LogError("the log has no tree state row", source=self.path)
                cols = [c for c in ENTRY_COLUMNS if c != "id"]
                insert_entry = f"INSERT INTO entries(id, {', '.join(cols)}) VALUES (?, {', '.join('?' * len(cols))})"
                for prepare in prepares:
                    rows = prepare(state, self._accepted_seq)
                    e = rows.entry
                    db.execute(insert_entry, (e["seq"],) + tuple(e[c] for c in cols))
                    h = rows.head
                    db.execute("INSERT INTO heads(tree_size, timestamp, root_hash, signature) VALUES (?, ?, ?, ?)",
                               tuple(h[c] for c in HEAD_COLUMNS))
                    for table, digest, body in rows.documents:
                        db.execute(f"INSERT OR IGNORE INTO {table}(digest, body) VALUES (?, ?)", (digest, body))
                    state = rows.state
                    out.append(rows)
                db.execute("UPDATE tree SET size = ?, peaks = ?, timestamp = ? WHERE one = 1",
                           (state.size, state.peaks, state.timestamp))
            except sqlite3.IntegrityError as exc:
                raise LogError(f"the log refused the entry ({exc})", source=self.path) from None
        return out

    def _accepted_seq(self, challenge: str) -> int | None:
        row = self._db.execute("SELECT seq FROM entries WHERE challenge = ? AND result = 'accepted' "
                               "ORDER BY id LIMIT 1", (challenge,)).fetchone()
        return None if row is None else row[0]

    def accepted_seq(self, challenge: str) -> int | None:
        with self._lock:
            try:
                return self._accepted_seq(challenge)
            except sqlite3.DatabaseError as exc:
                raise LogError(f"the log is unreadable ({exc})", source=self.path) from None

    def entry_by_challenge(self, challenge: str):
        cols = ", ".join(c if c not in ("bundle", "attestations") else
                         f"CASE WHEN {c} IS NULL THEN NULL ELSE X'' END" for c in ENTRY_COLUMNS)
        row = self._fetch(f"SELECT {cols} FROM entries WHERE challenge = ? "
                          "ORDER BY (result = 'accepted') DESC, id DESC LIMIT 1", (challenge,), one=True)
        return None if row is None else dict(zip(ENTRY_COLUMNS, row))

    def count(self) -> int:
        return int(self._fetch("SELECT COUNT(*) FROM entries", one=True)[0])

    def entries(self, *, bodies: bool = True, start: int = 1, stop: int | None = None):
        if bodies:
            cols = ", ".join(ENTRY_COLUMNS)
        else:  # an empty marker where a body is stored, NULL where none is
            cols = ", ".join(c if c not in ("bundle", "attestations") else
                             f"CASE WHEN {c} IS NULL THEN NULL ELSE X'' END" for c in ENTRY_COLUMNS)
        sql = f"SELECT {cols} FROM entries WHERE id >= ?" + (" AND id < ?" if stop is not None else "") + " ORDER BY id"
        args = (start,) if stop is None else (start, stop)
        for row in self._query(sql, args):
            yield dict(zip(ENTRY_COLUMNS, row))

    def entries_by_id(self, ids):
        out: list[dict] = []
        ids = list(ids)
        for k in range(0, len(ids), 500):
            chunk = ids[k:k + 500]
            rows = self._fetch(f"SELECT {', '.join(ENTRY_COLUMNS)} FROM entries WHERE id IN "
                               f"({', '.join('?' * len(chunk))}) ORDER BY id", chunk)
            out.extend(dict(zip(ENTRY_COLUMNS, row)) for row in rows)
        return out

    def heads(self):
        for row in self._fetch(f"SELECT {', '.join(HEAD_COLUMNS)} FROM heads ORDER BY tree_size"):
            yield dict(zip(HEAD_COLUMNS, row))

    def latest_head(self):
        row = self._fetch(f"SELECT {', '.join(HEAD_COLUMNS)} FROM heads ORDER BY tree_size DESC LIMIT 1", one=True)
        return None if row is None else dict(zip(HEAD_COLUMNS, row))

    def documents(self, table: str):
        if table not in DOCUMENT_TABLES:
            raise InputError("unknown document table")
        return [(str(d), _as_bytes(b)) for d, b in self._fetch(f"SELECT digest, body FROM {table}")]

    def document(self, table: str, digest: str):
        if table not in DOCUMENT_TABLES:
            raise InputError("unknown document table")
        row = self._fetch(f"SELECT body FROM {table} WHERE digest = ?", (digest,), one=True)
        return None if row is None else _as_bytes(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _as_bytes(value) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return str(value).encode("utf-8", "surrogateescape")
