"""The venue's verification service: an ASGI app (FastAPI) served by uvicorn, for authenticated
clients with per-client quotas.

Install the extra: ``pip install 'zkmargin[serve]'``. Every client is registered by the venue in a
clients file (``zkmargin.clients/1``, :mod:`.clients`; ``zkmargin client-add``) with the
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

=================  ===========================================================================
``app``            :class:`Service`, :func:`create_app` (the routes), :func:`serve`
``challenges``     :class:`ChallengeStore`: issued, owned, single-use, expiring challenges
``quotas``         :class:`ServiceLimits` and :class:`RequestRates` (moving windows)
``gate``           the ASGI layers: :class:`ClientGate` (key, rates) and :class:`BodyLimit`
``responses``      the OpenAPI models, status codes, public messages, the refusal log line
``clients``        the clients file (``zkmargin.clients/1``): clients, keys, quotas
``registration``   :func:`add_client`, :func:`remove_client` (``client-add``, ``client-remove``)
=================  ===========================================================================

May import the API and everything below it. Used by the CLI (``serve``, ``client-add``,
``client-remove``) and the tests.
"""

from .app import AUTH_HINT, DEFAULT_MAX_BODY, EXTRA_HINT, Service, create_app, serve
from .challenges import CHALLENGE_BYTES, DEFAULT_CHALLENGE_TTL, ChallengeStore
from .clients import (
    CLIENTS_FORMAT,
    Client,
    ClientRegistry,
    ClientsFile,
    Quotas,
    Rate,
    bearer_key,
    load_clients,
    parse_rate,
)
from .gate import BodyLimit, ClientGate
from .quotas import DEFAULT_BODY_TIMEOUT, RequestRates, ServiceLimits
from .registration import add_client, remove_client
from .responses import error_body, public_message

__all__ = [
    "AUTH_HINT", "BodyLimit", "CHALLENGE_BYTES", "CLIENTS_FORMAT", "ChallengeStore", "Client", "ClientGate",
    "ClientRegistry", "ClientsFile", "DEFAULT_BODY_TIMEOUT", "DEFAULT_CHALLENGE_TTL", "DEFAULT_MAX_BODY",
    "EXTRA_HINT", "Quotas", "Rate", "RequestRates", "Service", "ServiceLimits", "add_client", "bearer_key",
    "create_app", "error_body", "load_clients", "parse_rate", "public_message", "remove_client", "serve",
]
