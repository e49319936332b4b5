"""Registering service clients: :func:`add_client` (a new client, or a new key for one) and
:func:`remove_client`, each rewriting the clients file (``zkmargin.clients/1``, :mod:`.clients`)
atomically with mode 0600 under an advisory lock on its folder. A new API key exists outside the
client's hands only in what :func:`add_client` returns (and the key file it may write).

May import :mod:`zkmargin.errors`, :mod:`zkmargin.files` and :mod:`.clients`. Used by the CLI
(``client-add``, ``client-remove``) and the tests.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from datetime import UTC, datetime

from ...errors import InputError
from ...files.atomic import write_atomic
from .clients import (
    KEY_PREFIX,
    Client,
    ClientRegistry,
    Quotas,
    check_client_id,
    check_subject,
    hash_key,
    load_clients,
    parse_rate,
)

__all__ = ["add_client", "remove_client"]


# --- writing -------------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _DirLock:
    """An advisory lock on the clients file's folder, so two ``client-add`` runs do not lose one
    another's client (each reads, changes and atomically replaces the file)."""

    def __init__(self, path: str):
        self.dir = os.path.dirname(os.path.abspath(path))

    def __enter__(self):
        self.fd = os.open(self.dir, os.O_RDONLY)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _write(path: str, registry: ClientRegistry) -> None:
    data = json.dumps(registry.to_json_dict(), indent=2, ensure_ascii=True).encode() + b"\n"
    write_atomic(path, data, mode=0o600)


def _write_key_file(key_file: str, key: str) -> None:
    """The key alone in a new file of mode 0600 (an existing file is never overwritten)."""
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key.encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def add_client(path, client_id: str, subject: str | None = None, *, challenges: str | None = None,
               verifies: str | None = None, outstanding: int | None = None,
               rotate: bool = False, key_file=None) -> tuple[Client, str]:
    """Register a client in the clients file at ``path`` (created when absent) and return it with
    its fresh API key — the only time the key exists outside the client's hands. With ``rotate``,
    an existing client gets a new key (the old one stops working) and keeps its subject unless
    another is given; its quotas are replaced by the ones given, if any. With ``key_file``, the key
    is also written to that new file (mode 0600) before the clients file changes."""
    path = os.fspath(path)
    if key_file is not None and os.path.lexists(key_file):
        raise InputError("the key file exists already (it is never overwritten)", source=os.fspath(key_file))
    check_client_id(client_id, field="--id")
    if subject is not None:
        check_subject(subject, field="--subject")
    elif not rotate:
        raise InputError("a new client needs the account it is known by", field="--subject")
    if outstanding is not None and (isinstance(outstanding, bool) or not 1 <= outstanding <= 1_000_000):
        raise InputError("must be from 1 to 1000000", field="--outstanding")
    quotas = Quotas(
        challenges=None if challenges is None else parse_rate(challenges, field="--challenges"),
        verifies=None if verifies is None else parse_rate(verifies, field="--verifies"),
        outstanding=outstanding,
    )
    with _DirLock(path):
        reg = load_clients(path) if os.path.exists(path) else ClientRegistry(source=path)
        old = reg.get(client_id)
        if old is not None and not rotate:
            raise InputError(f"client {client_id!r} exists (use --rotate for a new key)", source=path, field="--id")
        if old is None and rotate:
            raise InputError(f"no client {client_id!r} to rotate", source=path, field="--id")
        kid = secrets.token_hex(8)
        while reg._by_kid.get(kid) is not None:  # 64 random bits: practically never taken
            kid = secrets.token_hex(8)
        secret = secrets.token_bytes(32)
        salt = secrets.token_bytes(16)
        if old is not None and quotas == Quotas():
            quotas = old.quotas
        if subject is None:  # a rotation keeps the client's subject
            assert old is not None  # refused above: a new client without a subject, a rotation of nobody
            subject = old.subject
        client = Client(id=client_id, subject=subject, key_id=kid, key_salt=salt.hex(),
                        key_hash=hash_key(salt, secret).hex(), created=_now(), quotas=quotas)
        others = [c for c in reg if c.id != client_id]
        key = f"{KEY_PREFIX}{kid}_{secret.hex()}"
        if key_file is not None:
            try:
                _write_key_file(os.fspath(key_file), key)
            except OSError as exc:
                raise InputError(f"cannot write the key file ({exc.strerror})", source=os.fspath(key_file)) from None
        try:
            _write(path, ClientRegistry(others + [client], source=path))
        except BaseException:
            if key_file is not None:
                os.unlink(key_file)
            raise
    return client, key


def remove_client(path, client_id: str) -> Client:
    """Remove a client (its key stops working as soon as the service re-reads the file)."""
    path = os.fspath(path)
    with _DirLock(path):
        reg = load_clients(path)
        old = reg.get(client_id)
        if old is None:
            raise InputError(f"no client {client_id!r}", source=path, field="--id")
        _write(path, ClientRegistry([c for c in reg if c.id != client_id], source=path))
    return old
