#!/usr/bin/env python3
"""Deploy benchmark: `assethost deploy` vs Twilio's `twilio-run deploy`, against the same server.

    .venv/bin/python bench/deploy_bench.py                 # 1000 files of 1 KiB
    .venv/bin/python bench/deploy_bench.py --files 200     # smaller
    .venv/bin/python bench/deploy_bench.py --skip-toolkit  # assethost only

One assethost server (fresh data folder under bench/.work/deploy/, SQLite, 127.0.0.1) serves both
tools, each with its own service. For each tool: deploy the project the first time, deploy it
again unchanged, then change one file and deploy again. Each row is the wall time of the whole
command (process start to exit) and how many files it sent: "uploads" are multipart uploads, "new
versions" what the server's version list grew by (assethost's CLI can also make a version from
content the server already holds, which sends no bytes). twilio-run 5.0.1 comes from the repo's
.cache/toolkit (installed there with npm if missing, as the toolkit test does) and reaches the
server through src/assethost/cli/twilio-run-preload.js. Every step has a time limit
(--step-timeout). The table is printed and written to bench/out/deploy-latest.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / ".work" / "deploy"
OUT = BENCH / "out" / "deploy-latest.md"
TOOLKIT = REPO / ".cache" / "toolkit"
PRELOAD = REPO / "src" / "assethost" / "cli" / "twilio-run-preload.js"
TWILIO_RUN_VERSION = "5.0.1"
ACCOUNT_SID = "AC" + "d3" * 16  # the benchmark's own throwaway account (not a secret)
AUTH_TOKEN = "7a" * 16


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_project(root: Path, name: str, files: int, size: int) -> None:
    if root.exists():
        shutil.rmtree(root)
    (root / "assets").mkdir(parents=True)
    (root / "package.json").write_text(json.dumps({"name": name, "version": "1.0.0", "dependencies": {}}))
    for i in range(files):
        # deterministic, distinct content per file and per project
        line = f"{name} file {i:04d} ".encode()
        (root / "assets" / f"f{i:04d}.txt").write_bytes((line * (size // len(line) + 1))[:size])


def change_one(root: Path) -> None:
    target = root / "assets" / "f0000.txt"
    target.write_bytes(b"changed " + target.read_bytes()[8:])


class Server:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        data = WORK / "data"
        if data.exists():
            shutil.rmtree(data)
        data.mkdir(parents=True)
        env = dict(os.environ, TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                   PYTHONPATH=str(REPO / "src"))
        self.log = open(WORK / "server.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "assethost", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--data", str(data), "--log-level", "warning"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}/v1/Services", timeout=1, trust_env=False)
                return
            except httpx.TransportError:
                if self.proc.poll() is not None:
                    raise SystemExit(f"server exited: see {WORK / 'server.log'}")
                time.sleep(0.1)
        self.stop()
        raise SystemExit("server did not start in 30 s")

    def versions(self, service_name: str) -> int:
        with httpx.Client(base_url=self.url, auth=(ACCOUNT_SID, AUTH_TOKEN), trust_env=False, timeout=60) as http:
            services = http.get("/v1/Services", params={"PageSize": 1000}).json()["services"]
            sid = next((s["sid"] for s in services if s["unique_name"] == service_name), None)
            if sid is None:
                return 0
            total, url = 0, f"/assethost/v1/Services/{sid}/Versions?PageSize=1000"
            while url:
                body = http.get(url).json()
                total += len(body["versions"])
                url = body["meta"]["next_page_url"]
            return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


def timed(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[float, subprocess.CompletedProcess]:
    started = time.monotonic()
    proc = subprocess.run(cmd, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return seconds, proc


def twilio_run_binary() -> Path:
    binary = TOOLKIT / "node_modules" / ".bin" / "twilio-run"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if not npm:
        raise SystemExit("npm is needed for the twilio-run rows (or pass --skip-toolkit)")
    TOOLKIT.mkdir(parents=True, exist_ok=True)
    if not (TOOLKIT / "package.json").exists():
        (TOOLKIT / "package.json").write_text('{"name": "assethost-toolkit-cache", "private": true}\n')
    log(f"installing twilio-run@{TWILIO_RUN_VERSION} into {TOOLKIT}")
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error", f"twilio-run@{TWILIO_RUN_VERSION}"],
                   cwd=TOOLKIT, check=True, timeout=600)
    return binary


def run_assethost(server: Server, files: int, size: int, timeout: float) -> list[dict[str, Any]]:
    name = "bench-assethost"
    root = WORK / "project-assethost"
    make_project(root, name, files, size)
    env = dict(os.environ, TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
               ASSETHOST_API_URL=server.url, PYTHONPATH=str(REPO / "src"))
    rows = []
    for run in ("first", "unchanged", "one file changed"):
        if run == "one file changed":
            change_one(root)
        before = server.versions(name)
        log(f"assethost deploy ({run})")
        seconds, proc = timed([sys.executable, "-m", "assethost", "deploy", ".", "--json"], root, env, timeout)
        counts = json.loads(proc.stdout)["counts"]
        rows.append({"tool": "assethost deploy", "run": run, "seconds": seconds, "uploads": counts["uploaded"],
                     "new_versions": server.versions(name) - before, "bytes": counts["uploaded_bytes"],
                     "changed": json.loads(proc.stdout)["changed"]})
    return rows


def run_toolkit(server: Server, files: int, size: int, timeout: float) -> list[dict[str, Any]]:
    if not PRELOAD.is_file():
        raise SystemExit(f"missing {PRELOAD} (the toolkit redirect preload); or pass --skip-toolkit")
    binary = twilio_run_binary()
    name = "bench-twilio-run"
    root = WORK / "project-twilio-run"
    make_project(root, name, files, size)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    env.update(NODE_OPTIONS=f"--require {PRELOAD}", ASSETHOST_API_URL=server.url, NO_UPDATE_NOTIFIER="1",
               FORCE_COLOR="0")
    cmd = [str(binary), "deploy", "--service-name", name, "--override-existing-project",
           "--username", ACCOUNT_SID, "--password", AUTH_TOKEN, "-o", "json"]
    rows = []
    for run in ("first", "unchanged", "one file changed"):
        if run == "one file changed":
            change_one(root)
        before = server.versions(name)
        log(f"twilio-run deploy ({run})")
        seconds, _ = timed(cmd, root, env, timeout)
        new = server.versions(name) - before
        rows.append({"tool": f"twilio-run {TWILIO_RUN_VERSION} deploy", "run": run, "seconds": seconds,
                     "uploads": new, "new_versions": new, "bytes": new * size, "changed": True})
    return rows


def markdown(rows: list[dict[str, Any]], args: argparse.Namespace, load: tuple[float, float]) -> str:
    lines = [
        f"# Deploy benchmark ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        (f"Project: {args.files} files of {args.size} bytes in `assets/`; one assethost server on 127.0.0.1 "
         f"(SQLite), {os.cpu_count()} CPUs; load average {load[0]:.2f} before, {load[1]:.2f} after."),
        "",
        "| tool | run | seconds | uploads | new versions | bytes uploaded | new build |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(f"| {r['tool']} | {r['run']} | {r['seconds']:.2f} | {r['uploads']} | {r['new_versions']} | "
                     f"{r['bytes']} | {'yes' if r['changed'] else 'no'} |")
    lines += ["", ("Seconds: wall time of the whole command, process start to exit (Python or Node start-up "
                   "included). Uploads: multipart uploads; new versions: growth of the service's version list.")]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=1000, help="files in the project (default 1000, the build limit)")
    ap.add_argument("--size", type=int, default=1024, help="bytes per file (default 1024)")
    ap.add_argument("--skip-toolkit", action="store_true", help="assethost rows only")
    ap.add_argument("--step-timeout", type=float, default=600, help="seconds allowed per deploy (default 600)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    server = Server(free_port())
    try:
        rows = run_assethost(server, args.files, args.size, args.step_timeout)
        if not args.skip_toolkit:
            rows += run_toolkit(server, args.files, args.size, args.step_timeout)
    finally:
        server.stop()
    text = markdown(rows, args, (load_before, os.getloadavg()[0]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print()
    print(text)
    log(f"written to {args.out}")


if __name__ == "__main__":
    main()
