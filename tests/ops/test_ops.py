"""The operator's endpoints of real servers: /healthz, /readyz (with a database and a blob store
that go away and come back), /metrics (exact counts of the requests made), the access log and
JSON server logs."""

from __future__ import annotations

import json
import os
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from edgekit import Deployer, FileSpec
from fnkit import deploy_project
from prometheus_client.parser import text_string_to_metric_families
from servers import PG_ADMIN_URL, Backend, ServerProcess

from assethost.web.traffic import Traffic

HELLO = b"hello operator\n"
READY = {"status": "ready", "checks": {"database": "ok", "blobs": "ok", "snapshot": "ok"}}


# Started through this, a server's stdout is thrown away: what its log file has came on stderr.
STDERR_ONLY = ("sh", "-c", 'exec "$@" >/dev/null', "sh")


def _start(tmp_path, *args: str, backend: str = "sqlite", launcher=()) -> ServerProcess:
    b = Backend(backend)
    b.check()
    srv = ServerProcess(b, tmp_path, args, launcher=launcher)
    try:
        return srv.start()
    except BaseException:
        srv.stop()
        raise


@pytest.fixture
def started(tmp_path):
    servers: list[ServerProcess] = []

    def start(*args: str, backend: str = "sqlite", launcher=()) -> ServerProcess:
        srv = _start(tmp_path / f"s{len(servers)}", *args, backend=backend, launcher=launcher)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()


def _get(srv: ServerProcess, path: str, **kw) -> httpx.Response:
    with httpx.Client(base_url=srv.base_url, trust_env=False, timeout=10.0) as c:
        return c.get(path, **kw)


def _site(srv: ServerProcess, specs: list[FileSpec]):
    with srv.http_client() as c:
        return Deployer(srv, c).site(specs, suffix="ops", prefix="ops")


