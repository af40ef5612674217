"""`serve --api-only`: the API, the console and the operator's paths, but no environment: their
domains are answered 421 (the load balancer sent them to the wrong node), no snapshot of live
builds is loaded and no function runs (tests/scale/test_cluster.py runs it beside edge nodes)."""

from __future__ import annotations

import http.client

import httpx
from edgekit import Deployer, FileSpec, send_raw
from prometheus_client.parser import text_string_to_metric_families
from servers import start_sqlite_server

MISDIRECTED = (b"Misdirected Request: this node serves no environments (assethost serve --api-only); "
               b"send environment domains to an edge node\n")


def _gauge(text: str, name: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    raise AssertionError(f"no {name} in /metrics")


def test_an_api_only_node_answers_environment_domains_421(tmp_path):
    srv = start_sqlite_server(tmp_path, "--api-only")
    try:
        with srv.http_client() as api:
            site = Deployer(srv, api).site([FileSpec("/hello.txt", b"hello")])
            assert api.get("/v1/Services").status_code == 200
            assert api.get("/console/signin").status_code == 200
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        try:  # our own front, on one connection: a file, a missing path, a POST
            for method, path in (("GET", "/hello.txt"), ("GET", "/nothing"), ("POST", "/hello.txt")):
                answer = send_raw(conn, method, path, f"{site.domain}:{srv.port}")
                assert (answer.status, answer.body) == (421, MISDIRECTED), (method, path)
        finally:
            conn.close()
        with httpx.Client(base_url=srv.base_url, trust_env=False, timeout=10) as c:
            other = c.get("/x", headers={"Host": f"no-such-env.localhost:{srv.port}"})
            assert (other.status_code, other.content) == (421, MISDIRECTED)
            ready = c.get("/readyz")
            assert (ready.status_code, ready.json()["status"]) == (200, "ready")
            metrics = c.get("/metrics").text
        # Deployed, yet nothing of it is held here.
        assert _gauge(metrics, "assethost_snapshot_sites") == 0
        assert _gauge(metrics, "assethost_snapshot_files") == 0
    finally:
        srv.stop()
