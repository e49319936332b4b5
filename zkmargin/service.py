"""The venue's verification service: an ASGI app (FastAPI) served by uvicorn, for authenticated
clients with per-client quotas.

Install the extra: ``pip install 'zkmargin[serve]'``. Every client is registered by the venue in a
clients file (``zkmargin.clients/1``, :mod:`zkmargin.clients`; ``zkmargin client-add``) with the
account (``subject``) the venue knows it by, and authenticates with its API key::

    Authorization: Bearer zkm_<key id>_<secret>

Endpoints (OpenAPI document at ``/openapi.json``, interactive docs at ``/docs``)::

    POST /v1/challenge   (key)  -> {"challenge": hex (32 bytes), "expires_at", "expires_in",
                                    "policy_digest", "market_digest", "threshold", "circuit_digest"}
    POST /v1/verify      (key)  {"bundle": <proof bundle>, "challenge": hex,
                                  (a zkmargin.proof/2 bundle carries its custodian attestations)}
                                -> 200 {"valid": true, "statement", "gates", "seconds",
                                        "entry", "receipt", "trust"}
    GET  /v1/client      (key)  -> {"id", "subject", "quotas", "outstanding_challenges"}: the
                                   caller's own registration, nothing about other clients
    GET  /v1/health             -> {"status": "ok", "version", digests, "threshold", "keeps_log"}
    GET  /v1/policy, /v1/market    the documents proofs must be made against (canonical JSON)
    GET  /v1/log/head           -> the log's latest signed tree head (zkmargin.sth/1, for auditors)

Status codes (errors are one JSON object ``{"error": one line, "code": error class}``, plus
``"entry"``/``"receipt"`` when a rejected verification was logged):

    200  challenge issued; proof accepted (and logged)
    400  malformed request: not JSON, missing fields, bad hex, a bundle that does not parse
         (never stored in the verification log; the server logs its digest and the reason)
    401  no API key, or one the venue does not know (``WWW-Authenticate: Bearer``); the same
         answer whatever the reason
    404  unknown path; ``/v1/log/head`` when the service keeps no log
    408  the request body did not arrive within the body timeout
    409  the challenge was used already, expired, or was not issued to this client (a challenge
         of another client is refused exactly like a never-issued one and is not used up)
    413  the body is over the limit (from ``Content-Length``, or counted while a chunked body
         streams in, before anything is parsed)
    422  the proof (or its attestations) was rejected; logged
    429  this client is over its own quota: challenge or verify requests per window, or
         outstanding challenges; ``Retry-After`` says when to retry
    500  internal error (the log unavailable, a bug): no detail leaves the server
    503  the service as a whole is at a global cap (outstanding challenges, request rate);
         ``Retry-After``

Order of checks on an authenticated route, before the body is read: the key (401), then the
client's own request rate (429), then the global rate (503) — so a client over its own quota never
spends the global budget. Then the body (413, 408), its parsing (400), for a challenge the
client's outstanding cap (429) and the global one (503), for a verification the challenge's owner
and single use (409), then the verification itself, with the client's ``subject`` as the account
the attestations must name (``verify_and_log(..., subject=client.subject)``).

With the default quotas (per client 60 challenges and 60 verifications a minute, 16 outstanding
challenges; globally 100_000 outstanding, 200 challenges and 100 verifications a second), one
client can hold at most 16 challenges and a sixth of a second's global budget: it cannot lock the
others out. A venue whose clients' caps add up to more than a global cap is warned at start-up.

Server-side logging (logger ``zkmargin.service``) writes one line per refused request with the
client id, the SHA-256 of the body and the reason, never the body, a key or a value. No response
carries a server path: messages are built without the file names errors carry.

No per-request timeout on the verification itself: its work is fixed by the service's own circuit
(the bundle must match it exactly and decodes strictly first), about the time of one multi-scalar
multiplication. What a client can stretch is the upload, and that is bounded by the body timeout.

FastAPI, starlette, uvicorn and limits are imported only by :func:`create_app`, :func:`serve`
and the rate limiter.
"""