def _until(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


# ------------------------------------------------------------------------------------- health


def test_health_and_readiness_on_the_api_origin(started):
    srv = started()
    alive = _get(srv, "/healthz")
    assert (alive.status_code, alive.json(), alive.headers["cache-control"]) == (200, {"status": "alive"}, "no-store")
    ready = _get(srv, "/readyz")
    assert (ready.status_code, ready.json()) == (200, READY)
    with httpx.Client(base_url=srv.base_url, trust_env=False) as c:
        refused = c.post("/readyz")
    assert (refused.status_code, refused.headers["allow"]) == (405, "GET, HEAD")


def test_an_environment_domain_serves_its_own_healthz_and_metrics(started):
    srv = started()
    site = _site(srv, [FileSpec("/healthz", b"tenant health\n"), FileSpec("/metrics", b"tenant metrics\n")])
    assert (site.get("/healthz").status_code, site.get("/healthz").content) == (200, b"tenant health\n")
    assert site.get("/metrics").content == b"tenant metrics\n"
    assert site.get("/readyz").status_code == 404  # the tenant has none: not the server's either


def test_readiness_follows_the_blob_store(started):
    srv = started()
    blobs = os.path.join(srv.data_dir, "blobs")
    os.rename(blobs, blobs + ".away")
    try:
        unready = _get(srv, "/readyz")
        assert unready.status_code == 503
        assert unready.json() == {"status": "unready", "checks": {
            "database": "ok", "blobs": "the blob folder is missing", "snapshot": "ok"}}
        assert _get(srv, "/healthz").status_code == 200  # alive all the same
    finally:
        os.rename(blobs + ".away", blobs)
    assert _get(srv, "/readyz").json() == READY
    assert "not ready: blobs: the blob folder is missing" in srv.log_tail()


def test_readiness_follows_the_database(started):
    """PostgreSQL refuses the server's database (connections forbidden, those open ended, the
    database renamed away), then gives it back."""
    import psycopg

    srv = started(backend="postgres")
    name = srv._dbname
    assert _get(srv, "/readyz").json() == READY
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        admin.execute(f'ALTER DATABASE "{name}" RENAME TO "{name}_away"')
        try:
            unready = _get(srv, "/readyz")
            assert unready.status_code == 503
            assert unready.json() == {"status": "unready", "checks": {
                "database": "no answer (OperationalError)", "blobs": "ok", "snapshot": "ok"}}
            assert _get(srv, "/healthz").status_code == 200
        finally:
            admin.execute(f'ALTER DATABASE "{name}_away" RENAME TO "{name}"')
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    assert _until(lambda: _get(srv, "/readyz").status_code == 200)
    assert _get(srv, "/readyz").json() == READY


def test_edge_only_serves_the_operator_paths(started):
    srv = started("--edge-only")
    assert _get(srv, "/healthz").json() == {"status": "alive"}
    assert _get(srv, "/readyz").json() == READY
    assert _get(srv, "/v1/Services").status_code == 404  # still no API
    assert "assethost_requests_total" in _get(srv, "/metrics").text


# ------------------------------------------------------------------------------------ metrics


def _scrape(srv: ServerProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = _get(srv, "/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _value(samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_metrics_count_the_requests_made(started):
    srv = started()
    protected = b"protected operator\n"
    site = _site(srv, [FileSpec("/hello.txt", HELLO), FileSpec("/p.txt", protected, "protected")])
    assert _until(lambda: _value(_scrape(srv), "assethost_snapshot_sites") == 1)
    before = _scrape(srv)
    for _ in range(3):
        assert site.get("/hello.txt").content == HELLO
    assert site.signed("GET", "/p.txt").content == protected
    missing = [site.get("/nothing.txt"), site.get("/p.txt")]  # 404, 403 (unsigned)
    assert [r.status_code for r in missing] == [404, 403]
    with srv.http_client() as c:
        assert [c.get("/v1/Services").status_code for _ in range(2)] == [200, 200]
        assert c.get("/v1/Services/ZS00000000000000000000000000000000").status_code == 404
    after = _scrape(srv)

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("assethost_requests_total", role="edge", status="2xx") == 4
    assert delta("assethost_requests_total", role="edge", status="4xx") == 2
    assert delta("assethost_requests_total", role="edge", status="5xx") == 0
    edge_bytes = 3 * len(HELLO) + len(protected) + sum(len(r.content) for r in missing)
    assert delta("assethost_response_body_bytes_total", role="edge") == edge_bytes
    assert delta("assethost_request_duration_seconds_count", role="edge") == 6
    assert delta("assethost_request_duration_seconds_bucket", role="edge", le="+Inf") == 6
    assert delta("assethost_requests_total", role="api", status="2xx") == 2
    assert delta("assethost_requests_total", role="api", status="4xx") == 1
    assert delta("assethost_requests_total", role="console", status="2xx") == 0
    # The first scrape is counted once it is answered; the second not yet when it reports.
    assert delta("assethost_requests_total", role="ops", status="2xx") == 1
    assert _value(after, "assethost_snapshot_files") == 2
    assert _value(after, "assethost_snapshot_memory_bytes") == len(HELLO) + len(protected)
    assert _value(after, "assethost_snapshot_builds") == 1
    # The one deployment, made after the server started, reached this process within a second or
    # two (the deployment's time is kept in whole seconds).
    assert _value(after, "assethost_deploy_propagation_seconds_count") == 1
    assert 0 <= _value(after, "assethost_deploy_propagation_seconds_sum") <= 2
    assert _value(after, "assethost_function_calls_total") == 0
    assert "process_cpu_seconds_total" in {name for name, _ in after}


def test_function_calls_and_errors_are_counted(started):
    srv = started()
    with srv.http_client() as c:
        project = deploy_project(srv, c, {
            "functions/ok.js": "exports.handler = (c, e, cb) => cb(null, 'fine');\n",
            "functions/fail.js": "exports.handler = (c, e, cb) => cb(new Error('told to fail'));\n",
        })
    before = _scrape(srv)
    assert [project.site.get("/ok").text for _ in range(2)] == ["fine", "fine"]
    assert project.site.get("/fail").status_code == 500
    after = _scrape(srv)

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("assethost_function_calls_total") == 3
    assert delta("assethost_function_errors_total") == 1
    assert delta("assethost_requests_total", role="edge", status="2xx") == 2
    assert delta("assethost_requests_total", role="edge", status="5xx") == 1
    assert delta("assethost_request_duration_seconds_count", role="edge") == 3


def test_the_variants_held_in_memory_are_counted_with_the_files(started):
    """Variants are made when the build is made, not by the edge: right after the deploy the
    first request is answered compressed, and the snapshot's memory counts both variants."""
    srv = started()
    text = b"body { color: red; }\n" * 400
    site = _site(srv, [FileSpec("/style.css", text, mime="text/css")])
    encoded = site.raw_get("/style.css", "br")
    assert encoded.headers["content-encoding"] == "br"
    gzip_size = len(site.raw_get("/style.css", "gzip").raw_body)
    samples = _scrape(srv)
    assert _value(samples, "assethost_snapshot_memory_bytes") == len(text) + len(encoded.raw_body) + gzip_size


def test_metrics_add_up_every_worker(tmp_path):
    """With --workers 2 any worker's scrape reports both workers' counts (the others' as of their
    last flush, every 2 s); what a previous run left in the metrics folder is not counted."""
    srv = ServerProcess(Backend("sqlite"), tmp_path, ["--workers", "2"])
    stale = Path(srv.data_dir) / "metrics" / f"{socket.gethostname()}-{srv.port}"
    stale.mkdir(parents=True)
    traffic = Traffic()
    traffic.edge.add(200, 0.001, 1000)
    (stale / "1-00000000.json").write_text(json.dumps(traffic.state()))
    srv.start()
    try:
        site = _site(srv, [FileSpec("/hello.txt", HELLO)])

        def fetch(_):
            with httpx.Client(base_url=srv.base_url, trust_env=False, headers={"Host": site.host}) as c:
                return c.get("/hello.txt")  # a connection each: the kernel spreads them

        # The worker that took the deployment serves it at once, the other within 0.5 s: until
        # then it answers 404, which is counted too.
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(fetch, range(40)))
        found = [r for r in answers if r.status_code == 200]
        assert all(r.content == HELLO for r in found)
        missing = [r for r in answers if r.status_code == 404]
        assert len(found) + len(missing) == 40
        expected = (len(found), len(missing), sum(len(r.content) for r in answers))

        def edge_count():
            samples = _scrape(srv)
            return (_value(samples, "assethost_requests_total", role="edge", status="2xx"),
                    _value(samples, "assethost_requests_total", role="edge", status="4xx"),
                    _value(samples, "assethost_response_body_bytes_total", role="edge"))

        assert _until(lambda: edge_count() == expected, 6.0), (edge_count(), expected)
        time.sleep(2.5)  # another flush of each worker: still the same
        assert edge_count() == expected
        assert len(list(stale.glob("*.json"))) == 2  # the two workers', the stale one gone
    finally:
        srv.stop()


# --------------------------------------------------------------------------------------- logs

CLF = re.compile(r'^127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\] "(.*)" (\d{3}) (\d+|-)$')


def _matching(srv: ServerProcess, pattern: re.Pattern[str], after: int, want: int) -> list[re.Match[str]]:
    """The server log's lines past the first `after` that match, once there are `want` of them."""
    def found():
        lines = srv.log_path.read_text(errors="replace").splitlines()[after:]
        matches = [m for m in map(pattern.match, lines) if m]
        return matches if len(matches) >= want else None

    return _until(found, 5.0) or []


def test_access_log_is_off_by_default(started):
    srv = started()
    site = _site(srv, [FileSpec("/hello.txt", HELLO)])
    assert site.get("/hello.txt").status_code == 200
    assert _get(srv, "/healthz").status_code == 200
    time.sleep(0.3)
    log = srv.log_path.read_text()
    assert "/hello.txt" not in log and "/healthz" not in log


def test_common_access_log(started):
    srv = started("--access-log", "common", launcher=STDERR_ONLY)
    site = _site(srv, [FileSpec("/hello.txt", HELLO)])
    # The setup's last request (the deployment) is logged at the end of an event-loop turn: wait for
    # its line, so that only this test's four requests come after the mark.
    assert _until(lambda: "/Deployments\" 201" in srv.log_path.read_text(), 5.0), srv.log_tail()
    mark = len(srv.log_path.read_text().splitlines())
    assert site.get("/hello.txt").status_code == 200
    assert site.get("/no such.txt").status_code == 404
    assert _get(srv, "/v1/Services?PageSize=5").status_code == 401
    assert _get(srv, "/healthz").status_code == 200
    matches = _matching(srv, CLF, mark, 4)
    assert len(matches) == 4, srv.log_tail()
    assert [m.groups() for m in matches] == [
        ("GET /hello.txt", "200", str(len(HELLO))),
        ("GET /no%20such.txt", "404", str(len(site.get("/no such.txt").content))),
        ("GET /v1/Services?PageSize=5", "401", matches[2].group(3)),
        ("GET /healthz", "200", "18"),
    ]
    assert int(matches[2].group(3)) > 0
    assert "listening on" not in srv.log_path.read_text()  # the banner (stdout) was thrown away


def test_json_access_log_and_json_server_logs(started):
    srv = started("--access-log", "json", "--log-format", "json", launcher=STDERR_ONLY)
    site = _site(srv, [FileSpec("/hello.txt", HELLO)])
    assert site.get("/hello.txt", headers={"X-Mark": "1"}).status_code == 200
    with srv.http_client() as c:
        assert c.get("/console/signin").status_code == 200

    def records():
        out = []
        for line in srv.log_path.read_text().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))  # every log line of the server is one JSON object
        return out

    def access():
        found = [r for r in records() if r.get("target") in ("/hello.txt", "/console/signin")]
        return found if len(found) == 2 else None

    hello, login = _until(access, 5.0)
    assert {k: hello[k] for k in ("role", "client", "method", "target", "host", "status", "bytes")} == {
        "role": "edge", "client": "127.0.0.1", "method": "GET", "target": "/hello.txt", "host": site.host,
        "status": 200, "bytes": len(HELLO)}
    assert isinstance(hello["duration_ms"], float) and hello["duration_ms"] >= 0
    assert (login["role"], login["status"]) == ("console", 200)
    startup = [r for r in records() if r.get("message") == "Application startup complete."]
    assert len(startup) == 1 and startup[0]["level"] == "info" and startup[0]["logger"] == "uvicorn.error"
    # uvicorn's own lines too: no text form of them is left.
    lines = [line for line in srv.log_path.read_text().splitlines() if "startup" in line]
    assert [json.loads(line)["message"] for line in lines] == [
        "Waiting for application startup.", "Application startup complete."]
