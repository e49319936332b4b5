"""The service's state shared by several worker processes (and hosts) through PostgreSQL: the
challenge store and the moving-window request rates, in the tables of schema migration 2
(:mod:`zkmargin.verifier.log.migrations`). Same interfaces and the same answers as the in-memory
:class:`~.challenges.ChallengeStore` and :class:`~.quotas.RequestRates` one process uses.

Why tables of our own rather than a ``limits`` storage: ``limits`` has no PostgreSQL storage
(Redis, Memcached, MongoDB, etcd), and the challenges must live in the same database as the log
anyway — one server to run, back up and restart, and one place where "issued to this client,
used once" is decided. Both are small:

* challenges: ``issue`` takes one advisory lock (the outstanding caps are exact across workers),
  counts the client's and everyone's unused, unexpired challenges and inserts; ``consume`` is one
  ``UPDATE … WHERE challenge = $1 AND client = $2 AND used IS NULL AND expires > now RETURNING``,
  so two workers can never both use a challenge; a refusal is then explained by one read
  (used already / expired / not issued to this client — the last also for another client's
  challenge, which stays usable by its owner). Expiry is by wall-clock time (shared by the hosts).
* rates: one row per counted request; ``admit`` takes the key's advisory lock, counts the hits
  inside the window and inserts one when below the rate — the moving window of ``limits``,
  exact across workers. The client's rate is checked first (429) and a request over it never
  counts against the global rate (503).

These transactions commit with ``synchronous_commit = off``: a crash of the database may forget
the last few milliseconds of issued challenges and counted requests (a client then asks again),
never a log entry — the log's appends stay synchronous, and its unique index on accepted
challenges forbids a second acceptance even if a challenge's "used" mark were lost. Rows older
than their window (challenges: expired for a minute) are purged every few seconds.

A lost database connection raises :class:`~zkmargin.errors.DatabaseUnavailableError` (503 with
``Retry-After``); the next request reconnects.

May import :mod:`zkmargin.errors`, the log's PostgreSQL connection and migrations, and the
service's :mod:`.responses` and :mod:`.clients`. Used by the app (``--db postgresql://…``).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from ...errors import RateLimitedError, ReplayError, ServiceBusyError
from ...verifier.log.migrations import check_schema
from ...verifier.log.pg_connection import PgConnection
from .challenges import CHALLENGE_BYTES, DEFAULT_CHALLENGE_TTL
from .clients import Rate
from .responses import retry_seconds

ISSUE_LOCK = 0x7A6B6D63  # "zkmc": the challenge store's one advisory lock
RATE_LOCK_SPACE = 0x7A6B6D72  # "zkmr": advisory locks (space, hashtext(key)) of the rate keys
PURGE_EVERY_S = 5.0
CHALLENGE_GRACE_S = 60.0


def _fast_commit(conn: Any) -> None:
    conn.execute("SET LOCAL synchronous_commit = off")


class PgChallengeStore:
    """:class:`~.challenges.ChallengeStore` in PostgreSQL, shared by every worker."""

    def __init__(self, dsn: str, ttl: float = DEFAULT_CHALLENGE_TTL, max_outstanding: int = 100_000):
        self.ttl = float(ttl)
        self.max_outstanding = int(max_outstanding)
        self.db = PgConnection(dsn, application="zkmargin-challenges")
        check_schema(self.db, create=True)
        self._purged = 0.0

    def _purge(self, conn: Any, now: float) -> None:
        if now - self._purged >= PURGE_EVERY_S:
            self._purged = now
            conn.execute("DELETE FROM service_challenges WHERE expires < %s", (now - CHALLENGE_GRACE_S,))

    def issue(self, owner: str = "", limit: int | None = None) -> tuple[bytes, float]:
        def work(conn: Any) -> tuple[bytes, float]:
            now = time.time()
            with conn.transaction():
                _fast_commit(conn)
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (ISSUE_LOCK,))
                self._purge(conn, now)
                if limit is not None:
                    n, oldest = conn.execute(
                        "SELECT COUNT(*), MIN(expires) FROM service_challenges WHERE client = %s AND used IS NULL "
                        "AND expires > %s", (owner, now)).fetchone()
                    if n >= limit:
                        raise RateLimitedError(f"this client holds {n} unused challenges, its limit; use or let one "
                                               "expire", retry_after=retry_seconds(float(oldest) - now))
                total, first = conn.execute("SELECT COUNT(*), MIN(expires) FROM service_challenges WHERE used IS NULL "
                                            "AND expires > %s", (now,)).fetchone()
                if total >= self.max_outstanding:
                    raise ServiceBusyError("too many outstanding challenges; try again later",
                                           retry_after=retry_seconds(float(first) - now))
                c = secrets.token_bytes(CHALLENGE_BYTES)
                conn.execute("INSERT INTO service_challenges(challenge, client, issued, expires) VALUES (%s, %s, %s, %s)",
                             (c, owner, now, now + self.ttl))
            return c, self.ttl

        return self.db.run(work)

    def consume(self, challenge: bytes, owner: str = "") -> None:
        def work(conn: Any) -> None:
            now = time.time()
            with conn.transaction():
                _fast_commit(conn)
                row = conn.execute("UPDATE service_challenges SET used = %s WHERE challenge = %s AND client = %s "
                                   "AND used IS NULL AND expires > %s RETURNING 1", (now, challenge, owner, now)).fetchone()
            if row is not None:
                return
            why = conn.execute("SELECT client, expires, used FROM service_challenges WHERE challenge = %s",
                               (challenge,)).fetchone()
            if why is not None and why[0] == owner:
                if why[2] is not None:
                    raise ReplayError("the challenge was used already; ask for a fresh one")
                raise ReplayError("the challenge expired; ask for a fresh one")
            raise ReplayError("the challenge was not issued to this client (or it expired)")

        self.db.run(work)

    def release(self, challenge: bytes, owner: str = "") -> None:
        """Make a consumed challenge usable again by its owner (its verification was not
        recorded). Safe even if the record did commit unseen: the log accepts a challenge once."""
        self.db.run(lambda c: c.execute("UPDATE service_challenges SET used = NULL WHERE challenge = %s AND "
                                        "client = %s AND used IS NOT NULL", (challenge, owner)))

    def owner(self, challenge: bytes) -> str | None:
        """The client a challenge was issued to (until its row is purged, a minute after expiry)."""
        row = self.db.run(lambda c: c.execute("SELECT client FROM service_challenges WHERE challenge = %s",
                                              (challenge,)).fetchone())
        return None if row is None else str(row[0])

    def outstanding(self, owner: str | None = None) -> int:
        now = time.time()
        if owner is None:
            return int(self.db.run(lambda c: c.execute(
                "SELECT COUNT(*) FROM service_challenges WHERE used IS NULL AND expires > %s", (now,)).fetchone()[0]))
        return int(self.db.run(lambda c: c.execute(
            "SELECT COUNT(*) FROM service_challenges WHERE client = %s AND used IS NULL AND expires > %s",
            (owner, now)).fetchone()[0]))

    def __len__(self) -> int:
        return self.outstanding()

    def close(self) -> None:
        self.db.close()


class PgRequestRates:
    """:class:`~.quotas.RequestRates` in PostgreSQL: moving windows shared by every worker."""

    def __init__(self, dsn: str):
        self.db = PgConnection(dsn, application="zkmargin-rates")
        check_schema(self.db, create=True)
        self._purged = 0.0
        self._longest = 1

    def _hit(self, conn: Any, key: str, rate: Rate, now: float) -> float | None:
        """Count one hit on ``key`` if below ``rate``; else the seconds until one is allowed."""
        with conn.transaction():
            _fast_commit(conn)
            conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (RATE_LOCK_SPACE, key))
            since = now - rate.seconds
            n, oldest = conn.execute("SELECT COUNT(*), MIN(at) FROM (SELECT at FROM service_rate_hits WHERE key = %s "
                                     "AND at > %s ORDER BY at DESC LIMIT %s) w", (key, since, rate.count)).fetchone()
            if n >= rate.count:
                return float(oldest) + rate.seconds - now
            conn.execute("INSERT INTO service_rate_hits(key, at) VALUES (%s, %s)", (key, now))
            if now - self._purged >= PURGE_EVERY_S:
                self._purged = now
                conn.execute("DELETE FROM service_rate_hits WHERE at < %s", (now - self._longest,))
        return None

    def admit(self, kind: str, client_id: str, client_rate: Rate | None, global_rate: Rate | None) -> None:
        for rate in (client_rate, global_rate):
            if rate is not None:
                self._longest = max(self._longest, int(rate.seconds))

        def work(conn: Any) -> None:
            now = time.time()
            if client_rate is not None:
                wait = self._hit(conn, f"{kind}/client/{client_id}", client_rate, now)
                if wait is not None:
                    raise RateLimitedError(f"this client is over its {kind} rate ({client_rate})",
                                           retry_after=retry_seconds(wait))
            if global_rate is not None:
                wait = self._hit(conn, f"{kind}/global", global_rate, now)
                if wait is not None:
                    raise ServiceBusyError(f"the service is at its global {kind} rate; try again later",
                                           retry_after=retry_seconds(wait))

        self.db.run(work)

    def close(self) -> None:
        self.db.close()