# no "from __future__ import annotations": FastAPI reads the endpoints' annotations, and the
# Request class they name is imported inside create_app (the extra is optional)
import hashlib
import json
import logging
import math
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Optional

from pydantic import BaseModel, Field

from .clients import Client, ClientRegistry, ClientsFile, Rate, bearer_key, load_clients, parse_rate
from .errors import (
    AuthenticationError,
    InputError,
    LogError,
    MissingExtraError,
    RateLimitedError,
    Rejected,
    ReplayError,
    RequestTimeoutError,
    RequestTooLargeError,
    ServiceBusyError,
    ZkMarginError,
)

DEFAULT_MAX_BODY = 256 * 1024
DEFAULT_CHALLENGE_TTL = 300.0
DEFAULT_BODY_TIMEOUT = 30.0
CHALLENGE_BYTES = 32
MAX_MESSAGE_CHARS = 300

EXTRA_HINT = "the verification service needs the 'serve' extra: pip install 'zkmargin[serve]'"
AUTH_HINT = "a valid API key is required (Authorization: Bearer <key>)"

logger = logging.getLogger("zkmargin.service")


def _require_extra():
    try:
        import fastapi  # noqa: F401
        import limits  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise MissingExtraError(EXTRA_HINT) from None


@dataclass(frozen=True)
class ServiceLimits:
    """The service's quotas. ``client_*`` are the defaults for clients whose entry in the clients
    file sets none; ``None`` there means no per-client cap (one client could then take a whole
    global cap — the start-up warning says so). ``global_*`` bound the whole service."""

    client_challenges: Optional[Rate] = parse_rate("60/minute")
    client_verifies: Optional[Rate] = parse_rate("60/minute")
    client_outstanding: Optional[int] = 16
    global_challenges: Optional[Rate] = parse_rate("200/second")
    global_verifies: Optional[Rate] = parse_rate("100/second")
    global_outstanding: int = 100_000
    body_timeout: float = DEFAULT_BODY_TIMEOUT

    @classmethod
    def build(cls, *, client_challenges: str = "60/minute", client_verifies: str = "60/minute",
              client_outstanding: int = 16, global_challenges: str = "200/second",
              global_verifies: str = "100/second", global_outstanding: int = 100_000,
              body_timeout: float = DEFAULT_BODY_TIMEOUT) -> "ServiceLimits":
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

    def for_client(self, client: Client) -> tuple[Optional[Rate], Optional[Rate], Optional[int]]:
        q = client.quotas
        return (q.challenges or self.client_challenges, q.verifies or self.client_verifies,
                q.outstanding if q.outstanding is not None else self.client_outstanding)

    def warnings(self, clients: ClientRegistry) -> list[str]:
        """Where the registered clients' own caps add up to more than a global cap."""
        out = []
        quotas = [self.for_client(c) for c in clients]

        def per_second(r: Optional[Rate]) -> float:
            return math.inf if r is None else r.count / r.seconds

        for i, (name, cap) in enumerate((("challenge rate", self.global_challenges),
                                         ("verify rate", self.global_verifies))):
            if cap is not None and sum(per_second(q[i]) for q in quotas) > per_second(cap):
                out.append(f"the clients' {name}s add up to more than the global {name} ({cap}): "
                           "clients at their caps together can exhaust it")
        if sum(math.inf if q[2] is None else q[2] for q in quotas) > self.global_outstanding:
            out.append(f"the clients' outstanding-challenge caps add up to more than the global cap "
                       f"({self.global_outstanding}): clients at their caps together can exhaust it")
        return out


# --- API models (OpenAPI) ------------------------------------------------------------------------


