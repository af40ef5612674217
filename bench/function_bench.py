#!/usr/bin/env python3
"""Function benchmark: requests/s of a trivial function on assethost vs `twilio-run start`.

    .venv/bin/python bench/function_bench.py              # 5 s per measured run, 1 s warm-up
    .venv/bin/python bench/function_bench.py --duration 10 --connections 64

The function is the same file on both servers: `exports.handler = (context, event, callback) =>
callback(null, 'ok');`. In one run it starts, on 127.0.0.1 only:

* assethost (`python -m assethost serve`, fresh data folder under bench/.work/fn-assethost), the
  function deployed through its own Serverless API (service, function + version, build, dev
  environment, deployment) and called as `GET /ok` with `Host: {domain_name}:{port}`; a 1-byte
  public asset of the same build is measured too, as the edge's asset baseline;
* `twilio-run start --no-live --no-logs` on a project under bench/.work/fn-trproject, twice:
  with its default `--fork-process` (each request runs the function in a forked child, which is
  how it emulates production isolation) and with `--no-fork-process` (in-process; the fastest
  twilio-run can go). twilio-run@5.0.1 is installed under bench/.work/npm if missing.

Each cell: one check that the answer is 200 `ok`, a warm-up, then `wrk -t{threads} -c{connections}
-d{duration}s --timeout 10s`. Prints a table and writes bench/out/function-latest.md (+ .json).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / ".work"
OUT = BENCH / "out"
NPM_PREFIX = WORK / "npm"
TWILIO_RUN_VERSION = "5.0.1"
FUNCTION = "exports.handler = (context, event, callback) => callback(null, 'ok');\n"
ACCOUNT_SID = "AC" + "f1" * 16  # fixed test credentials of the benchmark's own server (not secrets)
AUTH_TOKEN = "9c" * 16


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, host: str, path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path, headers={"Host": host})
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing answered on port {port} within {timeout:g} s")


def check(port: int, host: str, path: str, want: bytes) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Host": host})
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200 or body != want:
        raise SystemExit(f"{host}{path} answered {resp.status} {body[:200]!r}, expected 200 {want!r}")


def wrk(port: int, host: str, path: str, seconds: float, threads: int, connections: int) -> dict:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "--latency",
           "-H", f"Host: {host}", f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    p50 = re.search(r"50%\s+([\d.]+\w+)", out)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out)
    return {"rps": rps, "non2xx": int(errors.group(1)) if errors else 0, "socket_errors": sock.group(1) if sock else "",
            "p50": p50.group(1) if p50 else "", "p99": p99.group(1) if p99 else "", "cmd": " ".join(cmd)}


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# --- assethost ---------------------------------------------------------------------------------


def start_assethost(extra: list[str]) -> tuple[subprocess.Popen, int, str]:
    data = WORK / "fn-assethost"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    port = free_port()
    env = {**os.environ, "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
           "PYTHONPATH": str(REPO / "src"), "NO_PROXY": "127.0.0.1,localhost"}
    cmd = [sys.executable, "-m", "assethost", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--data", str(data), "--log-level", "warning", *extra]
    log = open(WORK / "fn-assethost.log", "wb")  # noqa: SIM115 - kept open for the server's life
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, auth=(ACCOUNT_SID, AUTH_TOKEN), trust_env=False, timeout=30) as http:
        deadline = time.monotonic() + 30
        while True:
            try:
                if http.get("/v1/Services").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("assethost did not start; see bench/.work/fn-assethost.log")
            time.sleep(0.2)
        svc = http.post("/v1/Services", data={"UniqueName": "fnbench", "FriendlyName": "fnbench"}).json()
        s = svc["sid"]
        fn = http.post(f"/v1/Services/{s}/Functions", data={"FriendlyName": "/ok"}).json()
        ver = http.post(f"/v1/Services/{s}/Functions/{fn['sid']}/Versions",
                        data={"Path": "/ok", "Visibility": "public"},
                        files={"Content": ("ok", FUNCTION.encode(), "application/javascript")}).json()
        asset = http.post(f"/v1/Services/{s}/Assets", data={"FriendlyName": "/a.txt"}).json()
        aver = http.post(f"/v1/Services/{s}/Assets/{asset['sid']}/Versions",
                         data={"Path": "/a.txt", "Visibility": "public"},
                         files={"Content": ("a.txt", b"a", "text/plain")}).json()
        build = http.post(f"/v1/Services/{s}/Builds", data={
            "FunctionVersions": ver["sid"], "AssetVersions": aver["sid"],
            "Dependencies": '"[{"name":"@twilio/runtime-handler","version":"2.1.0"}]"'}).json()
        while http.get(f"/v1/Services/{s}/Builds/{build['sid']}/Status").json()["status"] == "building":
            time.sleep(0.2)
        envr = http.post(f"/v1/Services/{s}/Environments", data={"UniqueName": "dev", "DomainSuffix": "dev"}).json()
        http.post(f"/v1/Services/{s}/Environments/{envr['sid']}/Deployments", data={"BuildSid": build["sid"]})
    return proc, port, f"{envr['domain_name']}:{port}"


# --- twilio-run --------------------------------------------------------------------------------


def ensure_twilio_run() -> Path:
    binary = NPM_PREFIX / "node_modules" / ".bin" / "twilio-run"
    if not binary.exists():
        NPM_PREFIX.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--prefix", str(NPM_PREFIX), "--no-audit", "--no-fund",
                        f"twilio-run@{TWILIO_RUN_VERSION}"], check=True, timeout=600)
    return binary


def start_twilio_run(binary: Path, fork: bool) -> tuple[subprocess.Popen, int, str]:
    project = WORK / "fn-trproject"
    (project / "functions").mkdir(parents=True, exist_ok=True)
    (project / "package.json").write_text(json.dumps({"name": "fnbench", "version": "1.0.0", "private": True}))
    (project / ".env").write_text(f"ACCOUNT_SID={ACCOUNT_SID}\nAUTH_TOKEN={AUTH_TOKEN}\n")
    (project / "functions" / "ok.js").write_text(FUNCTION)
    port = free_port()
    cmd = [str(binary), "start", "--cwd", str(project), "--port", str(port), "--no-live", "--no-logs"]
    if not fork:
        cmd.append("--no-fork-process")
    log = open(WORK / f"fn-twilio-run{'' if fork else '-nofork'}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env={**os.environ, "CI": "true"})
    host = f"localhost:{port}"
    wait_http(port, host, "/ok")
    return proc, port, host


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--assethost-args", default="", help="extra `assethost serve` flags")
    ap.add_argument("--out", type=Path, default=OUT / "function-latest.md")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed (apt-get install wrk)")
    WORK.mkdir(parents=True, exist_ok=True)
    binary = ensure_twilio_run()
    rows: list[tuple[str, dict]] = []

    def measure(label: str, port: int, host: str, path: str, want: bytes, connections: int | None = None) -> None:
        check(port, host, path, want)
        conns = connections or args.connections
        if args.warmup > 0:
            wrk(port, host, path, args.warmup, args.threads, conns)
        result = wrk(port, host, path, args.duration, args.threads, conns)
        rows.append((label, result))
        print(f"{label:<44} {result['rps']:>10.0f} req/s  p50 {result['p50']:>8}  p99 {result['p99']:>8}"
              f"  non-2xx {result['non2xx']}  {result['socket_errors']}", flush=True)

    procs = []
    try:
        proc, port, host = start_assethost(args.assethost_args.split())
        procs.append(proc)
        measure("assethost: function GET /ok", port, host, "/ok", b"ok")
        measure("assethost: 1-byte public asset GET /a.txt", port, host, "/a.txt", b"a")
        stop(proc)
        for fork in (True, False):
            proc, port, host = start_twilio_run(binary, fork)
            procs.append(proc)
            label = "twilio-run start (default: --fork-process)" if fork else "twilio-run start --no-fork-process"
            measure(label + " GET /ok", port, host, "/ok", b"ok")
            if fork:  # at -c32 it may finish nothing in time; a few connections show its pace
                measure(label + f" GET /ok, -c{args.threads}", port, host, "/ok", b"ok", args.threads)
            stop(proc)
    finally:
        for proc in procs:
            stop(proc)

    fn = rows[0][1]["rps"]

    def ratio(other: float) -> str:
        if other <= 0:
            return "n/a (it completed no request within wrk's 10 s timeout)"
        return f"**{fn / other:.2f}×**"

    node_version = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    lines = [
        f"# Function benchmark ({dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')})",
        "",
        (f"Host: {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
         f"Node {node_version}, twilio-run {TWILIO_RUN_VERSION}. wrk -t{args.threads} -c{args.connections} "
         f"-d{args.duration:g}s after a {args.warmup:g} s warm-up; function `callback(null, 'ok')`."),
        "",
        "| server | req/s | p50 | p99 | non-2xx | wrk socket errors |",
        "|---|---:|---:|---:|---:|---|",
    ]
    lines += [f"| {label} | {r['rps']:.0f} | {r['p50']} | {r['p99']} | {r['non2xx']} | {r['socket_errors'] or '-'} |"
              for label, r in rows]
    lines += [
        "",
        (f"assethost function ÷ twilio-run (default, forking): {ratio(rows[2][1]['rps'])}; "
         f"÷ twilio-run --no-fork-process: {ratio(rows[4][1]['rps'])}. "
         f"(twilio-run forking at -c{args.threads}: {rows[3][1]['rps']:.0f} req/s.)"),
        "",
    ]
    text = "\n".join(lines)
    print("\n" + text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps([{"label": label, **r} for label, r in rows], indent=1))


if __name__ == "__main__":
    main()
