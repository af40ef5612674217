"""Tenant code against its sandbox (functions/sandbox.py): every attack of the hardening issue,
in JavaScript and in Python, run through a real server's edge. Each test asserts that the
attack's own effect did not happen (the bytes were not read, the process is alive, nothing
connected, memory stayed bounded), and that another account's function is still served.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from fnkit import build, deploy_project, upload_project
from helpers import assert_error, create_service, uniq
from servers import REPO, Backend, ServerProcess

NPM_CACHE = REPO / ".cache" / "npm-functions"
MEMORY_MB = 128
PROCESSES = 16
MAX_RESPONSE = 2 * 1024 * 1024
SCRATCH_MB = 8
SECRET = "BYSTANDER-SECRET-" + uniq("s")

JS = {
    "js_read": """const fs = require('fs');
exports.handler = (context, event, callback) => {
  const out = {};
  for (const p of JSON.parse(event.paths)) {
    try { out[p] = fs.readFileSync(p, 'utf8').slice(0, 200); } catch (e) { out[p] = 'ERR ' + (e.code || e.message); }
  }
  callback(null, out);
};
""",
    "js_kill": """exports.handler = (context, event, callback) => {
  const out = { ppid: process.ppid };
  for (const [name, pid] of [['parent', process.ppid], ['everyone', -1], ['server', Number(event.server)]]) {
    try { process.kill(pid, 'SIGKILL'); out[name] = 'sent'; } catch (e) { out[name] = e.code; }
  }
  callback(null, out);
};
""",
    "js_net": """const net = require('net');
exports.handler = async (context, event, callback) => {
  const out = {};
  for (const [host, port] of JSON.parse(event.targets)) {
    out[`${host}:${port}`] = await new Promise((resolve) => {
      const s = net.connect({ host, port, timeout: 1500 });
      s.on('connect', () => { s.destroy(); resolve('CONNECTED'); });
      s.on('timeout', () => { s.destroy(); resolve('TIMEOUT'); });
      s.on('error', (e) => resolve(e.code));
    });
  }
  callback(null, out);
};
""",
    "js_mem": """exports.handler = (context, event, callback) => {
  const out = {};
  try { Buffer.alloc(2 * 1024 * 1024 * 1024, 1); out.big = 'allocated'; } catch (e) { out.big = e.message; }
  const held = [];
  let mb = 0;
  try { for (;;) { held.push(Buffer.alloc(16 * 1024 * 1024, 1)); mb += 16; if (mb > 8192) break; } }
  catch (e) { out.stopped = e.message; }
  out.mb = mb;
  held.length = 0;
  callback(null, out);
};
""",
    "js_spawn": """exports.handler = (context, event, callback) => {
  try { require('child_process').execSync('id'); callback(null, 'spawned'); } catch (e) { callback(null, e.code); }
};
""",
    "js_big": """exports.handler = (context, event, callback) => {
  const r = new Twilio.Response();
  r.setBody(Buffer.alloc(Number(event.size), 'x'));
  callback(null, r);
};
""",
    "js_forge": """const fs = require('fs');
exports.handler = (context, event, callback) => {
  fs.writeSync(Number(process.argv[2]), JSON.stringify({ type: 'result', id: 1, status: 200, headers: [], length: 1e12 }) + '\\n');
  setTimeout(() => callback(null, 'not reached'), 3000);
};
""",
    "js_env": """exports.handler = (context, event, callback) => callback(null, process.env);
""",
    "js_status": """exports.handler = (context, event, callback) => {
  const r = new Twilio.Response();
  r.setStatusCode(Number(event.code));
  r.setBody('provisional?');
  callback(null, r);
};
""",
    "js_stall": """const fs = require('fs');