class ChallengeResponse(BaseModel):
    challenge: str = Field(description="32 random bytes, hex; answer it within expires_in seconds, once, "
                                       "with the same API key")
    expires_at: str
    expires_in: float
    policy_digest: str
    market_digest: str
    threshold: str
    circuit_digest: str


class VerifyRequest(BaseModel):
    bundle: dict[str, Any] = Field(description="the proof bundle (zkmargin.proof/2, with its attestations)")
    challenge: str = Field(description="a challenge this service issued to this client, hex")


class LogRef(BaseModel):
    id: int
    result: str
    leaf_hash: str
    tree_size: int
    root_hash: str


class VerifyResponse(BaseModel):
    valid: bool
    statement: dict[str, Any]
    gates: int
    seconds: float
    entry: Optional[LogRef] = None
    receipt: Optional[dict[str, Any]] = Field(default=None, description="the log's receipt for this entry")
    trust: Optional[dict[str, Any]] = Field(default=None, description="who vouched for the committed values")


class ErrorResponse(BaseModel):
    error: str
    code: str
    entry: Optional[dict[str, Any]] = None
    receipt: Optional[dict[str, Any]] = None


class HealthResponse(BaseModel):
    status: str
    version: str
    policy_digest: str
    market_digest: str
    threshold: str
    circuit_digest: str
    keeps_log: bool


class ClientInfo(BaseModel):
    id: str
    subject: str
    quotas: dict[str, Any]
    outstanding_challenges: int


class LogHead(BaseModel):
    format: str
    log_id: str
    tree_size: int
    timestamp: int
    root_hash: str
    signature: str


# --- challenges ----------------------------------------------------------------------------------


def _retry_after(seconds: float) -> int:
    return max(1, math.ceil(seconds))


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

    def issue(self, owner: str = "", limit: Optional[int] = None) -> tuple[bytes, float]:
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
                                       "use or let one expire", retry_after=_retry_after(oldest - now))
            if len(self._owner) >= self.max_outstanding:
                raise ServiceBusyError("too many outstanding challenges; try again later",
                                       retry_after=_retry_after(self._queue[0][0] - now))
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

    def outstanding(self, owner: Optional[str] = None) -> int:
        """Unused, unexpired challenges: of one client, or of all."""
        now = time.monotonic()
        with self._lock:
            self._purge(now)
            if owner is None:
                return len(self._owner)
            return len(self._by_client.get(owner, ()))

    def __len__(self) -> int:
        return self.outstanding()


# --- request rates -------------------------------------------------------------------------------


class RequestRates:
    """Moving-window request rates per client and for the whole service, with the ``limits``
    library. Its in-memory storage serves one process; a shared storage (any ``limits`` storage
    with moving-window support, e.g. Redis) can be passed in once the challenge store is shared
    as well."""

    def __init__(self, storage=None):
        from limits import storage as limits_storage, strategies

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
        return _retry_after(stats.reset_time - time.time())

    def admit(self, kind: str, client_id: str, client_rate: Optional[Rate], global_rate: Optional[Rate]) -> None:
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


# --- errors and what a response may say ----------------------------------------------------------


def _status(exc: ZkMarginError) -> int:
    if isinstance(exc, AuthenticationError):
        return 401
    if isinstance(exc, RequestTimeoutError):
        return 408
    if isinstance(exc, RequestTooLargeError):
        return 413
    if isinstance(exc, ReplayError):
        return 409
    if isinstance(exc, RateLimitedError):
        return 429
    if isinstance(exc, ServiceBusyError):
        return 503
    if isinstance(exc, LogError):
        return 500
    if isinstance(exc, Rejected):
        return 422
    return 400


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS - 3] + "..."


def public_message(exc: ZkMarginError) -> str:
    """The one line a client may see: the message and field, never the file (``source``) an
    error names on the server, at most a few hundred characters (a message that quotes a client's
    key names cannot grow with them); server-side faults say no more than that."""
    if isinstance(exc, LogError):
        return "the verification log is unavailable; nothing was recorded"
    text = f"field {exc.field!r}: {exc.message}" if exc.field else exc.message
    return _short(text)


