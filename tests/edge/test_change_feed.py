"""The change feed between processes sharing a database: a second server (an edge-only node) on
the main server's database and blob store. On PostgreSQL a change reaches the node by NOTIFY,
long before its poll; on SQLite by polling. A change reloads only the environments it names,
and the files of builds are held within --build-cache-files."""

from __future__ import annotations

import time

import httpx
import psycopg
import pytest
from edgekit import Deployer, FileSpec
from prometheus_client.parser import text_string_to_metric_families

NOTIFIED_S = 1.0  # well under the node's poll interval below: only a notification explains it
LONG_POLL = "30"
RECOVERED_S = 5.0  # a killed LISTEN connection is made again within its first backoff (0.5 s) or so
WAIT_S = 10.0


def _node(main, backend, tmp_path, *args: str):
    node = type(main)(backend, tmp_path / "node", extra_args=["--edge-only", *args])  # tests/servers.ServerProcess
    backend.drop_database(node._dbname)  # share the main server's database and blob store instead
    node.db_url, node._dbname, node.data_dir = main.db_url, None, main.data_dir
    node.account_sid, node.auth_token = main.account_sid, main.auth_token
    node.blob_args, node.extra_env = main.blob_args, dict(main.extra_env)
    return node.start()


def _serves(srv, domain: str, path: str, body: bytes) -> float:
    """Seconds until the server answers `body` for the domain's path (a new connection each try)."""
    start = time.monotonic()
    while time.monotonic() - start < WAIT_S:
        with httpx.Client(base_url=srv.base_url, headers={"Host": f"{domain}:{srv.port}"}, trust_env=False,
                          timeout=5) as c:
            if c.get(path).content == body:
                return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"{srv.base_url} never served {body!r} at {domain}{path}")


def _metrics(srv) -> dict[str, float]:
    resp = httpx.get(f"{srv.base_url}/metrics", trust_env=False, timeout=10)
    assert resp.status_code == 200
    return {s.name: s.value for f in text_string_to_metric_families(resp.text) for s in f.samples if not s.labels}


def _redeploy(d: Deployer, site, body: bytes) -> None:
    d.deploy(site.service_sid, site.env_sid, d.build(site.service_sid, [FileSpec("/v.txt", body)]))


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def test_a_deployment_reaches_another_process_by_notification_and_after_its_connection_is_killed(
        server_factory, backend, tmp_path):
    if backend.name != "postgres":
        pytest.skip("NOTIFY is PostgreSQL's; on SQLite changes are polled (the next test)")
    main = server_factory()
    node = _node(main, backend, tmp_path, "--poll-interval", LONG_POLL)
    try:
        with main.http_client() as http:
            d = Deployer(main, http)
            site = d.site([FileSpec("/v.txt", b"one")])
            assert _serves(node, site.domain, "/v.txt", b"one") < NOTIFIED_S
            for body in (b"two", b"three"):
                _redeploy(d, site, body)
                assert _serves(node, site.domain, "/v.txt", body) < NOTIFIED_S
            assert _metrics(node)["assethost_change_listener_connected"] == 1

            with psycopg.connect(_libpq(main.db_url), autocommit=True) as admin:
                killed = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = 'assethost-listen' AND datname = current_database()").fetchone()
            assert killed is not None and killed[0] >= 2  # the main server's listener and the node's
            _redeploy(d, site, b"four")  # perhaps while no connection listens: the reconnection catches up
            assert _serves(node, site.domain, "/v.txt", b"four") < RECOVERED_S
            _redeploy(d, site, b"five")  # and later changes are notified again
            assert _serves(node, site.domain, "/v.txt", b"five") < NOTIFIED_S
        assert "change notifications lost" in node.log_tail()
    finally:
        node.stop()


def test_on_sqlite_another_process_polls_the_feed(server_factory, backend, tmp_path):
    if backend.name != "sqlite":
        pytest.skip("on PostgreSQL the notification test above covers propagation")
    main = server_factory()
    node = _node(main, backend, tmp_path, "--poll-interval", "0.2")
    try:
        with main.http_client() as http:
            d = Deployer(main, http)
            site = d.site([FileSpec("/v.txt", b"one")])
            _serves(node, site.domain, "/v.txt", b"one")
            _redeploy(d, site, b"two")
            assert _serves(node, site.domain, "/v.txt", b"two") < NOTIFIED_S
        assert "assethost_change_listener_connected" not in _metrics(node)
    finally:
        node.stop()


def test_a_change_reloads_only_the_environment_it_names(server_factory, backend, tmp_path):
    main = server_factory()
    node = _node(main, backend, tmp_path, "--poll-interval", "0.2")
    try:
        with main.http_client() as http:
            d = Deployer(main, http)
            sites = [d.site([FileSpec("/v.txt", b"one")], prefix=f"feed{i}") for i in range(3)]
            for site in sites:
                _serves(node, site.domain, "/v.txt", b"one")
            before = _metrics(node)
            _redeploy(d, sites[1], b"two")
            _serves(node, sites[1].domain, "/v.txt", b"two")
            after = _metrics(node)
            assert after["assethost_snapshot_environments_loaded_total"] \
                == before["assethost_snapshot_environments_loaded_total"] + 1
            assert after["assethost_snapshot_full_loads_total"] == before["assethost_snapshot_full_loads_total"] == 1
            assert after["assethost_snapshot_sites"] == 3
            # The new build was loaded with the deployment (the old one had been served) and the old let go.
            assert after["assethost_snapshot_build_loads_total"] == before["assethost_snapshot_build_loads_total"] + 1
            assert after["assethost_snapshot_resident_builds"] == 3
            for site in (sites[0], sites[2]):
                assert _serves(node, site.domain, "/v.txt", b"one") < NOTIFIED_S
    finally:
        node.stop()


def test_builds_past_the_file_bound_are_let_go_and_still_answer_their_bytes(server_factory):
    srv = server_factory("--build-cache-files", "2")
    with srv.http_client() as http:
        d = Deployer(srv, http)
        sites = [d.site([FileSpec("/a.txt", f"a of {i}\n".encode()), FileSpec("/b.css", f"b{{{i}}}".encode())],
                        prefix=f"lru{i}") for i in range(3)]
        for _ in range(2):
            for i, site in enumerate(sites):
                assert site.get("/a.txt").content == f"a of {i}\n".encode()
                assert site.get("/b.css").content == f"b{{{i}}}".encode()
    figures = _metrics(srv)
    assert figures["assethost_snapshot_resident_builds"] == 1  # two files: one build of two
    assert figures["assethost_snapshot_files"] == 2
    assert figures["assethost_snapshot_build_evictions_total"] >= 5  # each site's first request let one go
