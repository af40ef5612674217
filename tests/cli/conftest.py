"""Fixtures for the CLI suite: one server on SQLite for the session (the CLI only talks HTTP, so
one backend is enough; the API suites cover PostgreSQL)."""

from __future__ import annotations

import pytest
from clikit import start_server


@pytest.fixture(scope="session")
def cli_server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("cli-server"))
    yield srv
    srv.stop()
