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
  propagation   seconds from a deployment's 201 to 20 requests in a row on new connections
                (spread over both workers) serving the new build
  CPU/deploy    server CPU seconds (all processes) over the 3 s after a deployment, less an
                idle 3 s measured just before

Every wait has a time limit. The table is printed and written to bench/out/scale-latest.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
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


def populate(data: Path, url: str, environments: int, files: int) -> tuple[str, str, str, str]:
    """N services of `files` files each; returns (the last domain label, the first service, its
    environment, a second build of it that adds /marker.txt) for the measurements."""
    meta = MetaStore(url)
    meta.migrate()
    blobs = open_blob_store(data / "blobs")
    contents = [blobs.put(f"file {i:04d} ".encode().ljust(1024, b".")) for i in range(files)]
    marker = blobs.put(b"the new build\n")
    now = clock.now()
    with meta.write() as tx:
        tx.accounts.insert(sid=ACCOUNT_SID, friendly_name="bench", auth_token=AUTH_TOKEN, date_created=now)
    first: tuple[str, str, str] | None = None
    label = ""
    for start in range(0, environments, 100):
        with meta.write() as tx:
            for n in range(start, min(start + 100, environments)):
                label, service, env, _ = _one_service(tx, n, contents, now)
                if first is None:
                    extra = _build(tx, service, contents + [marker], now, marker_path=True)
                    first = (service, env, extra)
            tx.bump_generation()
        log(f"  {min(start + 100, environments)} of {environments} environments written")
    meta.dispose()
    assert first is not None
    return label, *first


def _one_service(tx: Any, n: int, contents: list[tuple[str, int]], now: Any) -> tuple[str, str, str, str]:
    service = sids.new(sids.SERVICE)
    base = f"svc{n}-{1000 + n % 9000}"
    tx.services.insert(sid=service, account_sid=ACCOUNT_SID, unique_name=f"svc{n}", friendly_name=f"svc{n}",
                       include_credentials=False, ui_editable=False, domain_base=base, kind="serverless",
                       date_created=now, date_updated=now)
    build = _build(tx, service, contents, now)
    env = sids.new(sids.ENVIRONMENT)
    tx.environments.insert(sid=env, account_sid=ACCOUNT_SID, service_sid=service, unique_name="production",
                           domain_suffix=None, domain_label=base, build_sid=build, date_created=now,
                           date_updated=now)
    tx.deployments.insert(sid=sids.new(sids.DEPLOYMENT), account_sid=ACCOUNT_SID, service_sid=service,
                          environment_sid=env, build_sid=build, date_created=now, date_updated=now)
    return base, service, env, build


def _build(tx: Any, service: str, contents: list[tuple[str, int]], now: Any, marker_path: bool = False) -> str:
    build = sids.new(sids.BUILD)
    tx.builds.insert(sid=build, account_sid=ACCOUNT_SID, service_sid=service, status="completed",
                     status_reason=None, runtime="node22", dependencies="[]", date_created=now, date_updated=now)
    versions, entries = [], []
    for i, (digest, size) in enumerate(contents):
        resource, version = sids.new(sids.RESOURCE), sids.new(sids.VERSION)
        path = "/marker.txt" if marker_path and i == len(contents) - 1 else f"/f{i:04d}.txt"
        tx.resources.insert(sid=resource, account_sid=ACCOUNT_SID, service_sid=service, kind="asset",
                            friendly_name=path, date_created=now, date_updated=now)
        facts = {"kind": "asset", "path": path, "visibility": "public", "blob_hash": digest, "size": size,
                  "content_type": "text/plain"}
        versions.append({"sid": version, "account_sid": ACCOUNT_SID, "service_sid": service,
                         "resource_sid": resource, "date_created": now, **facts})
        entries.append({"build_sid": build, "version_sid": version, "resource_sid": resource,
                        "version_date_created": now, **facts})
    tx.versions.insert_many(versions)
    tx.build_entries.insert_many(entries)
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


def server_cpu(root: psutil.Process) -> float:
    total = 0.0
    for p in [root, *root.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            continue
    return total


def measure(count: int, args: argparse.Namespace) -> dict[str, Any]:
    run = WORK / f"n{count}"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    url = args.database_url or f"sqlite:///{run / 'assethost.sqlite3'}"
    if args.database_url:
        _reset_postgres(args.database_url)
    log(f"{count} environments: writing")
    label, service, env, new_build = populate(run, url, count, args.files)
    port = free_port()
    env_vars = {**os.environ, "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN}
    cmd = [sys.executable, "-m", "assethost", "serve", "--host", "127.0.0.1", "--port", str(port), "--data", str(run),
           "--workers", str(args.workers), "--log-level", "warning"]
    if args.database_url:
        cmd += ["--database-url", args.database_url]
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
        workers = [c for c in root.children() if "assethost" in " ".join(c.cmdline()) or c.name().startswith("python")]
        rss = sorted(round(w.memory_info().rss / MiB) for w in workers) or [round(root.memory_info().rss / MiB)]
        idle_before = server_cpu(root)
        time.sleep(3)
        idle = server_cpu(root) - idle_before
        first_host = f"svc0-{1000}.localhost"
        before = server_cpu(root)
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/Services/{service}/Environments/{env}/Deployments",
                            data={"BuildSid": new_build}, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=120,
                            trust_env=False)
        if answer.status_code != 201:
            raise SystemExit(f"deploy answered {answer.status_code}: {answer.text[:300]}")
        deployed = time.monotonic()
        in_a_row = 0
        while in_a_row < IN_A_ROW:
            if time.monotonic() - deployed > PROPAGATION_TIMEOUT_S:
                raise SystemExit("the deployment did not reach every worker in time")
            in_a_row = in_a_row + 1 if served(port, first_host, "/marker.txt") == b"the new build\n" else 0
        propagation = time.monotonic() - deployed
        time.sleep(max(0.0, 3 - propagation))
        deploy_cpu = server_cpu(root) - before - idle
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    row = {"environments": count, "files": count * args.files, "startup_s": round(startup, 2),
           "rss_mib": rss, "propagation_s": round(propagation, 3), "deploy_cpu_s": round(deploy_cpu, 2)}
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
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL database to use (its public schema is emptied first)")
    args = parser.parse_args()
    rows = [measure(int(n), args) for n in args.environments.split(",")]
    backend = "PostgreSQL" if args.database_url else "SQLite"
    lines = [f"# Scale benchmark ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC)", "",
             (f"`bench/scale_bench.py --environments {args.environments} --files {args.files} --workers "
              f"{args.workers}` on {backend}, 127.0.0.1, {os.cpu_count()} CPUs."), "",
             "| environments | files | start-up | RSS per worker | deploy reaches both workers | server CPU per deploy |",
             "|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['environments']:,} | {r['files']:,} | {r['startup_s']} s | "
                     f"{', '.join(f'{m} MiB' for m in r['rss_mib'])} | {r['propagation_s']} s | {r['deploy_cpu_s']} s |")
    text = "\n".join(lines) + "\n"
    print(text)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    OUT.with_suffix(".json").write_text(json.dumps(rows, indent=2))
    log(f"wrote {OUT}")


if __name__ == "__main__":
    main()
