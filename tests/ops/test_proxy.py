"""docs/operations.md's nginx configuration, taken from the document as it is written, in front of
a real assethost started with the flags the document gives: TLS ends at nginx, and a protected
asset's signature over the https URL the client used is accepted."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from edgekit import Deployer, FileSpec, twilio_signature
from servers import REPO, Backend, ServerProcess, _free_port

DOC = REPO / "docs" / "operations.md"
BASE_DOMAIN = "assets.example.com"
PROTECTED = b"protected behind nginx\n"


def _which(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (Path(d) / name for d in ("/usr/sbin", "/sbin")) if os.access(p, os.X_OK)), None)


def _nginx() -> str:
    """Debian's nginx, installed with apt-get when it is missing (as bench/edge_bench.py does)."""
    found = _which("nginx")
    if found:
        return found
    if not (_which("apt-get") and os.geteuid() == 0):
        pytest.skip("nginx is not installed and apt-get (as root) is not available to install it")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nginx-light"]
    if subprocess.run(install, env=env, check=False, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, capture_output=True)
        subprocess.run(install, env=env, check=True, capture_output=True)
    found = _which("nginx")
    assert found, "apt-get installed nginx-light but no nginx program is there"
    return found


def _documented_config() -> str:
    blocks = re.findall(r"```nginx\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert len(blocks) == 1, "docs/operations.md should hold exactly one nginx block"
    return blocks[0]


def _replace(text: str, old: str, new: str, count: int) -> str:
    assert text.count(old) == count, f"the documented nginx config no longer has {count}× {old!r}"
    return text.replace(old, new)


def _certificate(folder: Path) -> tuple[Path, Path]:
    if not _which("openssl"):
        pytest.skip("openssl is needed to make the proxy's certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={BASE_DOMAIN}",
         "-addext", f"subjectAltName=DNS:{BASE_DOMAIN},DNS:*.{BASE_DOMAIN}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    return cert, key


@pytest.fixture
def proxied(tmp_path):
    nginx = _nginx()
    cert, key = _certificate(tmp_path)
    proxy_port = _free_port()
    srv = ServerProcess(Backend("sqlite"), tmp_path / "assethost", [
        "--base-domain", BASE_DOMAIN, "--trust-forwarded", "--public-url", f"https://{BASE_DOMAIN}:{proxy_port}",
        "--access-log", "json"])
    srv.start()
    try:
        config = _documented_config()
        config = _replace(config, "server 127.0.0.1:8080;", f"server 127.0.0.1:{srv.port};", 1)
        config = _replace(config, "listen 443 ssl;", f"listen 127.0.0.1:{proxy_port} ssl;", 2)
        config = _replace(config, "/etc/ssl/assethost/fullchain.pem", str(cert), 2)
        config = _replace(config, "/etc/ssl/assethost/privkey.pem", str(key), 2)
        temp = tmp_path / "nginx"
        temp.mkdir()
        # What /etc/nginx/nginx.conf would hold around the site's file, in the test's folder.
        main = f"""
daemon off;
master_process off;
pid {temp}/nginx.pid;
error_log {temp}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {temp}/access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
{config}
}}
"""
        (temp / "nginx.conf").write_text(main)
        proc = subprocess.Popen([nginx, "-p", str(temp), "-c", str(temp / "nginx.conf")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", proxy_port), timeout=1).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"nginx did not start: {proc.stderr.read().decode() if proc.stderr else ''}"
                                    f"{(temp / 'error.log').read_text() if (temp / 'error.log').exists() else ''}")
                    time.sleep(0.05)
            yield srv, proxy_port
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    finally:
        srv.stop()


def _via(proxy_port: int, host: str, path: str, headers: dict | None = None, source: str = "127.0.0.1",
         ) -> httpx.Response:
    """A GET through nginx, from the loopback address `source` (nginx listens on 127.0.0.1)."""
    transport = httpx.HTTPTransport(local_address=source, verify=False)
    with httpx.Client(base_url=f"https://127.0.0.1:{proxy_port}", transport=transport, trust_env=False,
                      timeout=10.0) as c:
        return c.get(path, headers={"Host": host, **(headers or {})})


def _access_lines(srv: ServerProcess, target: str) -> list[dict]:
    return [json.loads(line) for line in srv.log_path.read_text().splitlines()
            if line.startswith("{") and json.loads(line).get("target") == target]


def test_a_signed_protected_asset_through_the_documented_nginx(proxied):
    srv, proxy_port = proxied
    with srv.http_client() as c:
        site = Deployer(srv, c).site([FileSpec("/p.txt", PROTECTED, "protected")], suffix="px", prefix="px")
    host = f"{site.domain}:{proxy_port}"
    assert site.domain.endswith("." + BASE_DOMAIN)
    url = f"https://{host}/p.txt"  # what the client asked for, and what Twilio signs
    # From another loopback address than nginx's own, with a forged X-Forwarded-For.
    signed = _via(proxy_port, host, "/p.txt", {"X-Twilio-Signature": twilio_signature(srv.auth_token, url),
                                               "X-Forwarded-For": "203.0.113.9"}, source="127.0.0.2")
    assert (signed.status_code, signed.content) == (200, PROTECTED)
    deadline = time.monotonic() + 5
    while not _access_lines(srv, "/p.txt") and time.monotonic() < deadline:
        time.sleep(0.05)
    line = _access_lines(srv, "/p.txt")[0]
    # The client nginx saw, not nginx (127.0.0.1) nor what the client claimed.
    assert (line["client"], line["status"], line["host"], line["role"]) == ("127.0.0.2", 200, site.domain, "edge")
    assert _via(proxy_port, host, "/p.txt").status_code == 403
    # Signed over the URL nginx itself requests (plain http): not what the client used.
    plain = twilio_signature(srv.auth_token, f"http://{host}/p.txt")
    assert _via(proxy_port, host, "/p.txt", {"X-Twilio-Signature": plain}).status_code == 403


def test_the_api_origin_through_the_documented_nginx(proxied):
    srv, proxy_port = proxied
    origin = f"{BASE_DOMAIN}:{proxy_port}"
    with httpx.Client(base_url=f"https://127.0.0.1:{proxy_port}", verify=False, trust_env=False, timeout=10.0,
                      auth=(srv.account_sid, srv.auth_token)) as c:
        services = c.get("/v1/Services", headers={"Host": origin})
    assert services.status_code == 200
    assert services.json()["meta"]["url"].startswith(f"https://{origin}/v1/Services")
    ready = _via(proxy_port, origin, "/readyz")
    assert (ready.status_code, ready.json()["status"]) == (200, "ready")
    assert _via(proxy_port, origin, "/metrics").status_code == 200  # from 127.0.0.1: allowed
    assert _via(proxy_port, origin, "/metrics", source="127.0.0.2").status_code == 403
