"""What a response of the service may say: the OpenAPI models of its bodies, the status code of
each error, the one-line public message (never a server path, a key or a value), refusals as JSON
and the server log's one line per refused request.

May import :mod:`zkmargin.errors` and pydantic. Used by the ASGI layers (:mod:`.gate`), the
challenge store, the request rates and the app.
"""

# no "from __future__ import annotations": FastAPI reads the models' annotations
import json
import logging
import math
from collections.abc import MutableMapping
from typing import Any

from pydantic import BaseModel, Field

from ...errors import (
    AuthenticationError,
    DatabaseUnavailableError,
    LogError,
    NotFoundError,
    RateLimitedError,
    Rejected,
    ReplayError,
    RequestTimeoutError,
    RequestTooLargeError,
    ServiceBusyError,
    ZkMarginError,
)

MAX_MESSAGE_CHARS = 300

logger = logging.getLogger("zkmargin.service")


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
    entry: LogRef | None = None
    receipt: dict[str, Any] | None = Field(default=None, description="the log's receipt for this entry")
    trust: dict[str, Any] | None = Field(default=None, description="who vouched for the committed values")


class Outcome(BaseModel):
    challenge: str
    entry: dict[str, Any] = Field(description="the logged entry that answered the challenge (its hashed fields, "
                                              "id, leaf hash): result 'accepted' or 'rejected' with code and reason")
    receipt: dict[str, Any] = Field(description="a receipt for the entry in the log's latest signed tree head")


class ErrorResponse(BaseModel):
    error: str
    code: str
    entry: dict[str, Any] | None = None
    receipt: dict[str, Any] | None = None


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


def retry_seconds(seconds: float) -> int:
    return max(1, math.ceil(seconds))


def status_of(exc: ZkMarginError) -> int:
    if isinstance(exc, AuthenticationError):
        return 401
    if isinstance(exc, RequestTimeoutError):
        return 408
    if isinstance(exc, NotFoundError):
        return 404
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


def shorten(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS - 3] + "..."


def public_message(exc: ZkMarginError) -> str:
    """The one line a client may see: the message and field, never the file (``source``) an
    error names on the server, at most a few hundred characters (a message that quotes a client's
    key names cannot grow with them); server-side faults say no more than that."""
    if isinstance(exc, DatabaseUnavailableError):
        return "the service's database is unavailable; nothing was recorded: retry after Retry-After seconds"
    if isinstance(exc, LogError):
        return "the verification log is unavailable; nothing was recorded"
    text = f"field {exc.field!r}: {exc.message}" if exc.field else exc.message
    return shorten(text)


def jsonable(value):
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
            body[key] = jsonable(value)
    return body


def error_headers(exc: ZkMarginError) -> dict:
    headers = {}
    retry = getattr(exc, "retry_after", None)
    if retry is not None:
        headers["Retry-After"] = str(retry_seconds(retry))
    if isinstance(exc, AuthenticationError):
        headers["WWW-Authenticate"] = "Bearer"
    return headers


def log_refusal(scope: MutableMapping[str, Any], status: int, code: str, reason: str) -> None:
    """One line per refused request: client id, SHA-256 of the body, status and reason."""
    client = scope.get("zkmargin.client")
    level = logging.INFO if status in (401, 429) else logging.WARNING
    logger.log(level, "refused status=%d client=%s body_sha256=%s code=%s reason=%s", status,
            client.id if client is not None else "-", scope.get("zkmargin.body_sha256", "-"), code,
            shorten(reason))


async def send_json(send, status: int, body: dict, headers: dict | None = None, *, close: bool = False) -> None:
    data = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if close:
        raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


async def send_error(scope, send, exc: ZkMarginError, *, close: bool = False) -> None:
    status = status_of(exc)
    log_refusal(scope, status, type(exc).__name__, public_message(exc))
    await send_json(send, status, error_body(exc), error_headers(exc), close=close)


def has_body(scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding":
            return True
        if name == b"content-length" and value.strip() not in (b"0", b""):
            return True
    return False
