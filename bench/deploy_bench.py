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

With --checkout NAME=PATH (twice or more) it compares checkouts instead: the first `assethost
deploy` of --files (1000) × --size (1 KiB) ("small") and of --large-files (100) × --large-size
(5 MB) ("large"), each run with PATH's own CLI against PATH's own server on a fresh data folder
(and, for --backend postgres, a fresh PostgreSQL database at --pg-url; blobs stay in the data
folder), checkouts interleaved round by round (--rounds, 3), medians reported with the server's
CPU time (its process tree, from /proc):

    .venv/bin/python bench/deploy_bench.py --checkout before=../wt-before --checkout after=. \
        --backend sqlite,postgres --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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


# --------------------------------------------------------------------------------------------
# --checkout: first deploys of two checkouts, small and large files, SQLite and PostgreSQL


def _large_project(root: Path, files: int, size: int) -> None:
    """Random (incompressible, distinct) files, written once and reused by every run."""
    marker = root / f".complete-{files}x{size}"
    if marker.exists():
        return
    if root.exists():
        shutil.rmtree(root)
    (root / "assets").mkdir(parents=True)
    for i in range(files):
        (root / "assets" / f"big{i:03d}.bin").write_bytes(os.urandom(size))
    marker.write_text("")


def _pg_database(pg_url: str) -> tuple[str, str]:
    """A new database: (SQLAlchemy URL for serve, its name to drop)."""
    import psycopg

    name = f"assethost_bench_{os.urandom(6).hex()}"
    with psycopg.connect(pg_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = pg_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}", name


def _drop_database(pg_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _first_deploy(checkout: Any, backend: str, project: Path, run_dir: Path, args: argparse.Namespace) -> dict:
    import upload_bench as ub

    if run_dir.exists():
        shutil.rmtree(run_dir)
    (run_dir / "data").mkdir(parents=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(checkout.python), "-m", "assethost", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--data", str(run_dir / "data"), "--log-level", "warning"]
    dbname = None
    if backend == "postgres":
        db_url, dbname = _pg_database(args.pg_url)
        cmd += ["--database-url", db_url]
    env = ub.server_env(checkout)
    with open(run_dir / "server.log", "wb") as server_log:
        proc = subprocess.Popen(cmd, cwd=checkout.path, env=env, stdin=subprocess.DEVNULL, stdout=server_log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/v1/Services", auth=(ub.ACCOUNT_SID, ub.AUTH_TOKEN), timeout=2,
                                 trust_env=False).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{checkout.name}: server did not start; see {run_dir / 'server.log'}")
                time.sleep(0.1)
            cli_env = dict(env, ASSETHOST_API_URL=url, NO_PROXY="127.0.0.1")
            before = ub.tree_cpu(proc.pid)
            client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            seconds, done = timed([str(checkout.python), "-m", "assethost", "deploy", ".", "-n",
                                   f"bench-{os.urandom(4).hex()}", "--json"], project, cli_env, args.step_timeout)
            cpu = ub.tree_cpu(proc.pid) - before
            client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            client_cpu = (client_after.ru_utime + client_after.ru_stime
                          - client_before.ru_utime - client_before.ru_stime)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
            if dbname:
                _drop_database(args.pg_url, dbname)
    counts = json.loads(done.stdout)["counts"]
    return {"seconds": seconds, "server_cpu": cpu, "client_cpu": client_cpu, "files": counts["files"],
            "uploaded": counts["uploaded"],
            "bytes": counts["uploaded_bytes"]}


def compare(args: argparse.Namespace) -> None:
    import statistics

    import upload_bench as ub

    for c in args.checkout:
        ub.check_checkout(c)
    backends = [b for b in args.backend.split(",") if b]
    projects = {}
    if "small" in args.scenarios:
        make_project(WORK / "compare-small", "bench-small", args.files, args.size)
        projects["small"] = (WORK / "compare-small", f"{args.files} × {args.size} B")
    if "large" in args.scenarios:
        _large_project(WORK / "compare-large", args.large_files, args.large_size)
        projects["large"] = (WORK / "compare-large", f"{args.large_files} × {args.large_size} B")
    load_before = os.getloadavg()[0]
    runs: dict[tuple[str, str, str], list[dict]] = {}
    for rnd in range(args.rounds):
        for scenario, (root, _) in projects.items():
            for backend in backends:
                for c in args.checkout:
                    log(f"round {rnd + 1}: {c.name} {backend} {scenario}")
                    r = _first_deploy(c, backend, root, WORK / "compare-run", args)
                    log(f"  {r['seconds']:.2f} s, server CPU {r['server_cpu']:.2f} s, CLI CPU {r['client_cpu']:.2f} s, "
                        f"{r['uploaded']} uploaded")
                    runs.setdefault((scenario, backend, c.name), []).append(r)
    first = args.checkout[0].name
    lines = [
        f"# First deploys, checkouts compared ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        (f"{', '.join(f'{c.name} = {c.commit}' for c in args.checkout)}; {args.rounds} rounds, interleaved; "
         f"{os.cpu_count()} CPUs; load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after. "
         "PostgreSQL runs keep their blobs in the data folder."),
        "",
        ("| project | database | checkout | seconds (median) | all runs | MB/s | files/s | server CPU s "
         "| CLI CPU s | vs first |"),
        "|---|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for (scenario, backend, name), rs in runs.items():
        sec = statistics.median(r["seconds"] for r in rs)
        cpu = statistics.median(r["server_cpu"] for r in rs)
        client = statistics.median(r["client_cpu"] for r in rs)
        base = statistics.median(r["seconds"] for r in runs[(scenario, backend, first)])
        mb = statistics.median(r["bytes"] for r in rs) / 1e6 / sec
        every = ", ".join(f"{r['seconds']:.2f}" for r in rs)
        lines.append(f"| {projects[scenario][1]} | {backend} | {name} | {sec:.2f} | "
                     f"{every} | {mb:.0f} | {rs[0]['files'] / sec:.0f} | "
                     f"{cpu:.2f} | {client:.2f} | {base / sec:.2f}x |")
    lines += ["", ("Seconds: wall time of the whole `assethost deploy` command, process start to exit; CPU: "
                   "user + system seconds of the server's process tree and of the CLI process during it.")]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print()
    print(text)
    log(f"written to {args.out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=1000, help="files in the project (default 1000, the build limit)")
    ap.add_argument("--size", type=int, default=1024, help="bytes per file (default 1024)")
    ap.add_argument("--skip-toolkit", action="store_true", help="assethost rows only")
    ap.add_argument("--step-timeout", type=float, default=600, help="seconds allowed per deploy (default 600)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--checkout", action="append", default=[], metavar="NAME=PATH",
                    help="compare the first deploys of these checkouts (twice or more) instead")
    ap.add_argument("--backend", default="sqlite", help="with --checkout: sqlite, postgres or both (comma)")
    ap.add_argument("--scenarios", default="small,large", help="with --checkout: small, large or both")
    ap.add_argument("--large-files", type=int, default=100)
    ap.add_argument("--large-size", type=int, default=5_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                    help="PostgreSQL to create the --backend postgres databases in")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    if args.checkout:
        import upload_bench as ub

        args.checkout = [ub.parse_checkout(spec) for spec in args.checkout]
        if len(args.checkout) < 2:
            raise SystemExit("--checkout: give two or more")
        compare(args)
        return
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