// Learns the ids the server uses, stops reading what it is sent, and answers pings it never got.
let lastId = 0;
const parse = JSON.parse;
JSON.parse = (text, ...rest) => { const v = parse(text, ...rest); if (v && v.id > lastId) lastId = v.id; return v; };
let stalled = false;
exports.handler = () => {
  if (stalled) return;
  stalled = true;
  process.stdin.pause();
  setInterval(() => {
    let lines = '';
    for (let id = lastId; id < lastId + 500; id++) lines += JSON.stringify({ type: 'pong', id }) + '\\n';
    fs.writeSync(Number(process.argv[2]), lines);
  }, 100);
};
""",
    "js_chatty": """const fs = require('fs');
// Writes log lines (and lines of no kind) straight to the message pipe, past its harness's budget.
exports.handler = (context, event, callback) => {
  const fd = Number(process.argv[2]);
  const line = JSON.stringify({ type: event.kind, id: null, level: 'info', message: 'B'.repeat(8000) }) + '\\n';
  const until = Date.now() + 3000;
  while (Date.now() < until) fs.writeSync(fd, line.repeat(16));
  callback(null, 'still here');
};
""",
    "js_level": """const fs = require('fs');
// A log line with a level of its own, straight to the message pipe.
exports.handler = (context, event, callback) => {
  const line = { type: 'log', id: null, level: event.level, message: 'level ' + event.level.slice(0, 8) };
  fs.writeSync(Number(process.argv[2]), JSON.stringify(line) + '\\n');
  callback(null, 'sent');
};
""",
    "js_flood": """exports.handler = (context, event, callback) => {
  const line = 'A'.repeat(8000);
  const until = Date.now() + 1200;
  while (Date.now() < until) console.log(line);
  callback(null, 'flooded');
};
""",
    "js_id": """const me = require('crypto').randomUUID();  // one per worker process
exports.handler = (context, event, callback) => callback(null, me);
""",
}

PY = {
    "py_read": """import json, os

