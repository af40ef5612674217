"""The real Twilio Serverless Toolkit (twilio-run 5.0.1, installed with npm) against assethost:
deploy, a second deploy of a changed project, list and promote, then every deployed asset is
fetched from the edge at the URL the toolkit printed (https://domain → http://domain:port); and
`logs` and `logs --tail` of an environment with more lines than the toolkit's one page."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from pathlib import Path

from clikit import edge_get, toolkit_env, write_files
from twilio.request_validator import RequestValidator

PROJECT = {
    "assets/style.css": "body { color: red; }\n",
    "assets/img/logo.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
    "assets/admin.protected.html": "<h1>admin</h1>\n",
    "assets/secret.private.txt": "secret\n",
    "assets/assets/index.html": "<h1>home</h1>\n",
    "assets/my file.txt": "spaces\n",
    "assets/foo.public.txt": "foo\n",
    "assets/.gitkeep": "",
    "functions/hello.js": "exports.handler = (context, event, callback) => callback(null, 'hi');\n",
    "functions/api/secret.protected.js": "exports.handler = (c, e, cb) => cb(null, 'secret');\n",
    ".env": "MY_VAR=hello\n",
}
# where each deployed asset comes from (the toolkit uploads dotfiles such as .gitkeep)
SOURCES = {
    "/style.css": "assets/style.css", "/img/logo.png": "assets/img/logo.png",
    "/admin.html": "assets/admin.protected.html", "/secret.txt": "assets/secret.private.txt",
    "/assets/index.html": "assets/assets/index.html", "/my-file.txt": "assets/my file.txt",
    "/foo.txt": "assets/foo.public.txt", "/.gitkeep": "assets/.gitkeep",
}
TIMEOUT_S = 120


def _run(twilio_run, server, preload, cwd, *args):
    cmd = [str(twilio_run), *args, "--username", server.account_sid, "--password", server.auth_token]
    proc = subprocess.run(cmd, cwd=cwd, env=toolkit_env(server, preload), capture_output=True, text=True,
                          timeout=TIMEOUT_S, check=False)
    assert proc.returncode == 0, f"twilio-run {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout) if "-o" in args else proc.stdout


def _local(url: str, server) -> tuple[str, str]:
    """(domain, path) of a URL the toolkit printed, e.g. https://svc-1234-dev.localhost/style.css."""
    assert url.startswith("https://"), url
    domain, _, path = url[len("https://"):].partition("/")
    return domain, "/" + path


def _check_assets(server, root: Path, assets: list[dict], domain: str | None = None) -> None:
    assert {a["path"] for a in assets} == set(SOURCES)
    validator = RequestValidator(server.auth_token)
    for asset in assets:
        host, path = _local(asset["url"], server) if domain is None else (domain, asset["path"])
        expected = (root / SOURCES[path]).read_bytes()
        if asset["access"] == "private":
            assert edge_get(server, host, path).status_code == 404, path
            continue
        headers = {}
        if asset["access"] == "protected":
            assert edge_get(server, host, path).status_code == 403, path
            headers["X-Twilio-Signature"] = validator.compute_signature(f"http://{host}:{server.port}{path}", {})
        resp = edge_get(server, host, path, headers)
        assert resp.status_code == 200, (path, resp.status_code, resp.text[:200])
        assert resp.content == expected, path


def test_twilio_run_deploy_list_promote(twilio_run, preload, toolkit_server, tmp_path):
    server = toolkit_server
    name = f"tk-{uuid.uuid4().hex[:10]}"
    write_files(tmp_path, PROJECT | {
        "package.json": json.dumps({"name": name, "version": "1.0.0",
                                    "dependencies": {"@twilio/runtime-handler": "2.1.0"}}),
    })

    first = _run(twilio_run, server, preload, tmp_path, "deploy", "--service-name", name,
                 "--override-existing-project", "-o", "json")
    assert first["serviceName"] == name and first["environmentSuffix"] == "dev"
    assert first["domain"].endswith("-dev.localhost")
    _check_assets(server, tmp_path, first["assets"])
    assert {f["path"] for f in first["functions"]} == {"/hello", "/api/secret"}
    assert "/" not in SOURCES  # the root falls back to /assets/index.html
    assert edge_get(server, first["domain"], "/").text == PROJECT["assets/assets/index.html"]

    # a second deploy of a changed project
    (tmp_path / "assets/style.css").write_text("body { color: green; }\n")
    second = _run(twilio_run, server, preload, tmp_path, "deploy", "--service-name", name,
                  "--override-existing-project", "-o", "json")
    assert second["serviceSid"] == first["serviceSid"] and second["buildSid"] != first["buildSid"]
    _check_assets(server, tmp_path, second["assets"])
    assert edge_get(server, second["domain"], "/style.css").text == "body { color: green; }\n"

    listing = _run(twilio_run, server, preload, tmp_path, "list", "environments,builds,assets,variables",
                   "--service-name", name, "--environment", "dev", "-o", "json")
    (dev,) = [e for e in listing["environments"] if e["domain_suffix"] == "dev"]
    assert dev["build_sid"] == second["buildSid"] and dev["domain_name"] == second["domain"]
    assert {b["sid"] for b in listing["builds"]} >= {first["buildSid"], second["buildSid"]}
    assert {v["key"]: v["value"] for v in listing["variables"]["entries"]} == {"MY_VAR": "hello"}
    assert {a["path"] for a in listing["assets"]["entries"]} == set(SOURCES)

    promoted = _run(twilio_run, server, preload, tmp_path, "promote", "--from", "dev", "--production",
                    "--create-environment", "-o", "json")
    assert promoted["buildSid"] == second["buildSid"]
    assert promoted["domain"] == second["domain"].replace("-dev.localhost", ".localhost")
    _check_assets(server, tmp_path, second["assets"], domain=promoted["domain"])


