"""Session-wide fixtures: the real PostgreSQL server the database tests run against
(:mod:`pg_server`: started in a temporary directory on first use, stopped at the end)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pg_server  # noqa: E402


@pytest.fixture(scope="session")
def pg():
    """The test PostgreSQL server (:class:`pg_server.PgServer`); ``pg.new_database()`` gives a
    fresh database's URL."""
    srv = pg_server.server()
    yield srv
    pg_server.shutdown()