def handler(context, event):
    out = {}
    for p in json.loads(event["paths"]):
        try:
            with open(p, "rb") as f:
                out[p] = f.read(200).decode("utf-8", "replace")
        except OSError as e:
            out[p] = "ERR " + type(e).__name__
    out["root"] = sorted(os.listdir("/"))
    out["proc1_root"] = sorted(os.listdir("/proc/1/root"))
    link = "/tmp/escape-" + os.urandom(4).hex()
    os.symlink("/", link)
    out["via_symlink"] = sorted(os.listdir(link))
    out["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    return out
""",
    "py_kill": """import os, signal

def handler(context, event):
    out = {"ppid": os.getppid(), "uid": os.getuid()}
    for name, pid in (("parent", os.getppid()), ("everyone", -1), ("server", int(event["server"]))):
        try:
            os.kill(pid, signal.SIGKILL)
            out[name] = "sent"
        except OSError as e:
            out[name] = type(e).__name__
    return out
""",
    "py_net": """import json, socket

def handler(context, event):
    out = {}
    for host, port in json.loads(event["targets"]):
        s = socket.socket()
        s.settimeout(1.5)
        try:
            s.connect((host, port))
            out[f"{host}:{port}"] = "CONNECTED"
        except OSError as e:
            out[f"{host}:{port}"] = type(e).__name__
        finally:
            s.close()
    return out
""",
    "py_mem": """def handler(context, event):
    out = {}
    try:
        big = bytearray(2 * 1024 * 1024 * 1024)
        out["big"] = "allocated"
        del big
    except MemoryError:
        out["big"] = "MemoryError"
    held, mb = [], 0
    try:
        while mb <= 8192:
            held.append(bytearray(16 * 1024 * 1024))
            mb += 16
    except MemoryError:
        out["stopped"] = "MemoryError"
    out["mb"] = mb
    held.clear()
    return out
""",
    "py_fork": """import os, time

def handler(context, event):
    children, error = [], None
    try:
        for _ in range(500):
            pid = os.fork()
            if pid == 0:
                time.sleep(2)
                os._exit(0)
            children.append(pid)
    except OSError as e:
        error = type(e).__name__
    for pid in children:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    return {"forked": len(children), "error": error}
""",
    "py_orphan": """import os, time

def handler(context, event):
    if os.fork() == 0:
        if os.fork() == 0:
            time.sleep(60)  # a grandchild, left behind on purpose
        os._exit(0)
    os.kill(os.getpid(), 9)
""",
    "py_forkmem": """import os, time

def handler(context, event):
    reads, pids = [], []
    for _ in range(int(event["children"])):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            block = bytearray(int(event["mb"]) * 1024 * 1024)
            for i in range(0, len(block), 4096):
                block[i] = 1  # touched, so resident
            os.write(w, b"x")
            time.sleep(3)
            os._exit(0)
        os.close(w)
        reads.append(r)
        pids.append(pid)
    for r in reads:
        os.read(r, 1)  # each child allocated its share (or was stopped)
    time.sleep(0.5)
    alive = 0
    for pid in pids:
        done, _ = os.waitpid(pid, os.WNOHANG)
        alive += done == 0
        if done == 0:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
    return {"alive": alive}
""",
    "py_fill": """import os

def handler(context, event):
    out = {}
    for folder in ("/", "/srv", "/dev", "/dev/shm", "/tmp", "/usr/lib"):
        path = os.path.join(folder, "fill-" + os.urandom(4).hex())
        written = 0
        try:
            with open(path, "wb") as f:
                for _ in range(100):  # up to 100 MiB
                    f.write(b"x" * (1 << 20))
                    f.flush()
                    written += 1
            out[folder] = f"wrote {written} MiB"
        except OSError as e:
            out[folder] = f"{type(e).__name__} after {written} MiB"
        try:
            os.unlink(path)
        except OSError:
            pass
    return out
""",
    "py_env": """import os

def handler(context, event):
    return dict(os.environ)
""",
}


def _start(tmp_path_factory, name: str, *args: str, env: dict[str, str] | None = None) -> ServerProcess:
    srv = ServerProcess(Backend("sqlite"), tmp_path_factory.mktemp(name),
                        ["--npm-cache", str(NPM_CACHE), "--function-timeout", "5",
                         "--function-memory", str(MEMORY_MB), "--function-processes", str(PROCESSES),
                         "--function-max-response-bytes", str(MAX_RESPONSE), "--function-scratch", str(SCRATCH_MB),
                         *args])
    srv.extra_env = env or {}
    try:
        return srv.start()
    except BaseException:
        srv.stop()
        raise


@pytest.fixture(scope="module")
def sandboxed(tmp_path_factory):
    srv = _start(tmp_path_factory, "sandbox")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def attacker(sandboxed):
    with sandboxed.http_client() as http:
        files = {f"functions/{name}.js": code for name, code in JS.items()}
        files.update({f"functions/{name}.py": code for name, code in PY.items()})
        yield deploy_project(sandboxed, http, files)


@pytest.fixture(scope="module")
def bystander(sandboxed):
    """Another account's service, with a private asset the attacker would like to read."""
    sid, token = sandboxed.create_account()
    with sandboxed.http_client(sid, token) as http:
        deployed = deploy_project(sandboxed, http, {
            "assets/secret.private.txt": SECRET,
            "functions/ok.js": "exports.handler = (c, e, cb) => cb(null, Runtime.getAssets()['/secret.txt'].open());",
        })
    return deployed


def still_served(server: ServerProcess, bystander) -> None:
    """The server process lives and another account's function answers."""
    assert server.proc is not None and server.proc.poll() is None, server.log_tail()
    resp = bystander.site.get("/ok")
    assert resp.status_code == 200 and resp.text == SECRET, resp.text


def call(attacker, path: str, **params) -> dict:
    resp = attacker.site.get(path, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


# ------------------------------------------------------------------------------------------ files


def _targets(server: ServerProcess, bystander) -> list[str]:
    data = Path(server.data_dir).resolve()
    return ["/etc/passwd", "/etc/shadow", str(data / "credentials.json"), str(data / "assethost.sqlite3"),
            str(data / "builds" / bystander.site.build_sid / "assets" / "secret.txt"),
            f"/proc/{server.pid}/environ", "/proc/1/environ", "/proc/1/root/etc/passwd",
            "/proc/self/root/etc/passwd"]


@pytest.mark.parametrize("path", ["/js_read", "/py_read"])
def test_no_file_of_the_server_or_another_account_can_be_read(sandboxed, attacker, bystander, path):
    targets = _targets(sandboxed, bystander)
    result = call(attacker, path, paths=json.dumps(targets))
    text = json.dumps(result)
    assert SECRET not in text and sandboxed.auth_token not in text and "root:" not in text
    for target in targets:
        if target != "/proc/1/environ":  # the sandbox's own init: readable, and empty of anything
            assert result[target].startswith("ERR "), (target, result[target])
    assert "TWILIO" not in result["/proc/1/environ"] and "ASSETHOST" not in result["/proc/1/environ"]
    if path == "/py_read":
        # The whole filesystem is the runtime, the build and a scratch folder; /proc/1/root and a
        # symlink to / lead to that same root, never the host's.
        runtime = {Path(p).parts[1] for p in (sys.prefix, sys.base_prefix)}  # the server's Python
        system = {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sbin", "srv", "tmp", "usr"}
        assert set(result["root"]) <= system | runtime, result["root"]
        assert {"srv", "tmp", "usr", "proc"} <= set(result["root"])
        assert result["proc1_root"] == result["root"] == result["via_symlink"]
        assert result["pids"] == [1, 2], "only the sandbox's own init and worker are visible"
    still_served(sandboxed, bystander)


def test_only_tmp_and_dev_shm_can_be_written_and_both_are_small(sandboxed, attacker, bystander):
    """The sandbox's root and /dev are tmpfs folders that bwrap makes; they are read-only, so the
    host's memory cannot be filled through them; /tmp is --function-scratch, /dev/shm 1 MiB."""
    result = call(attacker, "/py_fill")
    assert result == {"/": "OSError after 0 MiB", "/srv": "OSError after 0 MiB", "/dev": "OSError after 0 MiB",
                      "/dev/shm": "OSError after 1 MiB", "/tmp": f"OSError after {SCRATCH_MB} MiB",
                      "/usr/lib": "OSError after 0 MiB"}, result
    still_served(sandboxed, bystander)


def test_the_data_folder_is_not_in_the_sandbox(sandboxed, attacker, bystander):
    data = Path(sandboxed.data_dir).resolve()
    result = call(attacker, "/py_read", paths=json.dumps([str(data), str(data / "blobs")]))
    assert result[str(data)] == "ERR FileNotFoundError"
    assert result[str(data / "blobs")] == "ERR FileNotFoundError"


@pytest.mark.parametrize("spec", [
    "file:/", "file:../../..", "link:/etc", "/etc", "./x", "../x", "~/x", "git+https://example.com/x.git",
    "git://example.com/x.git", "github:user/repo", "user/repo", "http://127.0.0.1:5432/x.tgz",
    "https://example.com/x.tgz", "x.tgz", "npm:left-pad@1.3.0", "workspace:*", "1.0.0; rm -rf /",
])
def test_dependencies_that_are_not_registry_versions_are_refused(sandboxed, spec):
    with sandboxed.http_client() as http:
        service = create_service(http, uniq("deps"))
        _, functions, _ = upload_project(http, service["sid"], {"functions/x.js": JS["js_env"]})
        resp = http.post(f"/v1/Services/{service['sid']}/Builds",
                         data={"FunctionVersions": functions,
                               "Dependencies": json.dumps([{"name": "leak", "version": spec}])})
        assert_error(resp, 400, 20001, "leak")
        assert http.get(f"/v1/Services/{service['sid']}/Builds").json()["builds"] == []
    assert not any(p.is_symlink() for p in (Path(sandboxed.data_dir) / "deps").glob("*/node_modules/*"))


@pytest.mark.parametrize("name", ["../../etc", "/abs", "UPPER", "a b", "", "x" * 215])
def test_malformed_dependency_names_are_refused(sandboxed, name):
    with sandboxed.http_client() as http:
        service = create_service(http, uniq("deps"))
        _, functions, _ = upload_project(http, service["sid"], {"functions/x.js": JS["js_env"]})
        resp = http.post(f"/v1/Services/{service['sid']}/Builds",
                         data={"FunctionVersions": functions,
                               "Dependencies": json.dumps([{"name": name, "version": "1.0.0"}])})
        assert_error(resp, 400, 20001)


# ------------------------------------------------------------------------------------------ processes


@pytest.fixture
def canary():
    """A process of the test's own user (root in CI) that `kill(-1)` would reach outside a sandbox."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("path", ["/js_kill", "/py_kill"])
def test_signals_reach_neither_the_server_nor_any_other_process(sandboxed, attacker, bystander, canary, path):
    result = call(attacker, path, server=str(sandboxed.pid))
    # Its parent is its sandbox's init, which ignores signals from inside; -1 and the server's PID
    # name no process it can see.
    assert result["ppid"] == 1
    no_such = "ESRCH" if path == "/js_kill" else "ProcessLookupError"
    assert result["everyone"] == no_such, result
    assert result["server"] == no_such, result
    time.sleep(0.5)
    assert canary.poll() is None, "kill(-1) reached a process outside the sandbox"
    assert psutil.pid_exists(sandboxed.pid)
    still_served(sandboxed, bystander)
    assert attacker.site.get("/js_env").status_code == 200, "a fresh worker serves the attacker's next call"


@pytest.mark.skipif(os.geteuid() != 0, reason="the process limit needs a UID of the sandbox's own (server run as root)")
def test_a_fork_bomb_stops_at_the_process_limit(sandboxed, attacker, bystander):
    result = call(attacker, "/py_fork")
    assert result["error"] == "BlockingIOError", result
    # The sandbox's init, the worker and its children: PROCESSES tasks in all.
    assert result["forked"] <= PROCESSES - 2, result
    still_served(sandboxed, bystander)


@pytest.mark.skipif(os.geteuid() != 0, reason="finding a sandbox's processes by UID needs a server run as root")
def test_nothing_a_worker_started_outlives_it(sandboxed, attacker, bystander):
    uid = call(attacker, "/py_kill", server="999999")["uid"]  # the worker the next call goes to
    resp = attacker.site.get("/py_orphan")
    assert_error(resp, 500, 82005, "exited before answering")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = [p for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real == uid]
        if not left:
            break
        time.sleep(0.1)
    assert left == [], f"processes of the dead worker's UID {uid} live on: {left}"
    still_served(sandboxed, bystander)


def test_javascript_functions_start_no_processes(sandboxed, attacker):
    assert attacker.site.get("/js_spawn").text == "ERR_ACCESS_DENIED"


@pytest.mark.skipif(os.geteuid() != 0, reason="own UIDs per sandbox need a server run as root")
def test_each_worker_runs_as_an_unprivileged_uid_of_its_own(sandboxed, attacker):
    uid = call(attacker, "/py_kill", server="999999")["uid"]
    assert uid >= 1_900_000_000
    workers = [p for p in psutil.Process(sandboxed.pid).children(recursive=True)
               if p.name() in ("node", "python", "python3", "python3.11")]
    assert workers and all(p.uids().real >= 1_900_000_000 for p in workers)
    assert len({p.uids().real for p in workers}) == len(workers), "no two workers share a UID"


# ------------------------------------------------------------------------------------------ network


@pytest.mark.parametrize("path", ["/js_net", "/py_net"])
def test_no_socket_reaches_the_host_loopback_or_metadata(sandboxed, attacker, bystander, listener, path):
    port, accepted = listener
    targets = [["127.0.0.1", 5432], ["127.0.0.1", 6379], ["127.0.0.1", sandboxed.port], ["127.0.0.1", port],
               ["169.254.169.254", 80], ["10.0.0.1", 80], ["8.8.8.8", 53]]
    result = call(attacker, path, targets=json.dumps(targets))
    # Its own loopback has nothing listening; no other address has a route.
    refused, unreachable = ("ECONNREFUSED", "ENETUNREACH") if path == "/js_net" else ("ConnectionRefusedError", "OSError")
    assert result == {f"{h}:{p}": refused if h == "127.0.0.1" else unreachable for h, p in targets}, result
    assert accepted == [], "a connection from the sandbox reached the host"
    still_served(sandboxed, bystander)


# ------------------------------------------------------------------------------------------ memory and output


@pytest.mark.parametrize("path", ["/js_mem", "/py_mem"])
def test_memory_of_one_process_is_bounded(sandboxed, attacker, bystander, path):
    result = call(attacker, path)
    failed = "Array buffer allocation failed" if path == "/js_mem" else "MemoryError"
    assert result["big"] == failed, "a 2 GiB allocation succeeded"
    assert result["stopped"] == failed, result
    # Node: a heap of MEMORY_MB within an address space of MEMORY_MB + 1 GiB (V8 reserves ~750 MiB
    # of it at start); Python: an address space of MEMORY_MB + 64 MiB.
    assert result["mb"] <= MEMORY_MB + (1024 if path == "/js_mem" else 64), result
    still_served(sandboxed, bystander)


@pytest.mark.skipif(os.geteuid() != 0, reason="a sandbox's cgroup needs a server run as root")
def test_memory_of_all_a_sandboxs_processes_is_bounded_together(sandboxed, attacker, bystander):
    """Each process has its own address-space budget; their sum is bounded by the sandbox's cgroup
    (MEMORY_MB + 64 MiB for the runtime + the scratch /tmp): children that each stay under their
    own budget are stopped once together they pass it."""
    resp = attacker.site.get("/py_forkmem", params={"children": "6", "mb": "60"})
    if resp.status_code == 200:  # the parent survived: the kernel stopped some of its children
        alive = resp.json()["alive"]
        assert alive * 60 <= MEMORY_MB + 64 + 64 and alive < 6, resp.json()
    else:  # or the parent itself
        assert_error(resp, 500, 82005, "exited before answering")
    still_served(sandboxed, bystander)


def test_a_response_over_the_cap_is_refused_without_the_server_holding_it(sandboxed, attacker, bystander):
    server = psutil.Process(sandboxed.pid)
    before = server.memory_info().rss
    resp = attacker.site.get("/js_big", params={"size": str(40 * 1024 * 1024)})
    assert_error(resp, 500, 82005, str(40 * 1024 * 1024), str(MAX_RESPONSE))
    assert server.memory_info().rss - before < 30 * 1024 * 1024
    ok = attacker.site.get("/js_big", params={"size": str(MAX_RESPONSE)})
    assert ok.status_code == 200 and ok.content == b"x" * MAX_RESPONSE
    still_served(sandboxed, bystander)


def test_a_forged_result_header_stops_the_worker_not_the_server(sandboxed, attacker, bystander):
    """A result line announcing 10^12 body bytes: the server reads none of them and stops the worker."""
    before = attacker.site.get("/js_id").text
    resp = attacker.site.get("/js_forge")
    assert_error(resp, 500, 82005, "exited before answering")
    assert attacker.site.get("/js_id").text != before, "a fresh worker answers the next call"
    log = sandboxed.log_tail(20000)
    assert "answered with 1000000000000 bytes, over the limit" in log
    still_served(sandboxed, bystander)


@pytest.mark.parametrize("path", ["/js_env", "/py_env"])
def test_a_worker_sees_no_server_secret_in_its_environment(sandboxed, attacker, path):
    env = call(attacker, path)
    assert set(env) - {"PWD", "SHLVL", "_", "LC_CTYPE"} == {"PATH", "HOME", "TMPDIR", "LANG", "TZ", "NODE_ENV"}
    assert sandboxed.auth_token not in json.dumps(env)


# ------------------------------------------------------------------------------------------ no sandbox, no code


def test_without_bubblewrap_functions_fail_naming_it(tmp_path_factory, tmp_path):
    """A PATH with Node and npm but no bwrap: builds with functions fail, and so do calls to
    functions built before, each saying what to install; nothing runs unconfined."""
    srv = _start(tmp_path_factory, "no-bwrap")
    try:
        with srv.http_client() as http:
            deployed = deploy_project(srv, http, {"functions/before.js": JS["js_env"]})
        srv.stop()  # the same data folder, started again where bwrap cannot be found
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        for tool in ("node", "npm", "prlimit"):
            found = subprocess.run(["which", tool], capture_output=True, text=True, check=True).stdout.strip()
            (bin_dir / tool).symlink_to(found)
        srv.extra_env = {"PATH": str(bin_dir)}
        srv.start()
        resp = deployed.site.get("/before")
        assert_error(resp, 500, 82005, "bubblewrap", "apt-get install bubblewrap")
        with srv.http_client() as http:
            service = create_service(http, uniq("nobwrap"))
            _, functions, _ = upload_project(http, service["sid"], {"functions/x.js": JS["js_env"]})
            b, status = build(http, service["sid"], [], functions)
            assert status == "failed"
            reason = http.get(f"/assethost/v1/Services/{service['sid']}/Builds/{b['sid']}").json()["status_reason"]
            assert "bubblewrap" in reason and "apt-get install bubblewrap" in reason, reason
        assert "functions: cannot run: bubblewrap (bwrap) is not installed" in srv.log_tail(20000)
    finally:
        srv.stop()


def test_npm_installs_registry_packages_through_the_egress_proxy(sandboxed, bystander):
    """npm has no network in its sandbox but the egress proxy: a registry package installs and
    its function uses it."""
    code = "const isNumber = require('is-number');\nexports.handler = (c, e, cb) => cb(null, [isNumber(5), isNumber('x')]);\n"
    deps = json.dumps([{"name": "is-number", "version": "7.0.0"}])
    with sandboxed.http_client() as http:
        deployed = deploy_project(sandboxed, http, {"functions/isnum.js": code}, dependencies=deps)
    assert deployed.site.get("/isnum").json() == [True, False]
    installed = [p for p in (Path(sandboxed.data_dir) / "deps").iterdir() if (p / ".complete").exists()]
    assert any((p / "node_modules" / "is-number" / "package.json").is_file() for p in installed)
    still_served(sandboxed, bystander)


def test_npm_output_shown_to_the_tenant_names_no_server_path(sandboxed):
    with sandboxed.http_client() as http:
        service = create_service(http, uniq("npmpaths"))
        _, functions, _ = upload_project(http, service["sid"], {"functions/x.js": JS["js_env"]})
        deps = json.dumps([{"name": "assethost-no-such-package-" + uniq("p"), "version": "1.0.0"}])
        b, status = build(http, service["sid"], [], functions, deps)
        assert status == "failed"
        reason = http.get(f"/assethost/v1/Services/{service['sid']}/Builds/{b['sid']}").json()["status_reason"]
    assert "npm install failed" in reason
    for server_path in (str(Path(sandboxed.data_dir).resolve()), str(REPO), str(NPM_CACHE)):
        assert server_path not in reason, reason


def test_the_sandbox_leaves_no_mounts_on_the_host(sandboxed, attacker):
    call(attacker, "/py_env")
    with open("/proc/self/mountinfo") as f:
        mounts = f.read()
    assert "/run/assethost/stage" not in mounts


def test_a_function_cannot_answer_with_a_provisional_status(sandboxed, attacker, bystander):
    """A 1xx is not a final answer: a client (or a proxy pooling connections) would take the next
    answer on the connection, another account's here, for this one's."""
    with socket.create_connection(("127.0.0.1", sandboxed.port), timeout=20) as sock:
        sock.sendall(f"GET /js_status?code=100 HTTP/1.1\r\nHost: {attacker.site.host}\r\n\r\n"
                     f"GET /ok HTTP/1.1\r\nHost: {bystander.site.host}\r\n\r\n".encode())
        data = b""
        while data.count(b"HTTP/1.1 ") < 2 or not data.endswith(SECRET.encode()):
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
    statuses = re.findall(rb"HTTP/1\.1 \d{3} [^\r]*", data)
    assert statuses == [b"HTTP/1.1 500 Internal Server Error", b"HTTP/1.1 200 OK"], data
    assert b"which is not a final HTTP status" in data


def test_a_worker_that_stops_reading_is_stopped_not_fed(sandboxed, attacker, bystander):
    """It reads nothing more and forges answers to the server's pings: what the server sends it
    would pile up in the server's memory. Large calls sent to it stop it instead."""
    server = psutil.Process(sandboxed.pid)
    with sandboxed.http_client() as http:  # a build of its own: its stalled workers serve nothing else
        stalling = deploy_project(sandboxed, http, {"functions/js_stall.js": JS["js_stall"]})
    stalling.site.get("/js_stall", timeout=30)  # times out (504); the worker stalls from now on
    before = server.memory_info().rss
    # A form field of 900 KB of control characters: about 5 MB of JSON once escaped into the event.
    body = b"x=" + b"\x01" * 900_000
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    def post(_: int) -> int:
        return stalling.site.request("POST", "/js_stall", content=body, headers=form, timeout=60).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(post, range(16)))
    assert set(codes) <= {500, 504}, codes
    assert server.memory_info().rss - before < 100 * 1024 * 1024
    assert "is not reading what it is sent; stopping it" in sandboxed.log_tail(100_000)
    still_served(sandboxed, bystander)


def test_a_log_flood_is_cut_per_call_and_per_account(sandboxed, attacker, bystander):
    """Three calls printing 8 KB lines as fast as they can for 1.2 s each keep at most 1000 lines
    and 1 MiB each, and the account at most its burst plus 64 KiB a second."""
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: attacker.site.get("/js_flood", timeout=30).text, range(3)))
    elapsed = time.monotonic() - started
    assert answers == ["flooded"] * 3
    time.sleep(1.5)  # the sink's next flush
    with sqlite3.connect(Path(sandboxed.data_dir) / "assethost.sqlite3") as db:
        lines, size, cut = db.execute(
            "SELECT count(*), coalesce(sum(length(message)), 0), sum(message LIKE 'Log output of this call was cut%') "
            "FROM logs WHERE service_sid = ? AND date_created >= datetime('now', '-60 seconds')",
            (attacker.site.service_sid,)).fetchone()
    assert cut == 3, (lines, size, cut)
    assert lines <= 3 * 1001
    assert size <= 1024 * 1024 + 64 * 1024 * (elapsed + 2) + 3 * 200, size
    still_served(sandboxed, bystander)


@pytest.mark.parametrize("kind, why", [("log", "prints more than"), ("nonsense", "sends what is not the protocol")])
def test_a_worker_writing_to_the_pipe_past_its_harness_is_stopped(sandboxed, attacker, bystander, kind, why):
    resp = attacker.site.get("/js_chatty", params={"kind": kind}, timeout=30)
    assert_error(resp, 500, 82005, "exited before answering")
    assert why in sandboxed.log_tail(100_000)
    still_served(sandboxed, bystander)


def test_a_log_level_a_worker_makes_up_is_stored_as_info(sandboxed, attacker, bystander):
    """Only Twilio's levels are stored; another (here longer than the column) is info."""
    for level in ("warning", "x" * 40):
        assert attacker.site.get("/js_level", params={"level": level}, timeout=30).text == "sent"
    with sandboxed.http_client() as http:
        assert attacker.wait_log(http, "level warning")["level"] == "warning"
        assert attacker.wait_log(http, "level xxxxxxxx")["level"] == "info"
    still_served(sandboxed, bystander)
