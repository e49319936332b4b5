"""The service itself: :class:`Service` (one instance's policy, market, threshold, clients,
challenges, rates and log), :func:`create_app` (the FastAPI app and its routes, inside the client
gate and the body limit) and :func:`serve` (uvicorn).

May import the API, the transparency log (:mod:`zkmargin.verifier.log`), the documents and the
service's own modules; FastAPI, starlette and uvicorn are imported inside :func:`create_app` and
:func:`serve` only. Used by the CLI (``serve``) and the tests.
"""

# no "from __future__ import annotations": FastAPI reads the endpoints' annotations, and the
# Request class they name is imported inside create_app (the extra is optional)
import contextlib
import logging
import math
import time
from datetime import UTC, datetime
from typing import Any

from ...errors import (
    AuthenticationError,
    DatabaseUnavailableError,
    InputError,
    MissingExtraError,
    NotFoundError,
    ZkMarginError,
)
from .batching import DEFAULT_MAX_BATCH, DEFAULT_WINDOW, MicroBatcher
from .challenges import CHALLENGE_BYTES, DEFAULT_CHALLENGE_TTL, ChallengeStore
from .clients import Client, ClientRegistry, ClientsFile, bearer_key, load_clients
from .gate import BodyLimit, ClientGate
from .quotas import RequestRates, ServiceLimits
from .responses import (
    ChallengeResponse,
    ClientInfo,
    ErrorResponse,
    HealthResponse,
    LogHead,
    Outcome,
    VerifyRequest,
    VerifyResponse,
    error_body,
    error_headers,
    jsonable,
    log_refusal,
    shorten,
    status_of,
)

DEFAULT_MAX_BODY = 256 * 1024

EXTRA_HINT = "the verification service needs the 'serve' extra: pip install 'zkmargin[serve]'"
AUTH_HINT = "a valid API key is required (Authorization: Bearer <key>)"

logger = logging.getLogger("zkmargin.service")


def require_extra():
    try:
        import fastapi  # noqa: F401
        import limits  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise MissingExtraError(EXTRA_HINT) from None


