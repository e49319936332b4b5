"""One PostgreSQL connection that survives a server restart: :class:`PgConnection` runs a unit of
work under a lock, turns a lost connection into :class:`~zkmargin.errors.DatabaseUnavailableError`
(the service answers 503) and reconnects on the next call. A connection idle for more than half
a second is pinged before use, so a restart between requests costs no failed request.

A database is named by a libpq URL (``postgresql://user@host:port/dbname``) or key/value string;
:func:`is_database_url` tells one from a file path, :func:`redact` is the form that may appear in a
message (never a password). psycopg 3 (the ``postgres`` extra) is imported on first use.

May import :mod:`zkmargin.errors`. Used by the PostgreSQL log store (:mod:`.postgres`), its
migrations (:mod:`.migrations`) and the service's shared state
(:mod:`zkmargin.workflows.service.shared`).
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

from zkmargin.errors import DatabaseUnavailableError, LogError, MissingExtraError

T = TypeVar("T")

POSTGRES_HINT = "a PostgreSQL database needs the 'postgres' extra: pip install 'zkmargin[postgres]'"
CONNECT_TIMEOUT_S = 5
RETRY_AFTER_S = 1.0
PING_AFTER_IDLE_S = 0.5


def is_database_url(target: Any) -> bool:
    """Whether ``target`` names a PostgreSQL database rather than a file."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def redact(dsn: str) -> str:
    """The URL without its password (and without any query string): what a message may show."""
    try:
        u = urllib.parse.urlsplit(dsn)
        host = u.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = (f"{u.username}@" if u.username else "") + host + (f":{u.port}" if u.port else "")
        return urllib.parse.urlunsplit((u.scheme, netloc, u.path, "", ""))
    except ValueError:
        return "postgresql://(unreadable URL)"


def psycopg_module():
    try:
        import psycopg
    except ImportError:
        raise MissingExtraError(POSTGRES_HINT) from None
    return psycopg


class PgConnection:
    """A lazily (re)opened autocommit connection, shared by the threads of one process under a
    lock. ``read_only`` makes every transaction of the session read-only (auditors)."""

    def __init__(self, dsn: str, *, read_only: bool = False, application: str = "zkmargin"):
        self.dsn = dsn
        self.name = redact(dsn)
        self.read_only = read_only
        self.application = application
        self._lock = threading.RLock()
        self._conn: Any = None
        self._used = 0.0
        self.psycopg = psycopg_module()

    def _open(self):
        pg = self.psycopg
        try:
            conn = pg.connect(self.dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                              application_name=self.application)
        except pg.OperationalError as exc:
            raise DatabaseUnavailableError(f"cannot reach the database ({_first_line(exc)})", source=self.name,
                                           retry_after=RETRY_AFTER_S) from None
        except pg.Error as exc:
            raise LogError(f"cannot open the database ({_first_line(exc)})", source=self.name) from None
        if self.read_only:
            conn.execute("SET default_transaction_read_only = on")
        return conn

    def run(self, work: Callable[[Any], T]) -> T:
        """``work(connection)`` under the lock. A lost connection raises
        :class:`DatabaseUnavailableError` and is reopened next time; other database errors raise
        :class:`LogError` (a message without the URL's password)."""
        pg = self.psycopg
        with self._lock:
            if self._conn is not None and not self._conn.closed and not self._conn.broken and \
                    time.monotonic() - self._used > PING_AFTER_IDLE_S:
                try:  # idle for a while: the server may have restarted since (nothing done yet)
                    self._conn.execute("SELECT 1")
                except pg.Error:
                    self._drop()
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._conn = self._open()
            self._used = time.monotonic()
            try:
                return work(self._conn)
            except (pg.OperationalError, pg.InterfaceError) as exc:
                self._drop()
                raise DatabaseUnavailableError(f"the database connection was lost ({_first_line(exc)})",
                                               source=self.name, retry_after=RETRY_AFTER_S) from None
            except pg.errors.ReadOnlySqlTransaction:
                raise LogError("the log is opened read-only", source=self.name) from None
            except pg.Error as exc:
                if self._conn.broken:
                    self._drop()
                    raise DatabaseUnavailableError(f"the database connection was lost ({_first_line(exc)})",
                                                   source=self.name, retry_after=RETRY_AFTER_S) from None
                raise LogError(f"the database refused the operation ({_first_line(exc)})", source=self.name) from None

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - it is gone either way
                pass

    def close(self) -> None:
        with self._lock:
            self._drop()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
