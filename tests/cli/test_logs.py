"""Python functions in `assethost deploy`, and `assethost logs` (plain, --json, --function, --tail),
run as subprocesses against a real server whose functions really run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from clikit import cli_env, edge_get, edge_url, run_cli, write_files
from twilio.request_validator import RequestValidator

LOG_TIMEOUT_S = 10.0  # the server writes log lines every 0.5 s

PROJECT = {
    "functions/hello.js": (
        "exports.handler = (context, event, callback) => {\n"
        "  console.log('js-line ' + event.tag);\n"
        "  callback(null, 'js ok');\n"
        "};\n"
    ),
    "functions/api/pyhello.py": (
        "def handler(context, event):\n"
        "    print('py-line ' + event.get('tag', ''))\n"
        "    return 'py ok from ' + context.PATH\n"
    ),
    "functions/count.js": (
        "exports.handler = (context, event, callback) => {\n"
        "  for (let i = 0; i < 3; i++) console.log(`count ${i} ${event.tag}`);\n"
        "  callback(null, 'counted');\n"
        "};\n"
    ),
    "functions/admin.protected.py": "def handler(context, event):\n    return {'admin': True}\n",
    "functions/helper.private.py": "def handler(context, event):\n    return 'private'\n",
    "assets/index.html": "<h1>home</h1>\n",
}


def _tag() -> str:
    return uuid.uuid4().hex[:12]


class Site:
    def __init__(self, server, root: Path, name: str) -> None:
        self.server, self.root, self.name = server, root, name

    def cli(self, *args: str, **kw):
        return run_cli(self.server, *args, cwd=self.root, **kw)

    def call(self, path: str, tag: str) -> str:
        resp = edge_get(self.server, self.domain, f"{path}?tag={tag}")
        assert resp.status_code == 200, resp.text
        return resp.text

    def logs(self, *args: str) -> list[dict]:
        return self.cli("logs", "--json", *args).ok().json()["logs"]

    def wait_logs(self, needles: list[str], *args: str, timeout: float = LOG_TIMEOUT_S) -> list[dict]:
        """`assethost logs --json ARGS` once every needle is in some message (bounded by timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            entries = self.logs(*args)
            messages = [e["message"] for e in entries]
            if all(any(n in m for m in messages) for n in needles):
                return entries
            assert time.monotonic() < deadline, f"no log lines with {needles} after {timeout} s: {messages}"
            time.sleep(0.3)


@pytest.fixture(scope="module")
def site(cli_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("logs-site")
    name = f"logs-{uuid.uuid4().hex[:10]}"
    write_files(root, {**PROJECT, "package.json": json.dumps({"name": name})})
    s = Site(cli_server, root, name)
    s.first = s.cli("deploy", "--json").ok().json()  # service name from package.json
    s.domain = s.first["environment"]["domain_name"]
    s.tag = _tag()
    assert s.call("/hello", s.tag) == "js ok"
    assert s.call("/api/pyhello", s.tag) == "py ok from /api/pyhello"
    return s


# --- Python functions in deploy -------------------------------------------------------------------


def test_python_functions_are_deployed_with_their_visibility(site):
    r = site.first
    assert r["service"]["unique_name"] == site.name
    files = {f["file"]: f for f in r["files"]}
    assert {k: (f["kind"], f["path"], f["visibility"]) for k, f in files.items()} == {
        "functions/hello.js": ("function", "/hello", "public"),
        "functions/count.js": ("function", "/count", "public"),
        "functions/api/pyhello.py": ("function", "/api/pyhello", "public"),
        "functions/admin.protected.py": ("function", "/admin", "protected"),
        "functions/helper.private.py": ("function", "/helper", "private"),
        "assets/index.html": ("asset", "/index.html", "public"),
    }
    assert files["functions/helper.private.py"]["url"] is None
    with site.server.http_client() as http:
        versions = http.get(f"/assethost/v1/Services/{r['service']['sid']}/Versions",
                            params={"PageSize": 1000}).json()["versions"]
    types = {v["path"]: v["content_type"] for v in versions}
    assert types["/api/pyhello"] == types["/admin"] == types["/helper"] == "text/x-python"
    assert types["/hello"] == "application/javascript"


def test_python_functions_answer_by_visibility(site):
    assert edge_get(site.server, site.domain, "/helper").status_code == 404
    assert edge_get(site.server, site.domain, "/admin").status_code == 403
    url = edge_url(site.server, site.domain, "/admin")
    sig = RequestValidator(site.server.auth_token).compute_signature(url, {})
    resp = edge_get(site.server, site.domain, "/admin", {"X-Twilio-Signature": sig})
    assert resp.status_code == 200 and resp.json() == {"admin": True}


def test_redeploy_reuses_python_versions_and_a_renamed_language_is_a_new_version(site, tmp_path):
    r = site.cli("deploy", "--json").ok().json()
    assert r["changed"] is False and r["counts"]["reused"] == len(PROJECT)
    # the same bytes as .py and as .js are different functions to the server: no reuse across languages
    write_files(tmp_path, {"functions/same.js": "x = 1\n", "package.json": json.dumps({"name": site.name + "-x"})})
    first = run_cli(site.server, "deploy", str(tmp_path), "--json").ok().json()
    (tmp_path / "functions/same.js").rename(tmp_path / "functions/same.py")
    second = run_cli(site.server, "deploy", str(tmp_path), "--json").ok().json()
    assert first["counts"]["uploaded"] == 1
    (f,) = second["files"]
    assert f["path"] == "/same" and f["action"] in ("link", "upload") and second["changed"]
    assert f["version_sid"] != first["files"][0]["version_sid"]


# --- assethost logs -------------------------------------------------------------------------------


def test_logs_json_shows_both_functions_lines(site):
    js, py = f"js-line {site.tag}", f"py-line {site.tag}"
    entries = site.wait_logs([js, py])
    by_message = {e["message"]: e for e in entries}
    assert by_message[js]["function_path"] == "/hello" and by_message[js]["level"] == "info"
    assert by_message[py]["function_path"] == "/api/pyhello" and by_message[py]["level"] == "info"
    for e in (by_message[js], by_message[py]):
        assert e["sid"].startswith("NO") and e["function_sid"].startswith("ZH")
        assert e["request_sid"] and e["build_sid"] == site.first["build_sid"]
        assert e["date_created"].endswith("Z")
    assert by_message[js]["request_sid"] != by_message[py]["request_sid"]
    doc = site.cli("logs", "--json", "-e", "dev", "-n", site.name).ok().json()
    assert doc["environment_sid"] == site.first["environment"]["sid"] and doc["service_sid"] == site.first["service"]["sid"]


def test_logs_plain_text(site):
    site.wait_logs([f"py-line {site.tag}"])
    out = site.cli("logs").ok().stdout
    line = next(line for line in out.splitlines() if f"py-line {site.tag}" in line)
    assert "/api/pyhello" in line and " info " in line and line[:4].isdigit() and "Z  " in line


def test_logs_print_oldest_first(site):
    """The API lists newest first; the command turns them round, in JSON and in plain text."""
    tag = _tag()
    assert site.call("/count", tag) == "counted"
    expected = [f"count {i} {tag}" for i in range(3)]
    entries = site.wait_logs(expected[-1:], "-f", "/count")
    assert [e["message"] for e in entries if e["message"].endswith(tag)] == expected
    out = site.cli("logs", "-f", "/count").ok().stdout
    assert [line.split("  ")[-1] for line in out.splitlines() if line.endswith(tag)] == expected


def test_logs_function_filter(site):
    site.wait_logs([f"js-line {site.tag}", f"py-line {site.tag}"])
    for spec in ("/api/pyhello", "api/pyhello", "api/pyhello.py"):
        entries = site.logs("--function", spec)
        assert entries and all(e["function_path"] == "/api/pyhello" for e in entries), spec
        assert any(f"py-line {site.tag}" in e["message"] for e in entries)
    entries = site.logs("-f", "hello.js")
    assert entries and {e["function_path"] for e in entries} == {"/hello"}
    zh = entries[0]["function_sid"]
    assert {e["sid"] for e in site.logs("--function", zh)} == {e["sid"] for e in entries}
    res = site.cli("logs", "--function", "/nope")
    assert res.returncode == 1 and "no function '/nope'" in res.stderr and "/api/pyhello" in res.stderr


def test_logs_time_window(site):
    site.wait_logs([f"js-line {site.tag}"])
    assert site.logs("--start", "2999-01-01T00:00:00Z") == []
    assert site.logs("--end", "2000-01-01") == []
    assert any(f"js-line {site.tag}" in e["message"] for e in site.logs("--start", "1h"))
    assert site.cli("logs", "--start", "yesterday-ish").returncode == 2
    assert site.cli("logs", "--tail", "--end", "1h").returncode == 2


def test_logs_unknown_service_or_environment(site):
    res = site.cli("logs", "-n", f"nope-{uuid.uuid4().hex[:8]}")
    assert res.returncode == 1 and "no service named" in res.stderr
    res = site.cli("logs", "--production", "--json")
    assert res.returncode == 1 and "no environment" in res.json()["error"]


def test_logs_tail_prints_lines_produced_after_it_started(site):
    earlier = f"py-line {site.tag}"
    site.wait_logs([earlier])
    proc = subprocess.Popen(
        [sys.executable, "-m", "assethost", "logs", "--tail", "--tail-seconds", "8", "--json"],
        cwd=site.root, env=cli_env(site.server), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # the lines already there come first: once the earlier one is printed, the tail is running
        seen = []
        assert proc.stdout is not None
        for raw in proc.stdout:
            seen.append(json.loads(raw))
            if seen[-1]["message"] == earlier:
                break
        else:
            pytest.fail(f"tail ended before printing {earlier!r}: {proc.stderr.read() if proc.stderr else ''}")
        late = _tag()
        site.call("/hello", late)
        site.call("/api/pyhello", late)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    seen += [json.loads(line) for line in out.splitlines() if line.strip()]
    messages = [e["message"] for e in seen]
    assert f"js-line {late}" in messages and f"py-line {late}" in messages, messages
    paths = {e["message"]: e["function_path"] for e in seen}
    assert paths[f"py-line {late}"] == "/api/pyhello" and paths[f"js-line {late}"] == "/hello"
    sids = [e["sid"] for e in seen]
    assert len(sids) == len(set(sids)), "a line was printed twice"


def test_logs_tail_plain_with_function_filter_stops_on_ctrl_c(site):
    proc = subprocess.Popen(
        [sys.executable, "-m", "assethost", "logs", "--tail", "--tail-seconds", "20", "-f", "/hello",
         "--start", "1s"],
        cwd=site.root, env=cli_env(site.server), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    killer = threading.Timer(25, proc.kill)  # bounds the reading below if the line never comes
    killer.start()
    try:
        time.sleep(1.5)
        late = _tag()
        site.call("/api/pyhello", late)
        site.call("/hello", late)
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if f"js-line {late}" in line:
                break
        proc.send_signal(signal.SIGINT)  # Ctrl-C: a normal end
        out, err = proc.communicate(timeout=10)
    finally:
        killer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = "".join(lines) + out
    assert proc.returncode == 0, err
    assert f"js-line {late}" in text and "/hello" in text
    assert f"py-line {late}" not in text
    assert "Traceback" not in err and "Aborted" not in err
