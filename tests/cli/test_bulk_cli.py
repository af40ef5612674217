"""`assethost deploy` through the bulk deploy: what it sends, what it shows, and its fallback to the
standard API against a server that has no bulk endpoints (a real one behind a proxy refusing them)."""

from __future__ import annotations

import io
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from clikit import cli_env, edge_get, run_cli, start_server, write_files


def _uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _files(tag: str) -> dict[str, str]:
    """A project whose content no other test's has (the account's stored content is not sent again)."""
    files = {f"assets/page{i}.html": f"<p>page {i} {tag}</p>\n" for i in range(12)}
    files["assets/data.private.json"] = f'{{"secret": "{tag}"}}\n'
    files["functions/ping.js"] = f"exports.handler = (c, e, cb) => cb(null, 'pong'); // {tag}\n"
    return files


def _count(server, zs: str, what: str) -> int:
    with server.http_client() as http:
        url = f"/assethost/v1/Services/{zs}/Versions" if what == "versions" else f"/v1/Services/{zs}/Builds"
        return len(http.get(url, params={"PageSize": 1000}).json()[what])


class _NoBulkProxy(ThreadingHTTPServer):
    """Forwards every request to the real server except the bulk endpoints, which it answers as
    a server without them does (404 in Twilio's body); records the requests."""

    def __init__(self, target: str) -> None:
        self.target, self.seen, self.lock = target, [], threading.Lock()
        super().__init__(("127.0.0.1", 0), _Forward)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _NoBulkProxy

    def log_message(self, *args: object) -> None:
        pass

    def _any(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.seen.append((self.command, self.path.split("?")[0]))
        if self.path.startswith("/assethost/v1/") and self.path.split("?")[0].endswith(("/Manifest", "/Deploy")):
            status, headers = 404, {"Content-Type": "application/json"}
            content = b'{"code": 20404, "message": "The requested resource was not found", "more_info": ' \
                      b'"https://www.twilio.com/docs/errors/20404", "status": 404}'
        else:
            skip = {"host", "content-length", "connection", "transfer-encoding"}
            answer = httpx.request(self.command, self.server.target + self.path, content=body, timeout=60,
                                   headers={k: v for k, v in self.headers.items() if k.lower() not in skip},
                                   trust_env=False)
            status, content = answer.status_code, answer.content
            headers = {k: v for k, v in answer.headers.items()
                       if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding")}
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_DELETE = _any


@pytest.fixture
def no_bulk_proxy(cli_server):
    proxy = _NoBulkProxy(cli_server.base_url)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    yield proxy
    proxy.shutdown()
    proxy.server_close()
    thread.join(timeout=10)


def test_without_the_bulk_endpoints_the_standard_api_is_used(cli_server, no_bulk_proxy, tmp_path):
    tag = _uniq("t")
    FILES = _files(tag)
    write_files(tmp_path, FILES)
    env = cli_env(cli_server, ASSETHOST_API_URL=no_bulk_proxy.url)
    r = run_cli(cli_server, "deploy", str(tmp_path), "-n", _uniq("nobulk"), "--json", env=env, timeout=300).ok().json()
    assert r["counts"]["uploaded"] == len(FILES) and r["changed"]
    posts = [path for method, path in no_bulk_proxy.seen if method == "POST"]
    assert sum(p.endswith("/Manifest") for p in posts) == 1  # asked once, then no more
    assert not any(p.endswith("/Deploy") for p in posts)
    assert sum(p.startswith("/v1/") and p.endswith("/Versions") for p in posts) == len(FILES)  # one upload each
    assert edge_get(cli_server, r["environment"]["domain_name"], "/page3.html").text == f"<p>page 3 {tag}</p>\n"
    assert edge_get(cli_server, r["environment"]["domain_name"], "/ping").text == "pong"


def test_a_rerun_sends_nothing_and_one_changed_file_sends_one(cli_server, tmp_path):
    FILES = _files(_uniq("t"))
    write_files(tmp_path, FILES)
    name = _uniq("rerun")
    first = run_cli(cli_server, "deploy", str(tmp_path), "-n", name, "--json", timeout=300).ok().json()
    zs = first["service"]["sid"]
    assert (first["counts"]["uploaded"], first["counts"]["resources_created"]) == (len(FILES), len(FILES))
    versions, builds = _count(cli_server, zs, "versions"), _count(cli_server, zs, "builds")
    assert (versions, builds) == (len(FILES), 1)
    again = run_cli(cli_server, "deploy", str(tmp_path), "-n", name, "--json").ok().json()
    assert not again["changed"] and again["counts"]["uploaded"] == 0 and again["counts"]["reused"] == len(FILES)
    assert (_count(cli_server, zs, "versions"), _count(cli_server, zs, "builds")) == (versions, builds)
    changed = f"<p>changed {name}</p>\n"
    (tmp_path / "assets/page0.html").write_text(changed)
    third = run_cli(cli_server, "deploy", str(tmp_path), "-n", name, "--json", timeout=300).ok().json()
    assert (third["counts"]["uploaded"], third["counts"]["uploaded_bytes"]) == (1, len(changed))
    assert third["counts"]["reused"] == len(FILES) - 1 and third["counts"]["resources_created"] == 0
    assert (_count(cli_server, zs, "versions"), _count(cli_server, zs, "builds")) == (versions + 1, builds + 1)
    assert edge_get(cli_server, third["environment"]["domain_name"], "/page0.html").text == changed


@pytest.fixture(scope="module")
def small_server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("bulk-limited"), "--max-public-bytes", "1000")
    yield srv
    srv.stop()


def test_a_refused_bulk_deploy_names_the_file_and_creates_nothing(small_server, tmp_path):
    name = _uniq("refused")
    write_files(tmp_path, {"assets/a.txt": name, "assets/big.bin": b"x" * 2000})
    res = run_cli(small_server, "deploy", str(tmp_path), "-n", name)
    assert res.returncode == 1
    assert "assets/big.bin" in res.stderr and "1000 bytes" in res.stderr and "413" in res.stderr, res.stderr
    with small_server.http_client() as http:
        zs = next(s["sid"] for s in http.get("/v1/Services").json()["services"] if s["unique_name"] == name)
        assert http.get(f"/v1/Services/{zs}/Assets").json()["assets"] == []  # all or nothing
    assert _count(small_server, zs, "versions") == 0


def test_the_progress_bar_follows_the_streamed_upload(cli_server, tmp_path):
    from rich.console import Console

    from assethost.cli.client import Client
    from assethost.cli.deploy import Deployer
    from assethost.cli.progress import RichReporter
    from assethost.cli.project import scan
    from assethost.cli.targets import parse_environment

    tag = _uniq("t").encode()
    write_files(tmp_path, {"assets/a.bin": tag + bytes(range(256)) * 400, "assets/b.txt": tag, "assets/c.txt": tag})
    out = io.StringIO()
    reporter = RichReporter(Console(file=out, force_terminal=True, width=120))
    with Client(cli_server.base_url, cli_server.account_sid, cli_server.auth_token) as client:
        result = Deployer(client, scan(tmp_path), _uniq("bar"), parse_environment("dev"), reporter).run()
    assert result.count("upload") == 3 and result.uploaded_bytes == 256 * 400 + 2 * len(tag)  # b, c: one content
    shown = out.getvalue()
    assert "uploading" in shown and "2/2 files" in shown and "hashing 3 files" in shown, shown
