"""A changed Auth Token reaches every process the way a deployment does: after `assethost accounts
rotate-token` (or a node restarted with a new TWILIO_AUTH_TOKEN), the old token's signatures get
403 and the new token's 200 on every worker within about a second, with no deployment; the API
refuses the old token at once. On SQLite and PostgreSQL."""

from __future__ import annotations

import http.client
import time

import pytest
from edgekit import Deployer, FileSpec, twilio_signature
from servers import Backend, ServerProcess

SECRET = b"protected by the account's token\n"
PROPAGATION_S = 1.5  # the edge polls every 0.5 s; a reload takes milliseconds


def _answers(site, token: str, workers: list[int]) -> dict[int, int]:
    """The status each worker gives a request signed with `token`, one fresh connection at a time
    until every worker has answered (the kernel hands connections to whichever worker accepts)."""
    seen: dict[int, int] = {}
    signature = twilio_signature(token, site.url("/p.txt"))
    for _ in range(200):
        conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=10)
        try:
            conn.putrequest("GET", "/p.txt", skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", site.host)
            conn.putheader("X-Twilio-Signature", signature)
            conn.endheaders()
            resp = conn.getresponse()
            body = resp.read()
            worker = ServerProcess.worker_holding(conn.sock.getsockname()[1], workers)
        finally:
            conn.close()
        assert resp.status in (200, 403, 404), (resp.status, body)  # 404: a worker yet to see the deployment
        assert (body == SECRET) == (resp.status == 200)
        if worker is not None:
            seen.setdefault(worker, resp.status)
            if seen[worker] != resp.status:  # a worker must not answer both ways at one time
                seen[worker] = -1
        if len(seen) == len(workers):
            return seen
    raise AssertionError(f"only workers {sorted(seen)} of {workers} answered")


def _wait_until(check, what: str) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < PROPAGATION_S, f"{what} after {PROPAGATION_S} s"
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.mark.parametrize("workers", [1, 2])
def test_rotated_token_reaches_every_worker_within_a_second(server_factory, workers):
    srv = server_factory("--workers", str(workers))
    with srv.http_client() as http:
        site = Deployer(srv, http).site([FileSpec("/p.txt", SECRET, "protected")])
    pids = srv.worker_pids()
    assert len(pids) == workers
    old = srv.auth_token
    _wait_until(lambda: set(_answers(site, old, pids).values()) == {200}, "the deployment has not arrived")

    new = srv.admin("accounts", "rotate-token")["auth_token"]
    assert new != old
    with srv.http_client(srv.account_sid, old) as http:  # the API: at once
        assert http.get("/v1/Services").status_code == 401
    with srv.http_client(srv.account_sid, new) as http:
        assert http.get("/v1/Services").status_code == 200
    _wait_until(lambda: set(_answers(site, old, pids).values()) == {403}, "the old token still signs")
    assert set(_answers(site, new, pids).values()) == {200}
    assert srv.worker_pids() == pids  # nobody restarted to get there


def test_a_node_started_with_a_new_token_changes_it_for_the_others(backend, server_factory, tmp_path):
    """Two nodes sharing the database and blobs: one restarted with another TWILIO_AUTH_TOKEN
    (how a server that serves a real Twilio account rotates) changes what the other checks."""
    first = server_factory()
    with first.http_client() as http:
        site = Deployer(first, http).site([FileSpec("/p.txt", SECRET, "protected")])
    pids = first.worker_pids()
    _wait_until(lambda: set(_answers(site, first.auth_token, pids).values()) == {200}, "not deployed")
    second = ServerProcess(Backend("sqlite"), tmp_path / "second", ["--edge-only"])
    second.data_dir, second.db_url = first.data_dir, first.db_url  # the first node's stores
    second.account_sid = first.account_sid
    second.auth_token = "f" * 32
    try:
        second.start()
        _wait_until(lambda: set(_answers(site, first.auth_token, pids).values()) == {403}, "the old token signs")
        assert set(_answers(site, second.auth_token, pids).values()) == {200}
    finally:
        second.stop()
