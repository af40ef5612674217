#!/usr/bin/env python3
"""Node cache and build-time compression benchmark: two checkouts side by side, in one run.

    .venv/bin/python bench/cache_bench.py --checkout before=../wt-before --checkout after=.

(1) CPU per deploy per process. Each checkout's `assethost serve --workers 2` (SQLite, local
    folder) gets --files (100) new compressible files of 4 KiB through the API, a build of them
    and a deployment, --rounds times. Measured: server CPU (all processes) from the build's
    creation to its completion, and each process's CPU over the 4 s after the deployment, less an
    idle 4 s measured just before. Before: every worker compresses the new files after its
    reload; after: the build compresses them once.

(2) Cold-cache start of a node. A bucket on moto's S3 server holds --environments (20) builds of
    --files distinct files of 1,000 bytes (under the 1 KiB below which there are no variants, so
    both checkouts fetch the same objects); each checkout starts `serve --workers 2 --blob-url`
    with an empty data folder on the same database. Measured: seconds from the command to both
    workers serving the last environment (before: each blob fetched in turn; after: a pool).

Every wait has a time limit. The tables are printed and written to bench/out/cache-latest.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import httpx
import psutil

from assethost.core import clock, sids
from assethost.store.meta import MetaStore

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work" / "cache"
OUT = BENCH / "out" / "cache-latest.md"
ACCOUNT_SID = "AC" + "ca" * 16  # the benchmark's own throwaway account (not a secret)
AUTH_TOKEN = "c4" * 16
START_TIMEOUT_S = 300.0
WINDOW_S = 4.0
IN_A_ROW = 20
WORDS = b"alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november".split()


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def text(seed: int, size: int = 4096) -> bytes:
    """Text that compresses as prose does (about 3:1), different for every seed."""
    out, n = bytearray(), seed * 7919 + 1
    while len(out) < size:
        n = (n * 1103515245 + 12345) % 2**31
        out += WORDS[n % len(WORDS)] + (b"\n" if n % 11 == 0 else b" ")
    return bytes(out[:size])


def cpu(p: psutil.Process) -> float:
    try:
        t = p.cpu_times()
        return t.user + t.system
    except psutil.Error:
        return 0.0


class Server:
    def __init__(self, checkout: Path, data: Path, extra: list[str], env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.data = data
        python = checkout / ".venv" / "bin" / "python"
        environ = {**os.environ, **(env or {}), "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                   "PYTHONPATH": str(checkout / "src"), "NO_PROXY": "127.0.0.1"}
        cmd = [str(python), "-m", "assethost", "serve", "--host", "127.0.0.1", "--port", str(self.port),
               "--data", str(data), "--workers", "2", "--log-level", "warning", *extra]
        self.started = time.monotonic()
        data.mkdir(parents=True, exist_ok=True)
        self.log = open(data.parent / f"{data.name}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, env=environ, stdout=self.log, stderr=subprocess.STDOUT, cwd=str(checkout))
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", auth=(ACCOUNT_SID, AUTH_TOKEN),
                                 timeout=60, trust_env=False)

    def wait_api(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited (see {self.data}.log)")
            try:
                self.http.get("/v1/Services")
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise SystemExit("the server did not start")

    def serves(self, host: str, path: str) -> bool:
        try:
            answer = self.http.get(path, headers={"Host": f"{host}:{self.port}"}, auth=None)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200

    def processes(self) -> list[psutil.Process]:
        root = psutil.Process(self.proc.pid)
        return [root, *root.children(recursive=True)]

    def stop(self) -> None:
        self.http.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def _ok(answer: httpx.Response) -> dict[str, Any]:
    if answer.status_code not in (200, 201):
        raise SystemExit(f"{answer.request.url} answered {answer.status_code}: {answer.text[:300]}")
    return dict(answer.json())


def deploy_cpu(name: str, checkout: Path, args: argparse.Namespace) -> dict[str, Any]:
    run = WORK / f"deploy-{name}"
    shutil.rmtree(run, ignore_errors=True)
    server = Server(checkout, run / "data", [])
    try:
        server.wait_api()
        http = server.http
        service = _ok(http.post("/v1/Services", data={"UniqueName": f"bench{name}", "FriendlyName": "bench"}))["sid"]
        env = _ok(http.post(f"/v1/Services/{service}/Environments", data={"UniqueName": "prod"}))
        builds, deploys = [], []
        for r in range(args.rounds):
            versions = []
            for i in range(args.files):
                asset = _ok(http.post(f"/v1/Services/{service}/Assets", data={"FriendlyName": f"r{r}f{i}"}))["sid"]
                versions.append(_ok(http.post(
                    f"/v1/Services/{service}/Assets/{asset}/Versions", data={"Path": f"/r{r}/f{i}.txt",
                                                                              "Visibility": "public"},
                    files={"Content": (f"f{i}.txt", text(r * 10_000 + i), "text/plain")}))["sid"])
            procs = server.processes()
            before = sum(cpu(p) for p in procs)
            build = _ok(http.post(f"/v1/Services/{service}/Builds", data={"AssetVersions": versions}))["sid"]
            deadline = time.monotonic() + START_TIMEOUT_S
            while _ok(http.get(f"/v1/Services/{service}/Builds/{build}/Status"))["status"] != "completed":
                if time.monotonic() > deadline:
                    raise SystemExit("the build did not complete")
                time.sleep(0.1)
            builds.append(sum(cpu(p) for p in procs) - before)
            time.sleep(1)
            idle = [cpu(p) for p in procs]
            time.sleep(WINDOW_S)
            idle = [cpu(p) - i for p, i in zip(procs, idle, strict=True)]
            start = [cpu(p) for p in procs]
            _ok(http.post(f"/v1/Services/{service}/Environments/{env['sid']}/Deployments", data={"BuildSid": build}))
            time.sleep(WINDOW_S)
            deploys.append([round(cpu(p) - s - i, 3) for p, s, i in zip(procs, start, idle, strict=True)])
            log(f"  {name} round {r}: build {builds[-1]:.3f} s CPU, deploy per process {deploys[-1]}")
    finally:
        server.stop()
    return {"checkout": name, "build_cpu": builds, "deploy_cpu": deploys}


def populate(url: str, bucket: str, endpoint: str, environments: int, files: int) -> str:
    """Builds of distinct files in the bucket and their rows; returns the last domain label."""
    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="bench", aws_secret_access_key="bench",
                      region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    meta = MetaStore(url)
    meta.migrate()
    now = clock.now()
    with meta.write() as tx:
        tx.accounts.insert(sid=ACCOUNT_SID, friendly_name="bench", auth_token=AUTH_TOKEN, date_created=now)
    label = ""
    for n in range(environments):
        contents = []
        for i in range(files):
            data = text(n * 1000 + i, 1000)
            digest = hashlib.sha256(data).hexdigest()
            s3.put_object(Bucket=bucket, Key=f"blobs/{digest}", Body=data)
            contents.append((digest, len(data)))
        with meta.write() as tx:
            label = _service(tx, n, contents, now)
            tx.bump_generation()
    meta.dispose()
    return label


def _service(tx: Any, n: int, contents: list[tuple[str, int]], now: Any) -> str:
    service, build, env = sids.new(sids.SERVICE), sids.new(sids.BUILD), sids.new(sids.ENVIRONMENT)
    base = f"cold{n}-{1000 + n}"
    tx.services.insert(sid=service, account_sid=ACCOUNT_SID, unique_name=f"cold{n}", friendly_name=f"cold{n}",
                       include_credentials=False, ui_editable=False, domain_base=base, kind="serverless",
                       date_created=now, date_updated=now)
    tx.builds.insert(sid=build, account_sid=ACCOUNT_SID, service_sid=service, status="completed",
                     status_reason=None, runtime="node22", dependencies="[]", date_created=now, date_updated=now)
    versions, entries = [], []
    for i, (digest, size) in enumerate(contents):
        resource, version = sids.new(sids.RESOURCE), sids.new(sids.VERSION)
        facts = {"kind": "asset", "path": f"/f{i:04d}.txt", "visibility": "public", "blob_hash": digest,
                 "size": size, "content_type": "text/plain"}
        tx.resources.insert(sid=resource, account_sid=ACCOUNT_SID, service_sid=service, kind="asset",
                            friendly_name=facts["path"], date_created=now, date_updated=now)
        versions.append({"sid": version, "account_sid": ACCOUNT_SID, "service_sid": service,
                         "resource_sid": resource, "date_created": now, **facts})
        entries.append({"build_sid": build, "version_sid": version, "resource_sid": resource,
                        "version_date_created": now, **facts})
    tx.versions.insert_many(versions)
    tx.build_entries.insert_many(entries)
    tx.environments.insert(sid=env, account_sid=ACCOUNT_SID, service_sid=service, unique_name="production",
                           domain_suffix=None, domain_label=base, build_sid=build, date_created=now, date_updated=now)
    return base


def cold_start(name: str, checkout: Path, db_url: str, bucket: str, endpoint: str, label: str,
               files: int) -> float:
    data = WORK / f"cold-{name}-{uuid.uuid4().hex[:6]}" / "data"
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_DEFAULT_REGION": "us-east-1"}
    server = Server(checkout, data, ["--database-url", db_url, "--blob-url", f"s3://{bucket}/blobs"], env)
    try:
        host, path = f"{label}.localhost", f"/f{files - 1:04d}.txt"
        in_a_row = 0
        while in_a_row < IN_A_ROW:
            if time.monotonic() - server.started > START_TIMEOUT_S or server.proc.poll() is not None:
                raise SystemExit(f"{name} did not serve {host} in time (see {data}.log)")
            in_a_row = in_a_row + 1 if server.serves(host, path) else 0
            if not in_a_row:
                time.sleep(0.05)
        return time.monotonic() - server.started
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", action="append", required=True, help="name=path, e.g. before=../wt-before")
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--environments", type=int, default=20)
    parser.add_argument("--starts", type=int, default=3, help="cold starts per checkout, alternating")
    parser.add_argument("--skip-deploy", action="store_true", help="measure (2) only")
    parser.add_argument("--skip-cold", action="store_true", help="measure (1) only")
    args = parser.parse_args()
    checkouts = [(n, Path(p).resolve()) for n, p in (c.split("=", 1) for c in args.checkout)]
    WORK.mkdir(parents=True, exist_ok=True)
    lines = ["# cache_bench", "", f"load average at start: {os.getloadavg()[0]:.2f}", ""]
    if not args.skip_deploy:
        lines += ["| checkout | build CPU, all processes (s) | CPU per deploy, each process (s) |", "|---|---|---|"]
        for name, path in checkouts:
            result = deploy_cpu(name, path, args)
            lines.append(f"| {name} | {', '.join(f'{b:.2f}' for b in result['build_cpu'])} | "
                         f"{'; '.join(', '.join(f'{c:.2f}' for c in d) for d in result['deploy_cpu'])} |")
    if not args.skip_cold:
        lines += cold_starts(checkouts, args)
    lines.append(f"\nload average at end: {os.getloadavg()[0]:.2f}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def cold_starts(checkouts: list[tuple[str, Path]], args: argparse.Namespace) -> list[str]:
    moto = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if moto is None:
        raise SystemExit("moto_server is not installed in this virtualenv")
    port = free_port()
    motolog = open(WORK / "moto.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)], stdout=motolog, stderr=motolog)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        time.sleep(2)
        db = WORK / "cold.sqlite3"
        db.unlink(missing_ok=True)
        db_url = f"sqlite:///{db}"
        bucket = f"cold-{uuid.uuid4().hex[:8]}"
        log(f"populating {args.environments} x {args.files} blobs")
        label = populate(db_url, bucket, endpoint, args.environments, args.files)
        times: dict[str, list[float]] = {n: [] for n, _ in checkouts}
        for _ in range(args.starts):
            for name, path in checkouts:
                times[name].append(cold_start(name, path, db_url, bucket, endpoint, label, args.files))
                log(f"  cold start {name}: {times[name][-1]:.2f} s")
    finally:
        server.terminate()
        server.wait(timeout=10)
        motolog.close()
    return ["", f"cold start, {args.environments * args.files} blobs of 1,000 bytes, --workers 2:", "",
            "| checkout | seconds to serving |", "|---|---|",
            *(f"| {n} | {', '.join(f'{t:.2f}' for t in ts)} |" for n, ts in times.items())]


if __name__ == "__main__":
    main()