LINES = 70  # more than the 50 of the toolkit's one page
TAIL_WAIT_S = 30


def _printed(entry: dict) -> str:
    """A Log as twilio-run prints it (printers/logs.js)."""
    return f"[{entry['level']}][{entry['date_created']}]: {entry['message']}"


def _read_until(proc: subprocess.Popen, lines: list[str], wanted: str) -> None:
    """Append what proc prints to `lines` until `wanted` is among them (the caller bounds the wait)."""
    assert proc.stdout is not None
    for raw in proc.stdout:
        lines.append(raw.rstrip("\n"))
        if lines[-1] == wanted:
            return
    raise AssertionError(f"twilio-run ended without printing {wanted!r}: {lines}")


def test_twilio_run_logs_prints_the_newest_lines_and_tail_follows_new_ones(twilio_run, preload, toolkit_server,
                                                                             tmp_path):
    server = toolkit_server
    name = f"tk-logs-{uuid.uuid4().hex[:10]}"
    write_files(tmp_path, {
        "functions/count.js": "exports.handler = (context, event, callback) => {\n"
                              "  for (let i = 0; i < Number(event.n); i++) console.log(`${event.tag} ${i}`);\n"
                              "  callback(null, 'counted');\n};\n",
        "package.json": json.dumps({"name": name, "version": "1.0.0"}),
    })
    deployed = _run(twilio_run, server, preload, tmp_path, "deploy", "--service-name", name, "--runtime", "node20",
                    "--override-existing-project", "-o", "json")
    zs, domain = deployed["serviceSid"], deployed["domain"]
    with server.http_client() as http:  # the toolkit's --runtime reaches the build
        assert http.get(f"/v1/Services/{zs}/Builds/{deployed['buildSid']}").json()["runtime"] == "node20"
    assert edge_get(server, domain, f"/count?n={LINES}&tag=early").text == "counted"
    logs_url = f"/v1/Services/{zs}/Environments/{deployed['environmentSid']}/Logs"

    def listed(last: str) -> list[dict]:
        """Every Log of the environment, newest first, once the line `last` is stored."""
        deadline = time.monotonic() + 10
        with server.http_client() as http:
            while True:
                entries = http.get(logs_url, params={"PageSize": 1000}).json()["logs"]
                if any(e["message"] == last for e in entries):
                    return entries
                assert time.monotonic() < deadline, f"{last!r} was not stored: {entries[:3]}"
                time.sleep(0.2)

    entries = listed(f"early {LINES - 1}")
    assert [e["message"] for e in entries] == [f"early {i}" for i in reversed(range(LINES))]
    # `logs` prints page 1 as it comes: the newest 50, newest first
    out = _run(twilio_run, server, preload, tmp_path, "logs", "--service-sid", zs, "--environment", "dev")
    assert out.splitlines() == [_printed(e) for e in entries[:50]]

    # `logs --tail` polls page 1 every second, printing what it has not seen, oldest first
    cmd = [str(twilio_run), "logs", "--tail", "--service-sid", zs, "--environment", "dev",
           "--username", server.account_sid, "--password", server.auth_token]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=toolkit_env(server, preload), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    killer = threading.Timer(TAIL_WAIT_S, proc.kill)  # bounds the reading if a line never comes
    killer.start()
    try:
        printed: list[str] = []
        _read_until(proc, printed, _printed(entries[0]))
        assert printed == [_printed(e) for e in reversed(entries[:50])]
        assert edge_get(server, domain, "/count?n=1&tag=late").text == "counted"
        (late, *_) = listed("late 0")
        _read_until(proc, printed, _printed(late))
        assert printed[50:] == [_printed(late)]
    finally:
        killer.cancel()
        proc.kill()
        proc.wait()
