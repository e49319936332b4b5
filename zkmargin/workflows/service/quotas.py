"""The service's quotas: its limits (per client by default, and for the whole service) and the
moving-window request rates that enforce them (the ``limits`` library, imported on first use).

May import :mod:`zkmargin.errors`, the clients file (:mod:`.clients`: rates and a client's own
quotas) and :mod:`.responses`. Used by the app and the CLI (``serve`` builds the limits from its
options).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from ...errors import InputError, RateLimitedError, ServiceBusyError
from .clients import Client, ClientRegistry, Rate, parse_rate
from .responses import retry_seconds

DEFAULT_BODY_TIMEOUT = 30.0


@dataclass(frozen=True)
class ServiceLimits:
    """The service's quotas. ``client_*`` are the defaults for clients whose entry in the clients
    file sets none; ``None`` there means no per-client cap (one client could then take a whole
    global cap — the start-up warning says so). ``global_*`` bound the whole service."""

    client_challenges: Rate | None = parse_rate("60/minute")
    client_verifies: Rate | None = parse_rate("60/minute")
    client_outstanding: int | None = 16
    global_challenges: Rate | None = parse_rate("200/second")
    global_verifies: Rate | None = parse_rate("100/second")
    global_outstanding: int = 100_000
    body_timeout: float = DEFAULT_BODY_TIMEOUT

    @classmethod
    def build(cls, *, client_challenges: str = "60/minute", client_verifies: str = "60/minute",
              client_outstanding: int = 16, global_challenges: str = "200/second",
              global_verifies: str = "100/second", global_outstanding: int = 100_000,
              body_timeout: float = DEFAULT_BODY_TIMEOUT) -> ServiceLimits:
        """From the command line's option values (rates as text); errors name the option."""
        for name, value in (("--client-outstanding", client_outstanding), ("--global-outstanding", global_outstanding)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError("must be a positive integer", field=name)
        if not (isinstance(body_timeout, (int, float)) and math.isfinite(body_timeout) and body_timeout > 0):
            raise InputError("must be a positive number of seconds", field="--body-timeout")
        return cls(
            client_challenges=parse_rate(client_challenges, field="--client-challenges"),
            client_verifies=parse_rate(client_verifies, field="--client-verifies"),
            client_outstanding=client_outstanding,
            global_challenges=parse_rate(global_challenges, field="--global-challenges"),
            global_verifies=parse_rate(global_verifies, field="--global-verifies"),
            global_outstanding=global_outstanding,
            body_timeout=float(body_timeout),
        )

    def for_client(self, client: Client) -> tuple[Rate | None, Rate | None, int | None]:
        q = client.quotas
        return (q.challenges or self.client_challenges, q.verifies or self.client_verifies,
                q.outstanding if q.outstanding is not None else self.client_outstanding)

    def warnings(self, clients: ClientRegistry) -> list[str]:
        """Where the registered clients' own caps add up to more than a global cap."""
        out = []
        quotas = [self.for_client(c) for c in clients]

        def per_second(r: Rate | None) -> float:
            return math.inf if r is None else r.count / r.seconds

        for name, cap, rates in (("challenge rate", self.global_challenges, [q[0] for q in quotas]),
                                 ("verify rate", self.global_verifies, [q[1] for q in quotas])):
            if cap is not None and sum(per_second(r) for r in rates) > per_second(cap):
                out.append(f"the clients' {name}s add up to more than the global {name} ({cap}): "
                           "clients at their caps together can exhaust it")
        if sum(math.inf if q[2] is None else float(q[2]) for q in quotas) > self.global_outstanding:
            out.append(f"the clients' outstanding-challenge caps add up to more than the global cap "
                       f"({self.global_outstanding}): clients at their caps together can exhaust it")
        return out


class RequestRates:
    """Moving-window request rates per client and for the whole service, with the ``limits``
    library. Its in-memory storage serves one process; a shared storage (any ``limits`` storage
    with moving-window support, e.g. Redis) can be passed in once the challenge store is shared
    as well."""

    def __init__(self, storage=None):
        from limits import storage as limits_storage
        from limits import strategies

        self.storage = storage if storage is not None else limits_storage.MemoryStorage()
        self.window = strategies.MovingWindowRateLimiter(self.storage)
        self._items: dict[Rate, Any] = {}

    def _item(self, rate: Rate):
        item = self._items.get(rate)
        if item is None:
            from limits import RateLimitItemPerSecond

            item = self._items[rate] = RateLimitItemPerSecond(rate.count, rate.seconds)
        return item

    def _retry(self, item, *ids: str) -> int:
        stats = self.window.get_window_stats(item, *ids)
        return retry_seconds(stats.reset_time - time.time())

    def admit(self, kind: str, client_id: str, client_rate: Rate | None, global_rate: Rate | None) -> None:
        """Count one ``kind`` request of ``client_id``: its own rate first (429), then the global
        one (503). A request over its own rate is not counted against the global rate."""
        if client_rate is not None:
            item = self._item(client_rate)
            if not self.window.hit(item, kind, "client", client_id):
                raise RateLimitedError(f"this client is over its {kind} rate ({client_rate})",
                                       retry_after=self._retry(item, kind, "client", client_id))
        if global_rate is not None:
            item = self._item(global_rate)
            if not self.window.hit(item, kind, "global"):
                raise ServiceBusyError(f"the service is at its global {kind} rate; try again later",
                                       retry_after=self._retry(item, kind, "global"))
