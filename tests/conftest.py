"""Fixtures for the black-box HTTP suite: each API test runs against a real `python -m assethost serve`
subprocess, once on SQLite and once on PostgreSQL (session-scoped parametrized `backend`)."""

from __future__ import annotations

import pytest
from helpers import SMALL_LIMITS
from servers import REPO, Backend, ServerProcess  # noqa: F401  (REPO: used by other suites)
from twilio.rest import Client

# ---------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request) -> Backend:
    b = Backend(request.param)
    b.check()
    return b


def _start(backend: Backend, tmp_path_factory, name: str, extra_args=(), public_url=None) -> ServerProcess:
    srv = ServerProcess(backend, tmp_path_factory.mktemp(f"{name}-{backend.name}"), extra_args, public_url)
    try:
        return srv.start()
    except BaseException:
        srv.stop()
        raise


@pytest.fixture(scope="session")
def server(backend, tmp_path_factory):
    """The shared server for the session (per backend). Use unique names in tests."""
    srv = _start(backend, tmp_path_factory, "server")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def limited_server(backend, tmp_path_factory):
    """A second server with small per-file and per-build limits (SMALL_LIMITS)."""
    args = []
    for key, value in SMALL_LIMITS.items():
        args += ["--" + key.replace("_", "-"), str(value)]
    srv = _start(backend, tmp_path_factory, "limited", args)
    yield srv
    srv.stop()


@pytest.fixture
def server_factory(backend, tmp_path_factory):
    """Start a fresh server with custom flags: server_factory(*extra_args, public_url=None)."""
    started: list[ServerProcess] = []

    def make(*extra_args, public_url: str | None = None) -> ServerProcess:
        srv = _start(backend, tmp_path_factory, "custom", extra_args, public_url)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture
def http(server):
    with server.http_client() as c:
        yield c


@pytest.fixture
def client(server) -> Client:
    return server.twilio_client()


@pytest.fixture(scope="session")
def other_account(server):
    """A second account (created with the admin CLI) as (account_sid, auth_token)."""
    return server.create_account()


@pytest.fixture
def other_http(server, other_account):
    with server.http_client(*other_account) as c:
        yield c
