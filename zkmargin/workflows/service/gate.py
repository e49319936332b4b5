"""The ASGI layers around the FastAPI app: :class:`ClientGate` (outermost: the API key and the
request rates, from the headers, before a byte of the body is read) and :class:`BodyLimit` (the
body's size and arrival time, before anything parses it).

May import :mod:`zkmargin.errors` and :mod:`.responses` (the app that owns them is passed in).
Used by :func:`~.app.create_app`.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from ...errors import InputError, RequestTimeoutError, RequestTooLargeError, ZkMarginError
from .quotas import DEFAULT_BODY_TIMEOUT
from .responses import has_body, send_error

if TYPE_CHECKING:
    from .app import Service


class ClientGate:
    """ASGI middleware, outermost: on an authenticated route, the API key (401) and the request
    rates (429 for the client's own, 503 for the global one) are checked from the headers,
    before a byte of the body is read. The client is put in ``scope["zkmargin.client"]``."""

    ROUTES = {"/v1/challenge": "challenge", "/v1/verify": "verify", "/v1/client": None}
    LOOKUP = "/v1/verification/"

    def __init__(self, app, service: Service):
        self.app = app
        self.service = service

    async def __call__(self, scope, receive, send):
        path = scope.get("path") if scope["type"] == "http" else None
        if path is not None and path.startswith(self.LOOKUP):
            kind = None  # the client's own outcomes: authenticated, no rate of its own
        elif path not in self.ROUTES:
            return await self.app(scope, receive, send)
        else:
            kind = self.ROUTES[path]
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
            return await send_error(scope, send, exc, close=has_body(scope))
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

    async def _read(self, receive) -> bytearray | None:
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
