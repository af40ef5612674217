"""The reference deployment of docs/scale.md, on 127.0.0.1: nginx (the document's configuration,
as written there) terminating TLS in front of one `--api-only` node and two `--edge-only` nodes,
which share only a PostgreSQL database and a bucket of moto's S3 server (each has its own
`--data`). A deployment made through nginx reaches both edge nodes within a second; a protected
asset validates with a signature over the `https://` URL; `kill -9` of an edge node under a
`wrk` load through nginx fails no request; the node restarted with an empty data folder serves
byte-identical files, fetched from the bucket."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from edgekit import Deployer, FileSpec, twilio_signature
from helpers import doc_block
from servers import REPO, Backend, ServerProcess, _free_port

log = logging.getLogger(__name__)
DOC = REPO / "docs" / "scale.md"
BASE_DOMAIN = "assets.example.com"
PROPAGATION_S = 1.0
WRK_SECONDS, WRK_CONNECTIONS, KILL_AFTER_S = 8, 16, 3.0
BIG = hashlib.sha256(b"cluster").digest() * 32768  # 1 MiB: over --memory-file-limit, sent from the cached file
PROTECTED = b"protected behind nginx, served by an edge node\n"
# wrk's own counts at the end of the run, one line the test parses.
WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d connect=%d read=%d write=%d status=%d timeout=%d\\n",
    summary.requests, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def _program(name: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for p in (Path(d) / name for d in ("/usr/sbin", "/sbin")) if os.access(p, os.X_OK)), None)
    if found is None:
        pytest.skip(f"{name} is not installed (scripts/test installs Debian's package when run as root)")
    return found


def _certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [_program("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         f"/CN={BASE_DOMAIN}", "-addext", f"subjectAltName=DNS:{BASE_DOMAIN},DNS:*.{BASE_DOMAIN}",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30)
    return cert, key


def _replace(text: str, old: str, new: str, count: int) -> str:
    assert text.count(old) == count, f"docs/scale.md's nginx block no longer has {count}x {old!r}"
    return text.replace(old, new)


def _nginx_config(folder: Path, proxy_port: int, api: ServerProcess, edges: list[ServerProcess],
                  cert: Path, key: Path) -> Path:
    site = doc_block(DOC, "cluster-nginx")
    site = _replace(site, "server 10.0.0.10:8080;", f"server 127.0.0.1:{api.port};", 1)
    for n, edge in enumerate(edges, start=11):
        site = _replace(site, f"server 10.0.0.{n}:8080 ", f"server 127.0.0.1:{edge.port} ", 1)
    site = _replace(site, "listen 443 ssl;", f"listen 127.0.0.1:{proxy_port} ssl;", 2)
    site = _replace(site, "/etc/ssl/assethost/fullchain.pem", str(cert), 2)
    site = _replace(site, "/etc/ssl/assethost/privkey.pem", str(key), 2)
    # What /etc/nginx/nginx.conf holds around the site's file, in the test's folder.
    (folder / "nginx.conf").write_text(f"""
