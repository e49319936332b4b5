"""A real PostgreSQL server for the tests, in a temporary directory: ``initdb``, ``pg_ctl start``
on a free loopback port (and a Unix socket in the directory), a fresh database per test, ``pg_ctl
stop`` at the end. No mocks.

Where the server comes from: Debian's ``postgresql`` package (binaries under
``/usr/lib/postgresql/<version>/bin``). When they are missing and we are root (CI, a fresh
machine), :func:`ensure_binaries` installs the package with ``apt-get`` (about a minute, once per
machine); PostgreSQL refuses to run as root, so as root the server runs as the package's
``postgres`` user (``runuser``). When the server cannot be had the PostgreSQL tests FAIL; they are
skipped only when ``ZKMARGIN_SKIP_POSTGRES=1`` says so (machines without PostgreSQL, documented in
the README).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

import pytest

SKIP_ENV = "ZKMARGIN_SKIP_POSTGRES"


def _bin_dir() -> str | None:
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2].split(".")[0]))
    for d in reversed(dirs):
        if os.path.exists(os.path.join(d, "initdb")) and os.path.exists(os.path.join(d, "pg_ctl")):
            return d
    on_path = shutil.which("pg_ctl")
    return os.path.dirname(on_path) if on_path else None


def ensure_binaries() -> str:
    """The directory of initdb/pg_ctl, installing Debian's package first when missing (as root)."""
    found = _bin_dir()
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"], check=False,
                       env=env, stdout=subprocess.DEVNULL)
        found = _bin_dir()
        if found:
            return found
    raise RuntimeError("PostgreSQL's server binaries (initdb, pg_ctl) are not installed and could not be "
                       "installed: apt-get install postgresql, or set ZKMARGIN_SKIP_POSTGRES=1 to skip these tests")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One server in a temporary directory. ``dsn(db)`` names a database on it."""

    def __init__(self):
        self.bin = ensure_binaries()
        self.root = tempfile.mkdtemp(prefix="zkm-pg-")
        self.data = os.path.join(self.root, "data")
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL will not run as root
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres")
        self.user = "postgres" if self.as_user else (os.environ.get("USER") or "postgres")
        self._run("initdb", "-D", self.data, "-U", self.user, "--auth=trust", "-E", "UTF8", "--no-sync")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                    f"unix_socket_directories = '{self.root}'\nmax_connections = 200\n"
                    "fsync = on\nsynchronous_commit = on\nshared_buffers = 64MB\n")
        self.start()

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*self.as_user, os.path.join(self.bin, tool), *args], check=check,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def start(self) -> None:
        self._run("pg_ctl", "-D", self.data, "-l", os.path.join(self.root, "server.log"), "-w", "-t", "60", "start")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.1)
        raise RuntimeError("the test PostgreSQL server did not start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop", check=False)

    def restart(self, down_seconds: float = 0.0) -> None:
        self.stop("fast")
        time.sleep(down_seconds)
        self.start()

    def dsn(self, db: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{db}"

    def new_database(self) -> str:
        import psycopg

        name = "zkm_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.dsn(name)

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


_server: PgServer | None = None


def server() -> PgServer:
    """The session's server (started on first use; pytest fails, or skips with the variable)."""
    global _server
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"PostgreSQL tests skipped: {SKIP_ENV}=1")
    if _server is None:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            pytest.fail("psycopg (the 'postgres' extra) is not installed: pip install '.[test]'", pytrace=False)
        try:
            _server = PgServer()
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stdout", "") or ""
            pytest.fail(f"cannot start the test PostgreSQL server: {exc} {detail[-500:]}", pytrace=False)
    return _server


def shutdown() -> None:
    global _server
    if _server is not None:
        _server.close()
        _server = None
