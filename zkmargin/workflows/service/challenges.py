"""The service's challenges: each issued to one client, single-use by that client, expiring after a
fixed time, capped per client and in total.

May import :mod:`zkmargin.errors` and :mod:`.responses`. Used by the app.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque

from ...errors import RateLimitedError, ReplayError, ServiceBusyError
from .responses import retry_seconds

DEFAULT_CHALLENGE_TTL = 300.0
CHALLENGE_BYTES = 32


class ChallengeStore:
    """Issued challenges, each bound to the client it was issued to, with its expiry; each can be
    consumed once, by that client. Used challenges are remembered until they expire, so a replay
    gets a precise message. Outstanding (unused, unexpired) challenges are capped per client and
    in total. All challenges live ``ttl`` seconds, so expiry order is issue order and expired ones
    are dropped from the front of a queue (amortized O(1) per call)."""

    def __init__(self, ttl: float = DEFAULT_CHALLENGE_TTL, max_outstanding: int = 100_000):
        self.ttl = float(ttl)
        self.max_outstanding = int(max_outstanding)
        self._lock = threading.Lock()
        self._queue: deque[tuple[float, bytes]] = deque()  # (expires, challenge), issue order
        self._owner: dict[bytes, str] = {}  # outstanding challenge -> client id
        self._by_client: dict[str, dict[bytes, float]] = {}  # client -> {challenge: expires}, oldest first
        self._used: dict[bytes, str] = {}  # used, not yet expired challenge -> client id

    def _purge(self, now: float) -> None:
        q = self._queue
        while q and q[0][0] <= now:
            _exp, c = q.popleft()
            owner = self._owner.pop(c, None)
            if owner is not None:
                mine = self._by_client[owner]
                mine.pop(c, None)
                if not mine:
                    del self._by_client[owner]
            self._used.pop(c, None)

    def issue(self, owner: str = "", limit: int | None = None) -> tuple[bytes, float]:
        """A fresh challenge for client ``owner``, who may hold at most ``limit`` outstanding
        (None: no per-client cap). Raises :class:`RateLimitedError` (that client's cap) or
        :class:`ServiceBusyError` (the global cap), each with ``retry_after``."""
        now = time.monotonic()
        with self._lock:
            self._purge(now)
            mine = self._by_client.get(owner, {})
            if limit is not None and len(mine) >= limit:
                oldest = next(iter(mine.values()))
                raise RateLimitedError(f"this client holds {len(mine)} unused challenges, its limit; "
                                       "use or let one expire", retry_after=retry_seconds(oldest - now))
            if len(self._owner) >= self.max_outstanding:
                raise ServiceBusyError("too many outstanding challenges; try again later",
                                       retry_after=retry_seconds(self._queue[0][0] - now))
            c = secrets.token_bytes(CHALLENGE_BYTES)
            exp = now + self.ttl
            self._queue.append((exp, c))
            self._owner[c] = owner
            self._by_client.setdefault(owner, {})[c] = exp
            return c, self.ttl

    def consume(self, challenge: bytes, owner: str = "") -> None:
        """Use ``challenge`` once, as client ``owner``. A challenge issued to another client is
        refused like one never issued, and stays usable by its owner."""
        now = time.monotonic()
        with self._lock:
            if self._used.get(challenge) == owner:
                raise ReplayError("the challenge was used already; ask for a fresh one")
            if self._owner.get(challenge) != owner:
                raise ReplayError("the challenge was not issued to this client (or it expired)")
            exp = self._by_client[owner][challenge]
            if exp <= now:
                raise ReplayError("the challenge expired; ask for a fresh one")
            del self._owner[challenge]
            mine = self._by_client[owner]
            del mine[challenge]
            if not mine:
                del self._by_client[owner]
            self._used[challenge] = owner
            self._purge(now)

    def release(self, challenge: bytes, owner: str = "") -> None:
        """Make a consumed challenge usable again by its owner (the service could not record its
        verification: nothing was answered). A no-op when it is not this owner's used one."""
        now = time.monotonic()
        with self._lock:
            if self._used.get(challenge) != owner:
                return
            for exp, c in self._queue:
                if c == challenge:
                    if exp > now:
                        del self._used[challenge]
                        self._owner[challenge] = owner
                        self._by_client.setdefault(owner, {})[challenge] = exp
                    return

    def owner(self, challenge: bytes) -> str | None:
        """The client a challenge was issued to, while it is remembered (until it expires)."""
        with self._lock:
            return self._used.get(challenge) or self._owner.get(challenge)

    def outstanding(self, owner: str | None = None) -> int:
        """Unused, unexpired challenges: of one client, or of all."""
        now = time.monotonic()
        with self._lock:
            self._purge(now)
            if owner is None:
                return len(self._owner)
            return len(self._by_client.get(owner, ()))

    def __len__(self) -> int:
        return self.outstanding()
