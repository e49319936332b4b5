"""The venue's verification service: an ASGI app (FastAPI) served by uvicorn.

Install the extra: ``pip install 'zkmargin[serve]'``. Endpoints (OpenAPI document at
``/openapi.json``, interactive docs at ``/docs``)::

    POST /v1/challenge   -> {"challenge": hex (32 bytes), "expires_at", "expires_in",
                             "policy_digest", "market_digest", "threshold", "circuit_digest"}
    POST /v1/verify      {"bundle": <proof bundle JSON>, "challenge": hex,
                          "attestations": [...] (when the service requires custodians)}
                         -> 200 {"valid": true, "entry": {"id", "entry_hash", "result"}, ...}
    GET  /v1/health      -> {"status": "ok", ...}
    GET  /v1/policy, /v1/market   the documents proofs must be made against (canonical JSON)
    GET  /v1/log/head    -> {"count", "tip"} of the verification log (for auditors)

Each challenge is random, kept server-side with an expiry, and answers one verification only: a
second use, an expired or a never-issued challenge is refused with 409 (``ReplayError``) before
any verification work. Every verification that got that far — accepted or rejected — is
appended to the log. Errors are JSON ``{"error": one line, "code": error class}``: 400 for
malformed input, 409 for replays, 413 for bodies over the limit (checked while the body streams
in, before it is parsed, chunked or not), 422 for a proof that does not verify, 503 when too many
challenges are outstanding.

FastAPI, starlette and uvicorn are imported only by :func:`create_app` and :func:`serve`.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import datetime, timezone
from typing import Any, Optional, Sequence

from pydantic import BaseModel, Field

from .errors import (
    InputError,
    MissingExtraError,
    Rejected,
    ReplayError,
    RequestTooLargeError,
    ServiceBusyError,
    ZkMarginError,
)

DEFAULT_MAX_BODY = 256 * 1024
DEFAULT_CHALLENGE_TTL = 300.0
DEFAULT_MAX_OUTSTANDING = 100_000
CHALLENGE_BYTES = 32

EXTRA_HINT = "the verification service needs the 'serve' extra: pip install 'zkmargin[serve]'"


def _require_extra():
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise MissingExtraError(EXTRA_HINT) from None


# --- API models (OpenAPI) ------------------------------------------------------------------------


class ChallengeResponse(BaseModel):
    challenge: str = Field(description="32 random bytes, hex; answer it within expires_in seconds, once")
    expires_at: str
    expires_in: float
    policy_digest: str
    market_digest: str
    threshold: str
    circuit_digest: str


class VerifyRequest(BaseModel):
    bundle: dict[str, Any] = Field(description="the proof bundle (zkmargin.proof/1)")
    challenge: str = Field(description="the challenge this service issued, hex")
    attestations: Optional[list[dict[str, Any]]] = Field(
        default=None, description="custodian attestations (zkmargin.attestation/1), when required")


class LogRef(BaseModel):
    id: int
    entry_hash: str
    result: str


class VerifyResponse(BaseModel):
    valid: bool
    statement: dict[str, Any]
    gates: int
    seconds: float
    entry: Optional[LogRef] = None
    custodians: Optional[list[str]] = None


class ErrorResponse(BaseModel):
    error: str
    code: str


class HealthResponse(BaseModel):
    status: str
    version: str
    policy_digest: str
    market_digest: str
    threshold: str
    log: Optional[str] = None
    outstanding_challenges: int


class LogHead(BaseModel):
    count: int
    tip: str


# --- challenges ----------------------------------------------------------------------------------


class ChallengeStore:
    """Issued challenges with their expiry; each one can be consumed once. Used challenges are
    remembered until they expire, so a replay gets a precise message."""

    def __init__(self, ttl: float = DEFAULT_CHALLENGE_TTL, max_outstanding: int = DEFAULT_MAX_OUTSTANDING):
        self.ttl = float(ttl)
        self.max_outstanding = int(max_outstanding)
        self._lock = threading.Lock()
        self._items: dict[bytes, list] = {}  # challenge -> [expires (monotonic), used]

    def _purge(self, now: float) -> None:
        dead = [c for c, (exp, _used) in self._items.items() if exp <= now]
        for c in dead:
            del self._items[c]

    def issue(self) -> tuple[bytes, float]:
        now = time.monotonic()
        with self._lock:
            if len(self._items) >= self.max_outstanding:
                self._purge(now)
                if len(self._items) >= self.max_outstanding:
                    raise ServiceBusyError("too many outstanding challenges; try again later")
            c = secrets.token_bytes(CHALLENGE_BYTES)
            self._items[c] = [now + self.ttl, False]
            return c, self.ttl

    def consume(self, challenge: bytes) -> None:
        now = time.monotonic()
        with self._lock:
            item = self._items.get(challenge)
            if item is None:
                raise ReplayError("the challenge was not issued by this service (or expired long ago)")
            if item[1]:
                raise ReplayError("the challenge was used already; ask for a fresh one")
            if item[0] <= now:
                del self._items[challenge]
                raise ReplayError("the challenge expired; ask for a fresh one")
            item[1] = True

    def __len__(self) -> int:
        with self._lock:
            return sum(1 for _e, used in self._items.values() if not used)


# --- the app -------------------------------------------------------------------------------------


def _status(exc: ZkMarginError) -> int:
    if isinstance(exc, RequestTooLargeError):
        return 413
    if isinstance(exc, ReplayError):
        return 409
    if isinstance(exc, ServiceBusyError):
        return 503
    if isinstance(exc, Rejected):
        return 422
    return 400


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_body`` bytes with 413, from the
    Content-Length header when there is one and by counting the bytes as they stream in
    otherwise (chunked transfer), before the application parses anything."""

    def __init__(self, app, max_body: int):
        self.app = app
        self.max_body = int(max_body)

    async def _error(self, send, status: int, message: str, code: str) -> None:
        import json

        body = json.dumps({"error": message, "code": code}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_large = f"the request body is over {self.max_body} bytes"
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    n = int(value)
                except ValueError:
                    return await self._error(send, 400, "bad Content-Length", "InputError")
                if n > self.max_body:
                    return await self._error(send, 413, too_large, RequestTooLargeError.__name__)
        body = bytearray()
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            body += msg.get("body", b"")
            if len(body) > self.max_body:
                return await self._error(send, 413, too_large, RequestTooLargeError.__name__)
            if not msg.get("more_body", False):
                break
        delivered = False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


class Service:
    """What one service instance holds: its own policy, market, threshold (a prepared verifier),
    the challenge store and the log."""

    def __init__(self, policy, market, threshold=0, *, log=None, custodian_keys: Sequence = (),
                 challenge_ttl: float = DEFAULT_CHALLENGE_TTL, max_outstanding: int = DEFAULT_MAX_OUTSTANDING,
                 max_age: Optional[float] = None, backend=None):
        from .api import _Verifier
        from .attest import key_id
        from .rules.decimals import canonical
        from .rules.digests import market_digest, policy_digest
        from .verifier.log import VerificationLog

        self.verifier = _Verifier(market, policy, threshold, backend)
        self.policy_digest = policy_digest(self.verifier.policy)
        self.market_digest = market_digest(self.verifier.market)
        self.threshold = canonical(self.verifier.threshold)
        self.circuit_digest = self.verifier.cs.digest().hex()
        self.custodian_keys = [key_id(k) for k in custodian_keys]
        self.max_age = max_age
        self.challenges = ChallengeStore(challenge_ttl, max_outstanding)
        self.log = None if log is None else (log if isinstance(log, VerificationLog) else VerificationLog(log))

    def issue(self) -> dict:
        c, ttl = self.challenges.issue()
        expires = datetime.fromtimestamp(time.time() + ttl, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"challenge": c.hex(), "expires_at": expires, "expires_in": ttl,
                "policy_digest": self.policy_digest, "market_digest": self.market_digest,
                "threshold": self.threshold, "circuit_digest": self.circuit_digest}

    def verify(self, bundle: dict, challenge_hex: str, attestations=None) -> dict:
        from .verifier.log import verify_and_log

        try:
            ch = bytes.fromhex(challenge_hex)
        except ValueError:
            raise InputError("the challenge is not hex", field="challenge") from None
        if len(ch) != CHALLENGE_BYTES:
            raise InputError(f"the challenge is {CHALLENGE_BYTES} bytes", field="challenge")
        if self.custodian_keys and not attestations:
            raise InputError("this service requires custodian attestations", field="attestations")
        self.challenges.consume(ch)
        v = self.verifier
        result = verify_and_log(
            bundle, v.market, v.policy, v.threshold, ch, log=self.log,
            attestations=attestations if self.custodian_keys else None,
            custodian_keys=self.custodian_keys or None, max_age=self.max_age, verifier=v)
        out = {"valid": True, "statement": result.statement, "gates": result.gates,
               "seconds": round(result.seconds, 6), "entry": result.extra.get("log"),
               "custodians": result.extra.get("custodians")}
        return out

    def health(self) -> dict:
        from . import __version__

        return {"status": "ok", "version": __version__, "policy_digest": self.policy_digest,
                "market_digest": self.market_digest, "threshold": self.threshold,
                "log": None if self.log is None else self.log.path,
                "outstanding_challenges": len(self.challenges)}


def create_app(policy, market, threshold=0, *, log=None, custodian_keys: Sequence = (),
               challenge_ttl: float = DEFAULT_CHALLENGE_TTL, max_body: int = DEFAULT_MAX_BODY,
               max_outstanding: int = DEFAULT_MAX_OUTSTANDING, max_age: Optional[float] = None, backend=None):
    """The ASGI application (FastAPI wrapped in the body-size limit)."""
    _require_extra()
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from . import __version__
    from .rules.digests import canonical_json

    svc = Service(policy, market, threshold, log=log, custodian_keys=custodian_keys, challenge_ttl=challenge_ttl,
                  max_outstanding=max_outstanding, max_age=max_age, backend=backend)
    errors = {code: {"model": ErrorResponse} for code in (400, 409, 413, 422, 503)}
    app = FastAPI(
        title="zkmargin verification service", version=__version__,
        description="Verifies zero-knowledge margin proofs against this venue's policy and market snapshot. "
                    "Ask for a challenge, prove against it, post the bundle; every verification is logged.",
    )
    app.state.service = svc

    @app.exception_handler(ZkMarginError)
    async def _zk_error(_request, exc: ZkMarginError):
        return JSONResponse({"error": exc.one_line(), "code": type(exc).__name__}, status_code=_status(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_request, exc: RequestValidationError):
        errs = exc.errors()
        first = errs[0] if errs else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        msg = first.get("msg", "invalid request")
        if first.get("type") == "json_invalid":
            text = "the request body is not valid JSON"
        else:
            text = f"invalid request: {where + ': ' if where else ''}{msg}"
        return JSONResponse({"error": " ".join(text.split()), "code": "InputError"}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request, exc: StarletteHTTPException):
        return JSONResponse({"error": str(exc.detail), "code": f"HTTP{exc.status_code}"}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _internal(_request, _exc: Exception):
        return JSONResponse({"error": "internal error", "code": "InternalError"}, status_code=500)

    @app.post("/v1/challenge", response_model=ChallengeResponse, responses=errors,
              summary="A fresh single-use challenge")
    def challenge():
        return svc.issue()

    @app.post("/v1/verify", response_model=VerifyResponse, responses=errors,
              summary="Verify a proof bundle that answers one of this service's challenges")
    def verify(req: VerifyRequest):
        return svc.verify(req.bundle, req.challenge, req.attestations)

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
             summary="Count and tip hash of the verification log (keep it for audit --expect-tip)")
    def log_head():
        if svc.log is None:
            raise StarletteHTTPException(404, "this service keeps no log")
        count, tip = svc.log.head()
        return {"count": count, "tip": tip}

    outer = BodyLimit(app, max_body)
    outer.service = svc  # type: ignore[attr-defined]
    outer.fastapi = app  # type: ignore[attr-defined]
    return outer


def serve(policy, market, threshold=0, *, host: str = "127.0.0.1", port: int = 8000, log=None,
          custodian_keys: Sequence = (), challenge_ttl: float = DEFAULT_CHALLENGE_TTL,
          max_body: int = DEFAULT_MAX_BODY, max_age: Optional[float] = None, backend=None,
          log_level: str = "info") -> None:
    """Run the service with uvicorn until interrupted (one process: the challenge store is in
    memory)."""
    _require_extra()
    import uvicorn

    app = create_app(policy, market, threshold, log=log, custodian_keys=custodian_keys,
                     challenge_ttl=challenge_ttl, max_body=max_body, max_age=max_age, backend=backend)
    uvicorn.run(app, host=host, port=port, log_level=log_level, workers=1, timeout_keep_alive=5)