class Service:
    """What one service instance holds: its own policy, market, threshold (a prepared verifier),
    its clients, the challenge store, the request rates and the log."""

    def __init__(self, policy, market, threshold=0, *, clients, log=None, log_key=None,
                 challenge_ttl: float = DEFAULT_CHALLENGE_TTL, limits: ServiceLimits | None = None,
                 rate_storage=None, max_age: float | None = None, backend=None,
                 batch_window: float = DEFAULT_WINDOW, max_batch: int = DEFAULT_MAX_BATCH):
        from ...api import _Verifier
        from ...rules.decimals import canonical
        from ...rules.digests import market_digest, policy_digest
        from ...verifier.log import VerificationLog, is_database_url

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
        # a PostgreSQL log (--db postgresql://…): the challenges and the rates live beside it, so
        # that several worker processes (and hosts) share them (.shared)
        self.shared_db = log if is_database_url(log) else None
        if self.shared_db is not None:
            from .shared import PgChallengeStore, PgRequestRates

            if log_key is None:
                raise InputError("a service on a database needs the venue's log key", field="--log-key")
            self.challenges: Any = PgChallengeStore(self.shared_db, challenge_ttl, self.limits.global_outstanding)
            self.rates: Any = PgRequestRates(self.shared_db)
        else:
            self.challenges = ChallengeStore(challenge_ttl, self.limits.global_outstanding)
            self.rates = RequestRates(rate_storage)
        self.log = None if log is None else (
            log if isinstance(log, VerificationLog) else VerificationLog(log, signing_key=log_key))
        if self.log is not None:
            self.log.require_signing_key()
        if not (isinstance(batch_window, (int, float)) and math.isfinite(batch_window) and 0 <= batch_window <= 1):
            raise InputError("must be between 0 and 1 second", field="--batch-window")
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise InputError("must be a positive integer", field="--max-batch")
        self.batcher = None if batch_window == 0 and max_batch == 1 else MicroBatcher(
            self._verify_many, window=batch_window, max_batch=max_batch)

    # --- who is asking ---------------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> Client:
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
        expires = datetime.fromtimestamp(time.time() + ttl, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"challenge": c.hex(), "expires_at": expires, "expires_in": ttl,
                "policy_digest": self.policy_digest, "market_digest": self.market_digest,
                "threshold": self.threshold, "circuit_digest": self.circuit_digest}

    def verify(self, client: Client, bundle: dict, challenge_hex: str) -> dict:
        """Parse (a request that does not parse is refused and never logged), use the challenge
        once as this client, verify under the policy's trust rule with the client's subject (the
        account the venue knows it by: the attestations inside the bundle must name it), log,
        answer."""
        from ...documents.bundle import ProofBundle
        from ...documents.trust import require_subject
        from ...verifier.log import verify_and_log

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
        try:
            if self.batcher is not None:  # verified with the requests arriving in the same few ms
                result = self.batcher.submit((parsed, ch, client.subject))
            else:
                result = verify_and_log(parsed, v.market, v.policy, v.threshold, ch, log=self.log,
                                        max_age=self.max_age, subject=client.subject, verifier=v)
        except DatabaseUnavailableError:
            # nothing recorded, nothing answered: the client may retry with the same challenge
            # (should the append have committed unseen, the log refuses a second acceptance)
            with contextlib.suppress(ZkMarginError):
                self.challenges.release(ch, client.id)
            raise
        return {"valid": True, "statement": result.statement, "gates": result.gates,
                "seconds": round(result.seconds, 6), "entry": jsonable(result.extra.get("log")),
                "receipt": jsonable(result.extra.get("receipt")), "trust": jsonable(result.extra.get("trust"))}

    def _verify_many(self, jobs):
        from ...verifier.log.record_many import verify_each_and_log

        return verify_each_and_log(self.verifier, jobs, log=self.log, max_age=self.max_age)

    def outcome(self, client: Client, challenge_hex: str) -> dict:
        """The logged outcome of the verification that answered one of this client's challenges
        (for a client whose connection dropped before the answer came). Another client's
        challenge is answered exactly like one nobody answered (404)."""
        from ...verifier.log.receipt import Receipt

        if self.log is None:
            raise NotFoundError("this service keeps no log")
        try:
            ch = bytes.fromhex(challenge_hex)
        except ValueError:
            raise InputError("the challenge is not hex", field="challenge") from None
        if len(ch) != CHALLENGE_BYTES:
            raise InputError(f"the challenge is {CHALLENGE_BYTES} bytes", field="challenge")
        entry = self.log.entry_by_challenge(ch)
        owner = self.challenges.owner(ch)
        mine = owner == client.id if owner is not None else (
            entry is not None and client.subject is not None and entry.subject == client.subject)
        if entry is None or not mine:
            raise NotFoundError("no logged verification of this client answers this challenge")
        head = self.log.latest_head()
        proof = self.log.inclusion_proof(entry.id, head.tree_size)
        receipt = Receipt(index=entry.id - 1, entry=entry.fields(), leaf_hash=bytes.fromhex(entry.leaf_hash),
                          sth=head, inclusion_proof=proof)
        return {"challenge": ch.hex(), "entry": {"id": entry.id, **entry.fields(), "leaf_hash": entry.leaf_hash},
                "receipt": receipt.to_json_dict()}

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.close()
        for part in (self.log, self.challenges, self.rates):
            close = getattr(part, "close", None)
            if close is not None:
                close()

    def client_info(self, client: Client) -> dict:
        ch, vf, out = self.limits.for_client(client)
        return {"id": client.id, "subject": client.subject,
                "quotas": {"challenges": None if ch is None else str(ch),
                           "verifies": None if vf is None else str(vf), "outstanding": out},
                "outstanding_challenges": self.challenges.outstanding(client.id)}

    def health(self) -> dict:
        from ... import __version__

        return {"status": "ok", "version": __version__, "policy_digest": self.policy_digest,
                "market_digest": self.market_digest, "threshold": self.threshold,
                "circuit_digest": self.circuit_digest, "keeps_log": self.log is not None}