def _jsonable(value):
    """A result's extra (the log entry, the receipt, the trust summary) as JSON: objects that
    know their JSON form are asked for it."""
    return value.to_json_dict() if hasattr(value, "to_json_dict") else value


def error_body(exc: ZkMarginError) -> dict:
    """The JSON of a refusal; a rejected verification that was logged carries its entry and
    receipt, like an accepted one."""
    body: dict = {"error": public_message(exc), "code": type(exc).__name__}
    for key, attr in (("entry", "log_entry"), ("receipt", "receipt")):
        value = getattr(exc, attr, None)
        if value is not None:
            body[key] = _jsonable(value)
    return body


def error_headers(exc: ZkMarginError) -> dict:
    headers = {}
    retry = getattr(exc, "retry_after", None)
    if retry is not None:
        headers["Retry-After"] = str(_retry_after(retry))
    if isinstance(exc, AuthenticationError):
        headers["WWW-Authenticate"] = "Bearer"
    return headers


def log_refusal(scope: dict, status: int, code: str, reason: str) -> None:
    """One line per refused request: client id, SHA-256 of the body, status and reason."""
    client = scope.get("zkmargin.client")
    level = logging.INFO if status in (401, 429) else logging.WARNING
    logger.log(level, "refused status=%d client=%s body_sha256=%s code=%s reason=%s", status,
            client.id if client is not None else "-", scope.get("zkmargin.body_sha256", "-"), code,
            _short(reason))


async def send_json(send, status: int, body: dict, headers: Optional[dict] = None, *, close: bool = False) -> None:
    data = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if close:
        raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


async def send_error(scope, send, exc: ZkMarginError, *, close: bool = False) -> None:
    status = _status(exc)
    log_refusal(scope, status, type(exc).__name__, public_message(exc))
    await send_json(send, status, error_body(exc), error_headers(exc), close=close)