daemon off;
master_process off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
{site}
}}
""")
    return folder / "nginx.conf"


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{what} did not start listening on {port}")
            time.sleep(0.05)


@pytest.fixture
def cluster(object_store, tmp_path):
    nginx, wrk = _program("nginx"), _program("wrk")
    backend = Backend("postgres")
    backend.check()
    bucket = object_store.bucket("cluster")
    proxy_port = _free_port()
    cert, key = _certificate(tmp_path)
    common = ["--base-domain", BASE_DOMAIN, "--trust-forwarded"]
    api = ServerProcess(backend, tmp_path / "api", [*common, "--api-only"],
                        public_url=f"https://{BASE_DOMAIN}:{proxy_port}")
    edges = [ServerProcess(backend, tmp_path / f"edge-{n}", [*common, "--edge-only"]) for n in (1, 2)]
    for edge in edges:  # the API node's database and account; a data folder of its own
        backend.drop_database(edge._dbname)
        edge.db_url, edge._dbname = api.db_url, None
        edge.account_sid, edge.auth_token = api.account_sid, api.auth_token
    nodes = [api, *edges]
    for node in nodes:
        node.blob_args, node.extra_env = ["--blob-url", f"s3://{bucket}/blobs"], object_store.env()
    proc = None
    try:
        for node in nodes:  # the API node first: it migrates the database
            node.start()
        folder = tmp_path / "nginx"
        folder.mkdir()
        config = _nginx_config(folder, proxy_port, api, edges, cert, key)
        proc = subprocess.Popen([nginx, "-p", str(folder), "-c", str(config)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _wait_for_port(proxy_port, proc, "nginx")
        yield api, edges, proxy_port, wrk, folder / "error.log"
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        for node in reversed(nodes):
            node.stop()


def _through_nginx(proxy_port: int, host: str, **kw: object) -> httpx.Client:
    return httpx.Client(base_url=f"https://127.0.0.1:{proxy_port}", headers={"Host": host}, verify=False,
                        trust_env=False, timeout=30.0, **kw)  # type: ignore[arg-type]


def _direct(node: ServerProcess, domain: str) -> httpx.Client:
    return httpx.Client(base_url=node.base_url, headers={"Host": f"{domain}:{node.port}"}, trust_env=False,
                        timeout=10.0)


def _until_served(node: ServerProcess, domain: str, path: str, body: bytes, since: float, timeout: float = 10) -> float:
    """Seconds from `since` until `node` answers `body` for `path` (polled directly, not through nginx)."""
    with _direct(node, domain) as c:
        while time.monotonic() - since < timeout:
            answer = c.get(path)
            if answer.status_code == 200 and answer.content == body:
                return time.monotonic() - since
            time.sleep(0.02)
    raise AssertionError(f"{node.base_url} never served {body!r} at {path} within {timeout} s")


def _wrk(wrk: str, proxy_port: int, host: str, path: str, script: Path) -> dict[str, int]:
    run = subprocess.run(
        [wrk, "-t2", f"-c{WRK_CONNECTIONS}", f"-d{WRK_SECONDS}s", "--timeout", "5s", "--latency", "-s", str(script),
         "-H", f"Host: {host}", f"https://127.0.0.1:{proxy_port}{path}"],
        capture_output=True, text=True, timeout=WRK_SECONDS + 30, check=False)
    log.info("wrk: %s", run.stdout)
    assert run.returncode == 0, run.stdout + run.stderr
    found = re.search(r"^RESULT (.*)$", run.stdout, re.MULTILINE)
    assert found, run.stdout
    return {k: int(v) for k, v in (pair.split("=") for pair in found.group(1).split())}


def test_three_nodes_behind_nginx(cluster, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    api, edges, proxy_port, wrk, nginx_errors = cluster
    api_host = f"{BASE_DOMAIN}:{proxy_port}"
    files = {"/index.html": b"<h1>cluster</h1>\n", "/app.js": b"console.log('one');\n", "/big.bin": BIG}

    # Deploy through nginx to the API node.
    with _through_nginx(proxy_port, api_host, auth=(api.account_sid, api.auth_token)) as http:
        services = http.get("/v1/Services")
        assert services.status_code == 200
        assert services.json()["meta"]["url"].startswith(f"https://{api_host}/v1/Services")
        d = Deployer(api, http)
        specs = [FileSpec(path, body) for path, body in files.items()]
        site = d.site([*specs, FileSpec("/v.txt", b"first"), FileSpec("/p.txt", PROTECTED, "protected")],
                      suffix="cl", prefix="cl")
        assert site.domain.endswith("." + BASE_DOMAIN)
        for edge in edges:
            _until_served(edge, site.domain, "/v.txt", b"first", time.monotonic())
        second = d.build(site.service_sid, [*specs, FileSpec("/v.txt", b"second"),
                                             FileSpec("/p.txt", PROTECTED, "protected")])
        deployed = time.monotonic()
        d.deploy(site.service_sid, site.env_sid, second)
    reached = [_until_served(edge, site.domain, "/v.txt", b"second", deployed) for edge in edges]
    log.info("deployment answered by the API node reached the edge nodes after %s s",
             ", ".join(f"{s:.3f}" for s in reached))
    assert max(reached) < PROPAGATION_S, reached

    # The API node serves no environment: its answer says so, whatever the domain.
    with _direct(api, site.domain) as c:
        misdirected = c.get("/v.txt")
    assert misdirected.status_code == 421
    assert "serves no environments" in misdirected.text

    # A protected asset through nginx: signed over the https URL the client used.
    host = f"{site.domain}:{proxy_port}"
    with _through_nginx(proxy_port, host) as c:
        signed = c.get("/p.txt", headers={"X-Twilio-Signature": twilio_signature(api.auth_token,
                                                                                 f"https://{host}/p.txt")})
        assert (signed.status_code, signed.content) == (200, PROTECTED)
        wrong = twilio_signature(api.auth_token, f"https://{host}/other.txt")
        assert c.get("/p.txt", headers={"X-Twilio-Signature": wrong}).status_code == 403
        over_http = twilio_signature(api.auth_token, f"http://{host}/p.txt")  # what nginx itself requests
        assert c.get("/p.txt", headers={"X-Twilio-Signature": over_http}).status_code == 403
        assert c.get("/p.txt").status_code == 403

    # kill -9 of an edge node in the middle of a bounded load through nginx.
    script = tmp_path / "report.lua"
    script.write_text(WRK_REPORT)
    victim = edges[0]
    result: dict[str, dict[str, int]] = {}
    load = threading.Thread(target=lambda: result.update(run=_wrk(wrk, proxy_port, host, "/app.js", script)))
    load.start()
    time.sleep(KILL_AFTER_S)
    os.killpg(victim.pid, signal.SIGKILL)
    assert victim.proc is not None
    victim.proc.wait(timeout=10)
    assert load.is_alive(), "wrk ended before the kill"
    load.join(timeout=WRK_SECONDS + 40)
    assert not load.is_alive()
    counts = result["run"]
    log.info("wrk through nginx, an edge node killed after %.0f s: %s", KILL_AFTER_S, counts)
    assert counts["requests"] > 100, counts
    assert {k: v for k, v in counts.items() if k != "requests"} == {
        "connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
    # nginx did meet the dead node (and went to the other one): it says so in its log.
    assert f"upstream: \"http://127.0.0.1:{victim.port}/app.js\"" in nginx_errors.read_text()

    # Restarted with an empty data folder: it fetches from the bucket and serves the same bytes.
    shutil.rmtree(victim.data_dir)
    Path(victim.data_dir).mkdir()
    started = time.monotonic()
    victim.start()
    log.info("the killed edge node restarted with an empty data folder in %.2f s", time.monotonic() - started)
    expected = {**files, "/v.txt": b"second", "/p.txt": PROTECTED}
    with _direct(victim, site.domain) as c:
        for path, body in expected.items():
            headers = {}
            if path == "/p.txt":
                headers["X-Twilio-Signature"] = twilio_signature(
                    api.auth_token, f"http://{site.domain}:{victim.port}{path}")
            answer = c.get(path, headers=headers)
            assert answer.status_code == 200, (path, answer.status_code)
            assert hashlib.sha256(answer.content).hexdigest() == hashlib.sha256(body).hexdigest(), path
    cached = {p.name for p in (Path(victim.data_dir) / "blobs").rglob("*") if p.is_file()}
    assert {hashlib.sha256(b).hexdigest() for b in expected.values()} <= cached
