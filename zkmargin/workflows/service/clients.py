"""The venue's registry of service clients: who may ask the verification service for challenges
and verifications, which account each one is, and its quotas (``zkmargin.clients/1``).

A client authenticates with an API key the venue generated for it (``client-add`` prints it
once)::

    zkm_<key id: 8 bytes, hex>_<secret: 32 random bytes, hex>

The clients file never holds a key, only its salted hash; it is written atomically with mode
0600::

    {"format": "zkmargin.clients/1",
     "clients": [
       {"id": "desk-a",                       # [A-Za-z0-9][A-Za-z0-9._-]{0,63}, unique
        "subject": "ACC-1001",                # the account the venue knows this client as
        "key_id": "<16 hex>",                 # public half of the key, unique
        "key_salt": "<32 hex>",               # 16 random bytes
        "key_hash": "<64 hex>",               # SHA-256(b"zkmargin.api-key/1\\0" || salt || secret)
        "created": "2024-06-03T08:00:00Z",
        "quotas": {"challenges": "60/minute", "verifies": "60/minute", "outstanding": 16}}]}

``quotas`` and each of its fields are optional (the service's defaults apply). A rate is
``N/unit`` or ``N per [K] unit(s)`` with unit second, minute, hour or day.

Why a plain salted SHA-256 and not a password hash: the secret is 256 random bits, so nobody can
search for it from the hash, and a slow hash would make every request expensive for the venue.
Authentication looks the client up by the key id and compares the hash with
:func:`hmac.compare_digest`; an unknown key id is compared against a dummy entry, so every failure
takes the same path and gives the same answer.

Writing the file (``client-add``, ``client-remove``) is :mod:`.registration`.

May import :mod:`zkmargin.errors` and the standard library. Used by the service (its gate and
quotas), :mod:`.registration` and the CLI.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ...errors import FormatError, InputError
from ...files.inputs import load_json

__all__ = [
    "CLIENTS_FORMAT",
    "Rate",
    "Quotas",
    "Client",
    "ClientRegistry",
    "ClientsFile",
    "parse_rate",
    "load_clients",
    "bearer_key",
]

CLIENTS_FORMAT = "zkmargin.clients/1"
KEY_DOMAIN = b"zkmargin.api-key/1\0"
KEY_PREFIX = "zkm_"
MAX_FILE_BYTES = 16 << 20
MAX_SUBJECT_CHARS = 256

_KEY = re.compile(r"^zkm_([0-9a-f]{16})_([0-9a-f]{64})$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_RATE = re.compile(r"^\s*([0-9]{1,9})\s*(?:/|per)\s*(?:([0-9]{1,6})\s*)?(second|minute|hour|day)s?\s*$",
                   re.IGNORECASE)
_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_CLIENT_KEYS = {"id", "subject", "key_id", "key_salt", "key_hash", "created", "quotas"}
_QUOTA_KEYS = ("challenges", "verifies", "outstanding")

logger = logging.getLogger("zkmargin.service")


# --- quotas --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """``count`` requests per ``seconds`` seconds (a moving window)."""

    count: int
    seconds: int
    text: str = field(compare=False, default="")

    def __str__(self) -> str:
        return self.text or f"{self.count}/{self.seconds} seconds"


def parse_rate(text, *, source=None, field: str | None = None) -> Rate:
    """``"60/minute"``, ``"10 per second"``, ``"100 per 5 minutes"`` → :class:`Rate`. A count of 0
    or anything else is a one-line :class:`FormatError` naming the field."""
    m = _RATE.match(text) if isinstance(text, str) else None
    if m is None:
        raise FormatError("a rate is 'N/unit' or 'N per [K] units' (unit: second, minute, hour, day)",
                          source=source, field=field)
    count, mult, unit = int(m.group(1)), int(m.group(2) or 1), m.group(3).lower()
    if count < 1 or mult < 1:
        raise FormatError("a rate allows at least one request per window", source=source, field=field)
    return Rate(count, mult * _UNIT_SECONDS[unit], " ".join(text.split()))


@dataclass(frozen=True)
class Quotas:
    """A client's own limits; ``None`` = the service's default for that limit."""

    challenges: Rate | None = None
    verifies: Rate | None = None
    outstanding: int | None = None

    def to_json_dict(self) -> dict:
        out: dict = {}
        if self.challenges is not None:
            out["challenges"] = str(self.challenges)
        if self.verifies is not None:
            out["verifies"] = str(self.verifies)
        if self.outstanding is not None:
            out["outstanding"] = self.outstanding
        return out

    @classmethod
    def from_json_dict(cls, data, *, source=None, where: str = "quotas") -> Quotas:
        if not isinstance(data, dict):
            raise FormatError("must be an object", source=source, field=where)
        extra = set(data) - set(_QUOTA_KEYS)
        if extra:
            raise FormatError(f"unknown key(s) {sorted(extra)}", source=source, field=where)
        ch = data.get("challenges")
        vf = data.get("verifies")
        out = data.get("outstanding")
        if out is not None and (isinstance(out, bool) or not isinstance(out, int) or not 1 <= out <= 1_000_000):
            raise FormatError("must be an integer from 1 to 1000000", source=source, field=f"{where}.outstanding")
        return cls(
            challenges=None if ch is None else parse_rate(ch, source=source, field=f"{where}.challenges"),
            verifies=None if vf is None else parse_rate(vf, source=source, field=f"{where}.verifies"),
            outstanding=out,
        )


# --- clients -------------------------------------------------------------------------------------


def hash_key(salt: bytes, secret: bytes) -> bytes:
    return hashlib.sha256(KEY_DOMAIN + salt + secret).digest()


@dataclass(frozen=True)
class Client:
    """One registered client. Holds the salted hash of its key, never the key."""

    id: str
    subject: str
    key_id: str
    key_salt: str
    key_hash: str
    created: str
    quotas: Quotas = Quotas()

    def to_json_dict(self) -> dict:
        out: dict[str, Any] = {"id": self.id, "subject": self.subject, "key_id": self.key_id, "key_salt": self.key_salt,
               "key_hash": self.key_hash, "created": self.created}
        q = self.quotas.to_json_dict()
        if q:
            out["quotas"] = q
        return out

    def public_json_dict(self) -> dict:
        """What the client itself may see about its registration (no hash, no salt)."""
        return {"id": self.id, "subject": self.subject, "key_id": self.key_id}


def check_subject(subject, *, source=None, field: str = "subject") -> str:
    if not isinstance(subject, str) or not subject or len(subject) > MAX_SUBJECT_CHARS:
        raise FormatError(f"must be a non-empty string of at most {MAX_SUBJECT_CHARS} characters",
                          source=source, field=field)
    if any(ord(c) < 32 or ord(c) == 127 for c in subject) or subject != subject.strip():
        raise FormatError("must not contain control characters or leading/trailing spaces",
                          source=source, field=field)
    return subject


def check_client_id(client_id, *, source=None, field: str = "id") -> str:
    if not isinstance(client_id, str) or not _ID.match(client_id):
        raise FormatError("must be 1-64 characters from A-Z a-z 0-9 . _ - (starting with a letter or digit)",
                          source=source, field=field)
    return client_id


def _client_from(data, i: int, source) -> Client:
    where = f"clients[{i}]"
    if not isinstance(data, dict):
        raise FormatError("must be an object", source=source, field=where)
    extra = set(data) - _CLIENT_KEYS
    if extra:
        raise FormatError(f"unknown key(s) {sorted(extra)}", source=source, field=where)
    for k in ("id", "subject", "key_id", "key_salt", "key_hash"):
        if k not in data:
            raise FormatError("missing", source=source, field=f"{where}.{k}")
    for k, rx, what in (("key_id", _HEX16, "8 bytes"), ("key_salt", _HEX32, "16 bytes"), ("key_hash", _HEX64, "32 bytes")):
        if not isinstance(data[k], str) or not rx.match(data[k]):
            raise FormatError(f"must be {what} of lowercase hex", source=source, field=f"{where}.{k}")
    created = data.get("created", "")
    if not isinstance(created, str):
        raise FormatError("must be a string", source=source, field=f"{where}.created")
    return Client(
        id=check_client_id(data["id"], source=source, field=f"{where}.id"),
        subject=check_subject(data["subject"], source=source, field=f"{where}.subject"),
        key_id=data["key_id"], key_salt=data["key_salt"], key_hash=data["key_hash"], created=created,
        quotas=Quotas.from_json_dict(data.get("quotas", {}), source=source, where=f"{where}.quotas"),
    )


class ClientRegistry:
    """The clients of one clients file, looked up by API key."""

    def __init__(self, clients=(), *, source: str | None = None):
        self.source = source
        self._clients: list[Client] = []
        self._by_id: dict[str, Client] = {}
        self._by_kid: dict[str, Client] = {}
        for i, c in enumerate(clients):
            if c.id in self._by_id:
                raise FormatError(f"duplicate client id {c.id!r}", source=source, field=f"clients[{i}].id")
            if c.key_id in self._by_kid:
                raise FormatError("duplicate key id", source=source, field=f"clients[{i}].key_id")
            self._clients.append(c)
            self._by_id[c.id] = c
            self._by_kid[c.key_id] = c
        # what an unknown key id is compared against, so that every failure costs the same
        self._dummy = (secrets.token_bytes(16), secrets.token_bytes(32))

    def authenticate(self, key) -> Client | None:
        """The client whose key this is, or None (malformed, unknown or wrong key alike)."""
        m = _KEY.match(key) if isinstance(key, str) else None
        kid, secret = (m.group(1), bytes.fromhex(m.group(2))) if m else ("", bytes(32))
        client = self._by_kid.get(kid)
        if client is not None:
            salt, expected = bytes.fromhex(client.key_salt), bytes.fromhex(client.key_hash)
        else:
            salt, expected = self._dummy
        ok = hmac.compare_digest(hash_key(salt, secret), expected)
        return client if (ok and client is not None and m is not None) else None

    def get(self, client_id: str) -> Client | None:
        return self._by_id.get(client_id)

    def __iter__(self) -> Iterator[Client]:
        return iter(self._clients)

    def __len__(self) -> int:
        return len(self._clients)

    def to_json_dict(self) -> dict:
        return {"format": CLIENTS_FORMAT, "clients": [c.to_json_dict() for c in self._clients]}

    @classmethod
    def from_json_dict(cls, data, source: str | None = None) -> ClientRegistry:
        if not isinstance(data, dict):
            raise FormatError("not a clients file (a JSON object)", source=source)
        if data.get("format") != CLIENTS_FORMAT:
            raise FormatError(f"not a clients file (format must be {CLIENTS_FORMAT!r})", source=source, field="format")
        extra = set(data) - {"format", "clients"}
        if extra:
            raise FormatError(f"unknown key(s) {sorted(extra)}", source=source)
        clients = data.get("clients")
        if not isinstance(clients, list):
            raise FormatError("must be a list", source=source, field="clients")
        return cls([_client_from(c, i, source) for i, c in enumerate(clients)], source=source)


def load_clients(src) -> ClientRegistry:
    """A clients file (path) or its parsed JSON (dict) → :class:`ClientRegistry`."""
    if isinstance(src, ClientRegistry):
        return src
    if isinstance(src, dict):
        return ClientRegistry.from_json_dict(src)
    path = os.fspath(src)
    if not os.path.exists(path):
        raise InputError("no such clients file", source=path)
    # the input layer (zkmargin.files.inputs): at most MAX_FILE_BYTES, no duplicate keys, depth
    data, name = load_json(path, "clients", numbers="plain")
    return ClientRegistry.from_json_dict(data, source=name)


class ClientsFile:
    """A clients file the service re-reads when it changes (the venue adds, rotates or removes a
    client without a restart). A change that does not load keeps the previous clients and is
    logged once."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        self._sig = self._signature()
        self._registry = load_clients(self.path)

    def _signature(self):
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def registry(self) -> ClientRegistry:
        sig = self._signature()
        if sig == self._sig:
            return self._registry
        with self._lock:
            if sig != self._sig:
                self._sig = sig
                try:
                    self._registry = load_clients(self.path)
                    logger.info("clients file reloaded: %d client(s)", len(self._registry))
                except InputError as exc:
                    logger.warning("clients file not reloaded, keeping the previous clients: %s", exc.one_line())
            return self._registry


def bearer_key(header: str | None) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header value, or None."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    value = value.strip()
    return value or None