def _has_body(scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding":
            return True
        if name == b"content-length" and value.strip() not in (b"0", b""):
            return True
    return False


# --- ASGI layers ---------------------------------------------------------------------------------


class ClientGate:
    """ASGI middleware, outermost: on an authenticated route, the API key (401) and the request
    rates (429 for the client's own, 503 for the global one) are checked from the headers,
    before a byte of the body is read. The client is put in ``scope["zkmargin.client"]``."""

    ROUTES = {"/v1/challenge": "challenge", "/v1/verify": "verify", "/v1/client": None}

    def __init__(self, app, service: "Service"):
        self.app = app
        self.service = service

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("path") not in self.ROUTES:
            return await self.app(scope, receive, send)
        kind = self.ROUTES[scope["path"]]
        try:
            auth = None
            for name, value in scope.get("headers", ()):
                if name == b"authorization":
                    auth = value.decode("latin-1")
                    break
            client = self.service.authenticate(auth)
            scope["zkmargin.client"] = client
            if kind is not None and scope.get("method") == "POST":
                self.service.admit(client, kind)
        except ZkMarginError as exc:
            return await send_error(scope, send, exc, close=_has_body(scope))
        return await self.app(scope, receive, send)


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_body`` bytes with 413, from the
    Content-Length header when there is one and by counting the bytes as they stream in
    otherwise (chunked transfer), before the application parses anything; refuse a body that
    has not arrived within ``timeout`` seconds with 408. Puts the body's SHA-256 in
    ``scope["zkmargin.body_sha256"]`` for the server log."""

    def __init__(self, app, max_body: int, timeout: float = DEFAULT_BODY_TIMEOUT):
        self.app = app
        self.max_body = int(max_body)
        self.timeout = float(timeout)

    async def _read(self, receive) -> Optional[bytearray]:
        body = bytearray()
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return None
            body += msg.get("body", b"")
            if len(body) > self.max_body:
                raise RequestTooLargeError(f"the request body is over {self.max_body} bytes")
            if not msg.get("more_body", False):
                return body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        import anyio

        try:
            for name, value in scope.get("headers", ()):
                if name == b"content-length":
                    try:
                        n = int(value)
                    except ValueError:
                        raise InputError("bad Content-Length") from None
                    if n > self.max_body:
                        raise RequestTooLargeError(f"the request body is over {self.max_body} bytes")
            try:
                with anyio.fail_after(self.timeout):
                    body = await self._read(receive)
            except TimeoutError:
                raise RequestTimeoutError(f"the request body did not arrive within {self.timeout:g} s") from None
        except ZkMarginError as exc:
            return await send_error(scope, send, exc, close=True)
        if body is None:
            return
        scope["zkmargin.body_sha256"] = hashlib.sha256(body).hexdigest()
        delivered = False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


# --- the service ---------------------------------------------------------------------------------


class Service:
    """What one service instance holds: its own policy, market, threshold (a prepared verifier),
    its clients, the challenge store, the request rates and the log."""

    def __init__(self, policy, market, threshold=0, *, clients, log=None, log_key=None,
                 challenge_ttl: float = DEFAULT_CHALLENGE_TTL, limits: Optional[ServiceLimits] = None,
                 rate_storage=None, max_age: Optional[float] = None, backend=None):
        from .api import _Verifier
        from .rules.decimals import canonical
        from .rules.digests import market_digest, policy_digest
        from .verifier.log import VerificationLog

        self.verifier = _Verifier(market, policy, threshold, backend)
        self.policy_digest = policy_digest(self.verifier.policy)
        self.market_digest = market_digest(self.verifier.market)
        self.threshold = canonical(self.verifier.threshold)
        self.circuit_digest = self.verifier.cs.digest().hex()
        self.trust_rule = self.verifier.trust_rule.tightened(max_age)  # a bad max_age fails here
        self.max_age = max_age
        if not (isinstance(challenge_ttl, (int, float)) and math.isfinite(challenge_ttl) and challenge_ttl > 0):
            raise InputError("must be a positive number of seconds", field="--challenge-ttl")
        self.limits = limits or ServiceLimits()
        if isinstance(clients, (ClientRegistry, dict)):
            registry = load_clients(clients)
            self._clients = lambda: registry
        else:
            watched = ClientsFile(clients)
            self._clients = watched.registry
        for warning in self.limits.warnings(self._clients()):
            logger.warning("%s", warning)
        self.challenges = ChallengeStore(challenge_ttl, self.limits.global_outstanding)
        self.rates = RequestRates(rate_storage)
        self.log = None if log is None else (
            log if isinstance(log, VerificationLog) else VerificationLog(log, signing_key=log_key))
        if self.log is not None:
            self.log.require_signing_key()

    # --- who is asking ---------------------------------------------------------------------------

    def authenticate(self, authorization: Optional[str]) -> Client:
        client = self._clients().authenticate(bearer_key(authorization))
        if client is None:
            raise AuthenticationError(AUTH_HINT)
        return client

    def admit(self, client: Client, kind: str) -> None:
        """Count one request (``"challenge"`` or ``"verify"``) against the client's rate and the
        global one."""
        ch_rate, vf_rate, _ = self.limits.for_client(client)
        if kind == "challenge":
            self.rates.admit(kind, client.id, ch_rate, self.limits.global_challenges)
        else:
            self.rates.admit(kind, client.id, vf_rate, self.limits.global_verifies)

    # --- endpoints -------------------------------------------------------------------------------

    def issue(self, client: Client) -> dict:
        _, _, outstanding = self.limits.for_client(client)
        c, ttl = self.challenges.issue(client.id, outstanding)
        expires = datetime.fromtimestamp(time.time() + ttl, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"challenge": c.hex(), "expires_at": expires, "expires_in": ttl,
                "policy_digest": self.policy_digest, "market_digest": self.market_digest,
                "threshold": self.threshold, "circuit_digest": self.circuit_digest}

    def verify(self, client: Client, bundle: dict, challenge_hex: str) -> dict:
        """Parse (a request that does not parse is refused and never logged), use the challenge
        once as this client, verify under the policy's trust rule with the client's subject (the
        account the venue knows it by: the attestations inside the bundle must name it), log,
        answer."""
        from .bundle import ProofBundle
        from .trust import require_subject
        from .verifier.log import verify_and_log

        try:
            ch = bytes.fromhex(challenge_hex)
        except ValueError:
            raise InputError("the challenge is not hex", field="challenge") from None
        if len(ch) != CHALLENGE_BYTES:
            raise InputError(f"the challenge is {CHALLENGE_BYTES} bytes", field="challenge")
        # parsed here (attestations included), so that one that does not parse is refused (400)
        # before the challenge is spent and before the log
        parsed = ProofBundle.from_json_dict(bundle)
        require_subject(self.trust_rule, client.subject)  # before the challenge is spent
        self.challenges.consume(ch, client.id)
        v = self.verifier
        result = verify_and_log(parsed, v.market, v.policy, v.threshold, ch, log=self.log,
                                max_age=self.max_age, subject=client.subject, verifier=v)
        return {"valid": True, "statement": result.statement, "gates": result.gates,
                "seconds": round(result.seconds, 6), "entry": _jsonable(result.extra.get("log")),
                "receipt": _jsonable(result.extra.get("receipt")), "trust": _jsonable(result.extra.get("trust"))}

    def client_info(self, client: Client) -> dict:
        ch, vf, out = self.limits.for_client(client)
        return {"id": client.id, "subject": client.subject,
                "quotas": {"challenges": None if ch is None else str(ch),
                           "verifies": None if vf is None else str(vf), "outstanding": out},
                "outstanding_challenges": self.challenges.outstanding(client.id)}

    def health(self) -> dict:
        from . import __version__

        return {"status": "ok", "version": __version__, "policy_digest": self.policy_digest,
                "market_digest": self.market_digest, "threshold": self.threshold,
                "circuit_digest": self.circuit_digest, "keeps_log": self.log is not None}


def create_app(policy, market, threshold=0, *, clients, log=None, log_key=None,
               challenge_ttl: float = DEFAULT_CHALLENGE_TTL, max_body: int = DEFAULT_MAX_BODY,
               limits: Optional[ServiceLimits] = None, rate_storage=None, max_age: Optional[float] = None,
               backend=None):
    """The ASGI application: the client gate around the body limit around FastAPI. ``clients``
    is a clients file (re-read when it changes), its JSON, or a :class:`ClientRegistry`."""
    _require_extra()
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from . import __version__
    from .rules.digests import canonical_json

    svc = Service(policy, market, threshold, clients=clients, log=log, log_key=log_key,
                  challenge_ttl=challenge_ttl, limits=limits, rate_storage=rate_storage, max_age=max_age,
                  backend=backend)
    errors = {code: {"model": ErrorResponse} for code in (400, 401, 408, 409, 413, 422, 429, 500, 503)}
    app = FastAPI(
        title="zkmargin verification service", version=__version__,
        description="Verifies zero-knowledge margin proofs against this venue's policy and market snapshot. "
                    "Authenticate with your API key (Authorization: Bearer), ask for a challenge, prove "
                    "against it, post the bundle; every verification is logged.",
    )
    app.state.service = svc

    def refuse(request, status: int, body: dict, headers: Optional[dict] = None):
        log_refusal(request.scope, status, body["code"], body["error"])
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(ZkMarginError)
    async def _zk_error(request: Request, exc: ZkMarginError):
        return refuse(request, _status(exc), error_body(exc), error_headers(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errs = exc.errors()
        first = errs[0] if errs else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        msg = first.get("msg", "invalid request")
        if first.get("type") == "json_invalid":
            text = "the request body is not valid JSON"
        else:
            text = f"invalid request: {where + ': ' if where else ''}{msg}"
        return refuse(request, 400, {"error": _short(text), "code": "InputError"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return refuse(request, exc.status_code, {"error": _short(str(exc.detail)), "code": f"HTTP{exc.status_code}"})

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        log_refusal(request.scope, 500, "InternalError", f"unexpected {type(exc).__name__}")
        return JSONResponse({"error": "internal error", "code": "InternalError"}, status_code=500)

    def client_of(request: Request) -> Client:
        return request.scope["zkmargin.client"]

    @app.post("/v1/challenge", response_model=ChallengeResponse, responses=errors,
              summary="A fresh single-use challenge for this client")
    def challenge(request: Request):
        return svc.issue(client_of(request))

    @app.post("/v1/verify", response_model=VerifyResponse, responses=errors,
              summary="Verify a proof bundle that answers one of this client's challenges")
    def verify(req: VerifyRequest, request: Request):
        client = client_of(request)
        out = svc.verify(client, req.bundle, req.challenge)
        logger.info("verified client=%s body_sha256=%s result=accepted entry=%s", client.id,
                 request.scope.get("zkmargin.body_sha256", "-"), (out.get("entry") or {}).get("id", "-"))
        return out

    @app.get("/v1/client", response_model=ClientInfo, responses={401: {"model": ErrorResponse}},
             summary="The calling client's own registration, quotas and outstanding challenges")
    def client_info(request: Request):
        return svc.client_info(client_of(request))

    @app.get("/v1/health", response_model=HealthResponse, summary="Liveness and what this service verifies")
    def health():
        return svc.health()

    @app.get("/v1/policy", summary="The policy proofs must be made against (canonical JSON)")
    def get_policy():
        return canonical_json(svc.verifier.policy)

    @app.get("/v1/market", summary="The market snapshot proofs must be made against (canonical JSON)")
    def get_market():
        return canonical_json(svc.verifier.market)

    @app.get("/v1/log/head", response_model=LogHead, responses={404: {"model": ErrorResponse}},
             summary="The log's latest signed tree head (keep it for 'audit --sth')")
    def log_head():
        if svc.log is None:
            raise StarletteHTTPException(404, "this service keeps no log")
        return svc.log.latest_head().to_json_dict()

    outer = ClientGate(BodyLimit(app, max_body, svc.limits.body_timeout), svc)
    outer.service = svc  # type: ignore[attr-defined]
    outer.fastapi = app  # type: ignore[attr-defined]
    return outer


def serve(policy, market, threshold=0, *, clients, host: str = "127.0.0.1", port: int = 8000, log=None, log_key=None,
          challenge_ttl: float = DEFAULT_CHALLENGE_TTL,
          max_body: int = DEFAULT_MAX_BODY, limits: Optional[ServiceLimits] = None,
          max_age: Optional[float] = None, backend=None, log_level: str = "info", announce=None) -> None:
    """Run the service with uvicorn until interrupted (one process: the challenge store and the
    request rates are in memory). ``announce`` is called with one line once the app is built
    (every input checked), before serving."""
    _require_extra()
    import uvicorn

    app = create_app(policy, market, threshold, clients=clients, log=log, log_key=log_key,
                     challenge_ttl=challenge_ttl, max_body=max_body, limits=limits, max_age=max_age,
                     backend=backend)
    if not logger.handlers and not logging.getLogger().handlers:
        # the refusal lines next to uvicorn's own, at the same level
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:  %(name)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(log_level.upper())
    if announce is not None:
        announce(f"serving on http://{host}:{port} (OpenAPI: /openapi.json)")
    uvicorn.run(app, host=host, port=port, log_level=log_level, workers=1, timeout_keep_alive=5)
