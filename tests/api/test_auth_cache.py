"""Credentials the API has cached stop working at once when they change in another process: with
`--workers 2` (two processes, each with its own cache, sharing the database), after
`assethost accounts rotate-token` or `assethost keys delete` (a third process), the very next
request to either worker is refused with the old secret and accepted with the new one. A wrong
secret is refused by a worker that has just accepted the right one. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import http.client
import secrets

import pytest
from helpers import assert_error
from servers import ServerProcess

ATTEMPTS = 200  # fresh connections until each worker has answered (the kernel picks the worker)


def _by_worker(srv, pids: list[int], username: str, password: str) -> dict[int, set[int]]:
    """The statuses each worker gives GET /v1/Services with these credentials, one new connection
    at a time until every worker has answered at least twice."""
    header = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    seen: dict[int, list[int]] = {}
    for _ in range(ATTEMPTS):
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        try:
            conn.request("GET", "/v1/Services", headers={"Authorization": header})
            resp = conn.getresponse()
            resp.read()
            worker = ServerProcess.worker_holding(conn.sock.getsockname()[1], pids)
        finally:
            conn.close()
        if worker is not None:
            seen.setdefault(worker, []).append(resp.status)
        if len(seen) == len(pids) and all(len(s) >= 2 for s in seen.values()):
            return {w: set(s) for w, s in seen.items()}
    raise AssertionError(f"only workers {sorted(seen)} of {pids} answered")


@pytest.fixture(scope="module")
def two_workers(backend, tmp_path_factory):
    srv = ServerProcess(backend, tmp_path_factory.mktemp("auth-cache"), ["--workers", "2"]).start()
    yield srv
    srv.stop()


def _everywhere(srv, username, password) -> set[int]:
    pids = srv.worker_pids()
    assert len(pids) == 2
    answers = _by_worker(srv, pids, username, password)
    assert set(answers) == set(pids)
    return set().union(*answers.values())


def test_a_deleted_key_is_refused_at_once_by_every_worker(two_workers):
    srv = two_workers
    key_sid, secret = srv.create_key()
    assert _everywhere(srv, key_sid, secret) == {200}  # both workers have it cached now
    srv.admin("keys", "delete", key_sid)
    assert _everywhere(srv, key_sid, secret) == {401}
    with srv.http_client(key_sid, secret) as http:
        assert_error(http.get("/v1/Services"), 401, 20003)


def test_a_rotated_token_is_refused_at_once_by_every_worker(two_workers):
    srv = two_workers
    old = srv.auth_token
    key_sid, key_secret = srv.create_key()  # a credential the rotation leaves alone
    assert _everywhere(srv, srv.account_sid, old) == {200}
    assert _everywhere(srv, key_sid, key_secret) == {200}
    new = srv.admin("accounts", "rotate-token")["auth_token"]
    srv.auth_token = new
    assert new != old
    assert _everywhere(srv, srv.account_sid, old) == {401}
    assert _everywhere(srv, srv.account_sid, new) == {200}
    assert _everywhere(srv, key_sid, key_secret) == {200}


def test_a_wrong_secret_is_refused_right_after_the_right_one(two_workers):
    srv = two_workers
    key_sid, secret = srv.create_key()
    with srv.http_client(key_sid, secret) as good, \
            srv.http_client(key_sid, secret[:-1] + ("A" if secret[-1] != "A" else "B")) as bad, \
            srv.http_client(srv.account_sid, secrets.token_hex(16)) as bad_token:
        for _ in range(5):
            assert good.get("/v1/Services").status_code == 200
            assert_error(bad.get("/v1/Services"), 401, 20003)
            assert_error(bad_token.get("/v1/Services"), 401, 20003)
    assert _everywhere(srv, key_sid, secret.upper()) == {401}
