"""Fixtures for the functions suite: real `assethost serve` subprocesses (SQLite), real Node."""

from __future__ import annotations

import pytest
from fnkit import FUNCTION_TIMEOUT_S
from servers import REPO, Backend, ServerProcess

# npm's cache outlives test runs, so a dependency is fetched from the registry once per machine.
NPM_CACHE = REPO / ".cache" / "npm-functions"


def _start(tmp_path_factory, name: str, *args: str) -> ServerProcess:
    srv = ServerProcess(Backend("sqlite"), tmp_path_factory.mktemp(name),
                        ["--npm-cache", str(NPM_CACHE), *args])
    try:
        return srv.start()
    except BaseException:
        srv.stop()
        raise


@pytest.fixture(scope="session")
def fn_server(tmp_path_factory):
    """Functions time out after 2 s here (--function-timeout 2), so the runaway test is quick."""
    srv = _start(tmp_path_factory, "functions", "--function-timeout", str(FUNCTION_TIMEOUT_S))
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def fn_http(fn_server):
    with fn_server.http_client() as c:
        yield c


@pytest.fixture
def narrow_server(tmp_path_factory):
    """One function call at a time per account, to see the concurrency bound."""
    srv = _start(tmp_path_factory, "narrow", "--function-concurrency", "1", "--function-timeout", "5")
    yield srv
    srv.stop()
