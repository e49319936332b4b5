"""Several service worker processes: ``zkmargin serve --db postgresql://… --workers N``.

uvicorn's process supervisor runs N workers on one listening socket (spawned, not forked: each
worker imports zkmargin and builds its own prepared verifier, so nothing — no MSM thread pool —
is inherited half-alive) and restarts a worker that dies. What the workers share lives in the
database: the log, the challenges and the request rates (:mod:`.shared`); a challenge issued by
one worker is consumed by another, a client's rate is one rate over all workers, and the log has
one sequence.

The parent checks every input first (it builds the service once, exactly as a worker will, and
closes it), then writes the workers' configuration — paths, the database URL, the options; the
policy and market as the canonical JSON the parent checked — to a private (0600) temporary file
named by ``$ZKMARGIN_SERVE_CONFIG``, removed when the supervisor exits. The venue key is passed
by its file's path; a key given otherwise is written to a private temporary file removed on exit.

May import the service's modules and the API below them; uvicorn inside :func:`serve_workers`.
Used by :func:`~.app.serve`.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from ...errors import InputError
from .quotas import ServiceLimits

CONFIG_ENV = "ZKMARGIN_SERVE_CONFIG"
_RATE_FIELDS = ("client_challenges", "client_verifies", "global_challenges", "global_verifies")


def limits_to_json(limits: ServiceLimits) -> dict:
    out: dict[str, Any] = {}
    for name in ("client_outstanding", "global_outstanding", "body_timeout"):
        out[name] = getattr(limits, name)
    for name in _RATE_FIELDS:
        r = getattr(limits, name)
        out[name] = None if r is None else f"{r.count} per {r.seconds} seconds"
    return out


def limits_from_json(doc: dict) -> ServiceLimits:
    from .clients import parse_rate

    kw: dict[str, Any] = {k: doc[k] for k in ("client_outstanding", "global_outstanding", "body_timeout")}
    for name in _RATE_FIELDS:
        kw[name] = None if doc[name] is None else parse_rate(doc[name])
    return ServiceLimits(**kw)


def app_from_config():
    """uvicorn's app factory in each worker: the service from ``$ZKMARGIN_SERVE_CONFIG``."""
    from .app import create_app

    path = os.environ.get(CONFIG_ENV)
    if not path:
        raise InputError(f"${CONFIG_ENV} is not set (workers are started by 'zkmargin serve --workers N')")
    with open(path, encoding="utf-8") as f:
        cfg = json.load(f)
    return create_app(cfg["policy"], cfg["market"], cfg["threshold"], clients=cfg["clients"], log=cfg["db"],
                      log_key=cfg["log_key"], challenge_ttl=cfg["challenge_ttl"], max_body=cfg["max_body"],
                      limits=limits_from_json(cfg["limits"]), max_age=cfg["max_age"], backend=cfg["backend"],
                      batch_window=cfg["batch_window"], max_batch=cfg["max_batch"])


def serve_workers(app, *, workers: int, host: str, port: int, clients, log, log_key, challenge_ttl: float,
                  max_body: int, limits: ServiceLimits, max_age, backend, batch_window: float, max_batch: int,
                  log_level: str) -> None:
    """Run ``workers`` processes of the service ``app`` (already built and checked here, then
    closed) under uvicorn's supervisor until interrupted."""
    import uvicorn

    from ...rules.digests import canonical_json
    from ...verifier.log import is_database_url

    if not is_database_url(log):
        raise InputError("several workers share the challenges, the rates and the log through PostgreSQL: "
                         "give --db postgresql://…", field="--workers")
    if not isinstance(clients, (str, os.PathLike)):
        raise InputError("several workers read the clients from a file", field="--clients")
    svc = app.fastapi.state.service
    temp_files: list[str] = []
    try:
        key_ref = log_key
        if not (isinstance(log_key, (str, os.PathLike)) and os.path.isfile(log_key)):
            from ...crypto.ed25519 import load_private_key, private_key_pem

            fd, key_path = tempfile.mkstemp(prefix="zkmargin-venue-", suffix=".pem")  # mode 0600
            temp_files.append(key_path)
            with os.fdopen(fd, "wb") as f:
                f.write(private_key_pem(load_private_key(log_key, "venue log key", InputError)))
            key_ref = key_path
        cfg = {
            "policy": canonical_json(svc.verifier.policy), "market": canonical_json(svc.verifier.market),
            "threshold": svc.threshold, "clients": os.path.abspath(os.fspath(clients)), "db": log,
            "log_key": os.path.abspath(os.fspath(key_ref)), "challenge_ttl": challenge_ttl, "max_body": max_body,
            "limits": limits_to_json(limits), "max_age": max_age,
            "backend": backend if isinstance(backend, str) or backend is None else getattr(backend, "name", None),
            "batch_window": batch_window, "max_batch": max_batch,
        }
        fd, cfg_path = tempfile.mkstemp(prefix="zkmargin-serve-", suffix=".json")
        temp_files.append(cfg_path)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(cfg, f)
        svc.close()
        os.environ[CONFIG_ENV] = cfg_path
        # each worker process takes its share of the cores for its MSMs (threads that outnumber the
        # cores only add switching and a second bucket reduction per split)
        os.environ.setdefault("ZKMARGIN_MSM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
        uvicorn.run("zkmargin.workflows.service.workers:app_from_config", factory=True, host=host, port=port,
                    workers=workers, log_level=log_level, timeout_keep_alive=5)
    finally:
        for p in temp_files:
            try:
                os.unlink(p)
            except OSError:
                pass
