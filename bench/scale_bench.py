#!/usr/bin/env python3
"""Scale benchmark: what many deployed environments cost one server, and how fast a deployment
reaches its other worker process.

    .venv/bin/python bench/scale_bench.py --environments 10,1000            # SQLite
    .venv/bin/python bench/scale_bench.py --environments 1000 --database-url postgresql+psycopg://postgres@127.0.0.1/test

For each count N it fills a fresh data folder (and database) with N services, each with one
environment serving its own build of --files (100) small files of 1 KiB (versions of their own,
the bytes shared), written straight through the metadata store in bulk (the API would take hours
for 1,000,000 versions), then starts `assethost serve --workers 2` on 127.0.0.1 and measures:

  start-up      seconds from the command to every worker serving the last environment
  RSS           per worker process, MiB, once started
  RSS           per worker process, MiB, once started, and again at the end (after the load)
  propagation   seconds from sending a deployment to the first of 20 requests in a row on new
                connections (spread over both workers) that all serve the new build; once with
                no load, then for each deployment made during the second load phase
  CPU/deploy    CPU seconds of each worker over the 3 s after a deployment, less an idle 3 s
                measured just before (the worker that took the API request does more)
  p50/p99       latency of GETs of random files of --hot sites on 4 keep-alive connections for
                --load-seconds: first with no deployments ("quiet"), then while --deploys
                deployments switch one of those sites back and forth ("deploying")

Before the measurements the load runs once to warm the hot sites on every worker. With
--environments 10000 use PostgreSQL (--database-url): SQLite takes as long to fill and the
figures are the same in kind.

Every wait has a time limit. The table is printed and written to bench/out/scale-latest.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from assethost.core import clock, sids
from assethost.store.blobs import open_blob_store
from assethost.store.meta import MetaStore

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / ".work" / "scale"
OUT = BENCH / "out" / "scale-latest.md"
ACCOUNT_SID = "AC" + "5c" * 16  # the benchmark's own throwaway account (not a secret)
AUTH_TOKEN = "a1" * 16
START_TIMEOUT_S = 600.0
PROPAGATION_TIMEOUT_S = 60.0
IN_A_ROW = 20
MiB = 1024 * 1024


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def populate(data: Path, url: str, environments: int, files: int) -> tuple[str, str, str, str, str]:
    """N services of `files` files each; returns (the last domain label, the first service, its
    environment, its build, a second build of it that adds /marker.txt) for the measurements."""
    meta = MetaStore(url)
    meta.migrate()
    blobs = open_blob_store(data / "blobs")
    contents = [blobs.put(f"file {i:04d} ".encode().ljust(1024, b".")) for i in range(files)]
    marker = blobs.put(b"the new build\n")
    now = clock.now()
    with meta.write() as tx:
        tx.accounts.insert(sid=ACCOUNT_SID, friendly_name="bench", auth_token=AUTH_TOKEN, date_created=now)
    first: tuple[str, str, str, str] | None = None
    label = ""
    began = time.monotonic()
    for start in range(0, environments, BATCH):
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
        for n in range(start, min(start + BATCH, environments)):
            label, service, env, build = _one_service(rows, n, contents, now)
            if first is None:
                first = (service, env, build, _build(rows, service, contents + [marker], now, marker_path=True))
        with meta.write() as tx:
            for name in TABLES:
                getattr(tx, name).insert_many(rows[name])
            tx.bump_generation()
        done = min(start + BATCH, environments)
        if done % 1000 == 0 or done == environments:
            log(f"  {done} of {environments} environments written ({time.monotonic() - began:.0f} s)")
    meta.dispose()
    assert first is not None
    return label, *first


BATCH = 100  # environments per transaction
TABLES = ("services", "builds", "resources", "versions", "build_entries", "environments", "deployments")


def _one_service(rows: dict[str, list[dict[str, Any]]], n: int, contents: list[tuple[str, int]],
                 now: Any) -> tuple[str, str, str, str]:
    service = sids.new(sids.SERVICE)
    base = f"svc{n}-{1000 + n % 9000}"
    rows["services"].append({"sid": service, "account_sid": ACCOUNT_SID, "unique_name": f"svc{n}", "friendly_name": f"svc{n}",
                                 "include_credentials": False, "ui_editable": False, "domain_base": base, "kind": "serverless",
                                 "date_created": now, "date_updated": now})
    build = _build(rows, service, contents, now)
    env = sids.new(sids.ENVIRONMENT)
    rows["environments"].append({"sid": env, "account_sid": ACCOUNT_SID, "service_sid": service, "unique_name": "production",
                                     "domain_suffix": None, "domain_label": base, "build_sid": build, "date_created": now,
                                     "date_updated": now})
    rows["deployments"].append({"sid": sids.new(sids.DEPLOYMENT), "account_sid": ACCOUNT_SID, "service_sid": service,
                                    "environment_sid": env, "build_sid": build, "date_created": now, "date_updated": now})
    return base, service, env, build


def _build(rows: dict[str, list[dict[str, Any]]], service: str, contents: list[tuple[str, int]], now: Any,
           marker_path: bool = False) -> str:
    build = sids.new(sids.BUILD)
    rows["builds"].append({"sid": build, "account_sid": ACCOUNT_SID, "service_sid": service, "status": "completed",
                               "status_reason": None, "runtime": "node22", "dependencies": "[]", "date_created": now,
                               "date_updated": now})
    for i, (digest, size) in enumerate(contents):
        resource, version = sids.new(sids.RESOURCE), sids.new(sids.VERSION)
        path = "/marker.txt" if marker_path and i == len(contents) - 1 else f"/f{i:04d}.txt"
        rows["resources"].append({"sid": resource, "account_sid": ACCOUNT_SID, "service_sid": service, "kind": "asset",
                                      "friendly_name": path, "date_created": now, "date_updated": now})
        facts = {"kind": "asset", "path": path, "visibility": "public", "blob_hash": digest, "size": size,
                  "content_type": "text/plain"}
        rows["versions"].append({"sid": version, "account_sid": ACCOUNT_SID, "service_sid": service,
                                 "resource_sid": resource, "date_created": now, **facts})
        rows["build_entries"].append({"build_sid": build, "version_sid": version, "resource_sid": resource,
                                      "version_date_created": now, **facts})
    return build


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def served(port: int, host: str, path: str) -> bytes | None:
    try:
        answer = httpx.get(f"http://127.0.0.1:{port}{path}", headers={"Host": f"{host}:{port}"}, timeout=5,
                           trust_env=False)
    except httpx.HTTPError:
        return None
    return answer.content if answer.status_code == 200 else None


def cpu_of(p: psutil.Process) -> float:
    try:
        t = p.cpu_times()
    except psutil.Error:
        return 0.0
    return float(t.user + t.system)


def worker_processes(root: psutil.Process) -> list[psutil.Process]:
    """The serving processes: the workers of --workers N (or the server itself, with one)."""
    return [c for c in root.children() if c.name().startswith("python")] or [root]


class Load:
    """Closed-loop GET requests on `connections` keep-alive connections to random files of the
    hot sites, for at most `seconds` and MAX_REQUESTS; the latency of each answer is kept."""

    MAX_REQUESTS = 200_000

    def __init__(self, port: int, hosts: list[str], files: int, connections: int = 4) -> None:
        self.port, self.hosts, self.files, self.connections = port, hosts, files, connections
        self.latencies: list[float] = []
        self.errors = 0
        self._stop = threading.Event()

    def run(self, seconds: float) -> None:
        threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(self.connections)]
        for t in threads:
            t.start()
        self._stop.wait(seconds)
        self._stop.set()
        for t in threads:
            t.join(timeout=30)

    def start(self) -> threading.Thread:
        self._stop.clear()
        t = threading.Thread(target=self.run, args=(3600.0,), daemon=True)
        t.start()
        return t

    def stop(self, thread: threading.Thread) -> None:
        self._stop.set()
        thread.join(timeout=60)

    def _client(self, seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self._stop.is_set() and len(self.latencies) < self.MAX_REQUESTS:
            host = rng.choice(self.hosts)
            path = f"/f{rng.randrange(self.files):04d}.txt"
            began = time.perf_counter()
            try:
                conn.request("GET", path, headers={"Host": f"{host}:{self.port}"})
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            self.latencies.append(time.perf_counter() - began)
            if not ok:
                self.errors += 1
        conn.close()

    def figures(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        if not ordered:
            return {"requests": 0, "errors": self.errors}
        def at(q: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)
        return {"requests": len(ordered), "errors": self.errors, "p50_ms": at(0.50), "p99_ms": at(0.99)}


def deploy(port: int, service: str, env: str, build: str) -> tuple[float, float]:
    """Deploy: time.monotonic() when the request was sent, and seconds until its 201."""
    sent = time.monotonic()
    answer = httpx.post(f"http://127.0.0.1:{port}/v1/Services/{service}/Environments/{env}/Deployments",
                        data={"BuildSid": build}, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=120, trust_env=False)
    if answer.status_code != 201:
        raise SystemExit(f"deploy answered {answer.status_code}: {answer.text[:300]}")
    return sent, time.monotonic() - sent


def wait_served(port: int, host: str, path: str, body: bytes, since: float) -> float:
    """Seconds from `since` to the first of IN_A_ROW requests in a row (new connections, spread
    over the workers) that all answer `body`: from then on every worker served it."""
    in_a_row, first = 0, since
    while in_a_row < IN_A_ROW:
        if time.monotonic() - since > PROPAGATION_TIMEOUT_S:
            raise SystemExit(f"{host}{path} did not serve the deployment on every worker in time")
        asked = time.monotonic()
        if served(port, host, path) == body:
            first = asked if in_a_row == 0 else first
            in_a_row += 1
        else:
            in_a_row = 0
    return first - since


def measure(count: int, args: argparse.Namespace) -> dict[str, Any]:
    run = WORK / f"n{count}"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    url = args.database_url or f"sqlite:///{run / 'assethost.sqlite3'}"
    if args.database_url:
        _reset_postgres(args.database_url)
    log(f"{count} environments: writing")
    began = time.monotonic()
    label, service, env, old_build, new_build = populate(run, url, count, args.files)
    written = time.monotonic() - began
    port = free_port()
    env_vars = {**os.environ, "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN}
    cmd = [sys.executable, "-m", "assethost", "serve", "--host", "127.0.0.1", "--port", str(port), "--data", str(run),
           "--workers", str(args.workers), "--log-level", "warning"]
    if args.database_url:
        cmd += ["--database-url", args.database_url]
    log(f"  starting: {' '.join(cmd[2:])}")
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env_vars, stdout=subprocess.DEVNULL, stderr=open(run / "server.log", "wb"))  # noqa: SIM115
    try:
        host = f"{label}.localhost"
        in_a_row = 0
        while in_a_row < IN_A_ROW:  # every worker has loaded its snapshot
            if time.monotonic() - started > START_TIMEOUT_S or proc.poll() is not None:
                raise SystemExit(f"the server did not serve {host} within {START_TIMEOUT_S} s (see {run}/server.log)")
            in_a_row = in_a_row + 1 if served(port, host, "/f0000.txt") else 0
            if not in_a_row:
                time.sleep(0.05)
        startup = time.monotonic() - started
        root = psutil.Process(proc.pid)
        workers = worker_processes(root)
        rss_start = sorted(round(w.memory_info().rss / MiB) for w in workers)
        first_host = "svc0-1000.localhost"
        hot = [first_host] + [f"svc{n}-{1000 + n % 9000}.localhost" for n in range(1, min(count, args.hot))]
        load = Load(port, hot, args.files)
        load.run(args.load_seconds)  # warms the hot sites on every worker
        log(f"  warm-up: {load.figures()}")

        idle_before = [cpu_of(w) for w in workers]
        time.sleep(3)
        idle = [cpu_of(w) - b for w, b in zip(workers, idle_before, strict=True)]
        before = [cpu_of(w) for w in workers]
        deployed, answered = deploy(port, service, env, new_build)
        propagation = wait_served(port, first_host, "/marker.txt", b"the new build\n", deployed)
        time.sleep(max(0.0, 3 - (time.monotonic() - deployed)))
        deploy_cpu = sorted(round(cpu_of(w) - b - i, 3) for w, b, i in zip(workers, before, idle, strict=True))

        quiet = Load(port, hot, args.files)
        quiet.run(args.load_seconds)
        busy = Load(port, hot, args.files)
        thread = busy.start()
        propagations = []
        builds = [old_build, new_build]
        deadline = time.monotonic() + args.load_seconds
        for i in range(args.deploys):
            build = builds[i % 2]
            at, _ = deploy(port, service, env, build)
            body = b"the new build\n" if build == new_build else None
            if body is not None:
                propagations.append(round(wait_served(port, first_host, "/marker.txt", body, at), 3))
            time.sleep(max(0.0, min(1.0, deadline - time.monotonic())))
        busy.stop(thread)
        rss_end = sorted(round(w.memory_info().rss / MiB) for w in workers)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    row = {"environments": count, "files": count * args.files, "written_s": round(written), "startup_s": round(startup, 2),
           "rss_start_mib": rss_start, "rss_end_mib": rss_end, "deploy_answer_s": round(answered, 3),
           "propagation_s": round(propagation, 3),
           "propagations_under_load_s": propagations, "deploy_cpu_s": deploy_cpu,
           "quiet": quiet.figures(), "deploying": busy.figures()}
    log(f"  {row}")
    return row


def _reset_postgres(url: str) -> None:
    meta = MetaStore(url)
    with meta.engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    meta.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--environments", default="10,1000", help="comma-separated counts (default 10,1000)")
    parser.add_argument("--files", type=int, default=100, help="files per environment (default 100)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--hot", type=int, default=50, help="sites the load requests (default 50)")
    parser.add_argument("--load-seconds", type=float, default=5.0, help="each load phase (default 5)")
    parser.add_argument("--deploys", type=int, default=4, help="deployments during the second load phase")
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL database to use (its public schema is emptied first)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"the table (default {OUT.relative_to(REPO)})")
    args = parser.parse_args()
    rows = [measure(int(n), args) for n in args.environments.split(",")]
    backend = "PostgreSQL" if args.database_url else "SQLite"
    lines = [f"# Scale benchmark ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC)", "",
             (f"`bench/scale_bench.py --environments {args.environments} --files {args.files} --workers "
              f"{args.workers}` on {backend}, 127.0.0.1, {os.cpu_count()} CPUs."), "",
             ("| environments | files | start-up | RSS per worker (start → end) | deploy reaches both workers (answer; under load) "
              "| CPU per deploy per worker | p99 quiet | p99 deploying |"),
             "|---:|---:|---:|---|---:|---|---:|---:|"]
    for r in rows:
        rss = ", ".join(f"{a} → {b} MiB" for a, b in zip(r["rss_start_mib"], r["rss_end_mib"], strict=True))
        cpu = ", ".join(f"{c * 1000:.0f} ms" for c in r["deploy_cpu_s"])
        under = "/".join(str(p) for p in r["propagations_under_load_s"])
        lines.append(f"| {r['environments']:,} | {r['files']:,} | {r['startup_s']} s | {rss} | "
                     f"{r['propagation_s']} s ({r['deploy_answer_s']} s; {under} s under load) | {cpu} | "
                     f"{r['quiet'].get('p99_ms')} ms | {r['deploying'].get('p99_ms')} ms |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=2))
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
