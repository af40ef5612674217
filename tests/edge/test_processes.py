"""Deployments reach other processes that share the database: prefork workers of one server, and
a second server (an edge-only node) on the same data folder and database."""

from __future__ import annotations

import time

import httpx
from edgekit import Deployer, FileSpec, wait_for_every_worker

PROPAGATION_S = 1.5  # the documented bound is "within about a second" (poll every 0.5 s)


def _wait_for(client: httpx.Client, path: str, body: bytes, tries_per_poll: int = 4) -> float:
    """Seconds until `tries_per_poll` requests in a row (new connections) all return `body`."""
    start = time.monotonic()
    while time.monotonic() - start < 10:
        bodies = []
        for _ in range(tries_per_poll):
            with httpx.Client(base_url=str(client.base_url), headers=dict(client.headers), trust_env=False) as c:
                bodies.append(c.get(path).content)
        if all(b == body for b in bodies):
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"{path} never served {body!r} everywhere")


def _site_client(server, domain: str) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers={"Host": f"{domain}:{server.port}"}, trust_env=False)


def test_every_worker_serves_a_new_deployment_within_a_second(server_factory):
    srv = server_factory("--workers", "2")
    pids = srv.worker_pids()
    assert len(pids) == 2 and srv.pid not in pids
    with srv.http_client() as http:
        d = Deployer(srv, http)
        site = d.site([FileSpec("/v.txt", b"one")])
        wait_for_every_worker(srv, site.host, "/v.txt", b"one", pids)
        new_build = d.build(site.service_sid, [FileSpec("/v.txt", b"two")])
        d.deploy(site.service_sid, site.env_sid, new_build)
        assert wait_for_every_worker(srv, site.host, "/v.txt", b"two", pids) < PROPAGATION_S
        d.deploy(site.service_sid, site.env_sid, site.build_sid)  # rollback
        assert wait_for_every_worker(srv, site.host, "/v.txt", b"one", pids) < PROPAGATION_S
    assert srv.worker_pids() == pids  # the same two processes answered throughout


def test_an_edge_only_node_on_the_same_database_follows_deployments(server_factory, backend, tmp_path):
    main = server_factory()
    node = type(main)(backend, tmp_path / "node", extra_args=["--edge-only"])  # tests/conftest.ServerProcess
    backend.drop_database(node._dbname)  # share the main server's database and blob folder instead
    node.db_url, node._dbname, node.data_dir = main.db_url, None, main.data_dir
    node.account_sid, node.auth_token = main.account_sid, main.auth_token
    node.start()
    try:
        with main.http_client() as http:
            d = Deployer(main, http)
            site = d.site([FileSpec("/v.txt", b"first")])
            with _site_client(node, site.domain) as edge:
                assert _wait_for(edge, "/v.txt", b"first", 1) < PROPAGATION_S
                assert edge.get("/v1/Services").status_code == 404  # no API on an edge-only node
                new_build = d.build(site.service_sid, [FileSpec("/v.txt", b"second")])
                d.deploy(site.service_sid, site.env_sid, new_build)
                assert _wait_for(edge, "/v.txt", b"second", 1) < PROPAGATION_S
            with httpx.Client(base_url=node.base_url, trust_env=False) as api:
                assert api.get("/v1/Services").status_code == 404
    finally:
        node.stop()