def create_app(policy, market, threshold=0, *, clients, log=None, log_key=None,
               challenge_ttl: float = DEFAULT_CHALLENGE_TTL, max_body: int = DEFAULT_MAX_BODY,
               limits: ServiceLimits | None = None, rate_storage=None, max_age: float | None = None,
               backend=None, batch_window: float = DEFAULT_WINDOW, max_batch: int = DEFAULT_MAX_BATCH):
    """The ASGI application: the client gate around the body limit around FastAPI. ``clients``
    is a clients file (re-read when it changes), its JSON, or a :class:`ClientRegistry`. ``log``
    is a SQLite file, a ``postgresql://`` URL (the log, the challenges and the rates in that
    database: what several workers share) or an open log. Verifications arriving within
    ``batch_window`` seconds are verified together, and under load a batch waits briefly for as
    many as the last one held (:mod:`.batching`; at most ``max_batch``; 0 and 1: one by one)."""
    require_extra()
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from ... import __version__
    from ...rules.digests import canonical_json

    svc = Service(policy, market, threshold, clients=clients, log=log, log_key=log_key,
                  challenge_ttl=challenge_ttl, limits=limits, rate_storage=rate_storage, max_age=max_age,
                  backend=backend, batch_window=batch_window, max_batch=max_batch)
    errors: dict[int | str, dict[str, Any]] = {code: {"model": ErrorResponse}
                                              for code in (400, 401, 408, 409, 413, 422, 429, 500, 503)}
    app = FastAPI(
        title="zkmargin verification service", version=__version__,
        description="Verifies zero-knowledge margin proofs against this venue's policy and market snapshot. "
                    "Authenticate with your API key (Authorization: Bearer), ask for a challenge, prove "
                    "against it, post the bundle; every verification is logged.",
    )
    app.state.service = svc

    def refuse(request, status: int, body: dict, headers: dict | None = None):
        log_refusal(request.scope, status, body["code"], body["error"])
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(ZkMarginError)
    async def _zk_error(request: Request, exc: ZkMarginError):
        return refuse(request, status_of(exc), error_body(exc), error_headers(exc))

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
        return refuse(request, 400, {"error": shorten(text), "code": "InputError"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return refuse(request, exc.status_code, {"error": shorten(str(exc.detail)), "code": f"HTTP{exc.status_code}"})

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

    @app.get("/v1/verification/{challenge}", response_model=Outcome, responses=errors | {404: {"model": ErrorResponse}},
             summary="The logged outcome of the verification that answered one of this client's challenges")
    def outcome(challenge: str, request: Request):
        return svc.outcome(client_of(request), challenge)

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
    outer.fastapi = app  # type: ignore[attr-defined]
    return outer


def serve(policy, market, threshold=0, *, clients, host: str = "127.0.0.1", port: int = 8000, log=None, log_key=None,
          challenge_ttl: float = DEFAULT_CHALLENGE_TTL,
          max_body: int = DEFAULT_MAX_BODY, limits: ServiceLimits | None = None,
          max_age: float | None = None, backend=None, log_level: str = "info", announce=None,
          workers: int = 1, batch_window: float = DEFAULT_WINDOW, max_batch: int = DEFAULT_MAX_BATCH) -> None:
    """Run the service with uvicorn until interrupted. One worker keeps the challenge store and
    the request rates in memory (the log in a SQLite file or a database); ``workers`` > 1 runs
    that many processes sharing the log, the challenges and the rates in the PostgreSQL database
    ``log`` names (:mod:`.workers`). ``announce`` is called with one line once the app is built
    (every input checked), before serving."""
    require_extra()
    import uvicorn

    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
        raise InputError("must be an integer from 1 to 64", field="--workers")
    limits = limits or ServiceLimits()
    app = create_app(policy, market, threshold, clients=clients, log=log, log_key=log_key,
                     challenge_ttl=challenge_ttl, max_body=max_body, limits=limits, max_age=max_age,
                     backend=backend, batch_window=batch_window, max_batch=max_batch)
    if not logger.handlers and not logging.getLogger().handlers:
        # the refusal lines next to uvicorn's own, at the same level
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:  %(name)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(log_level.upper())
    if announce is not None:
        announce(f"serving on http://{host}:{port} with {workers} worker(s) (OpenAPI: /openapi.json)")
    if workers > 1:
        from .workers import serve_workers

        serve_workers(app, workers=workers, host=host, port=port, clients=clients, log=log, log_key=log_key,
                      challenge_ttl=challenge_ttl, max_body=max_body, limits=limits, max_age=max_age,
                      backend=backend, batch_window=batch_window, max_batch=max_batch, log_level=log_level)
        return
    uvicorn.run(app, host=host, port=port, log_level=log_level, workers=1, timeout_keep_alive=5)
