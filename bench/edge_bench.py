#!/usr/bin/env python3
"""Serving benchmark: nginx vs Twilio's `twilio-run start` vs assethost, in one run.

Run with the repository's virtualenv (it needs httpx, psutil and twilio, which assethost pulls in):

    .venv/bin/python bench/edge_bench.py            # 8 s per measured run, 2 s warm-up
    .venv/bin/python bench/edge_bench.py --quick    # 3 s per run, 1 s warm-up
    .venv/bin/python bench/edge_bench.py --servers nginx,assethost --assethost-args "--workers 2"

It installs what it lacks (apt: nginx-light and wrk; npm: twilio-run 5.0.1 under bench/.work/npm),
generates a deterministic fixture under bench/.work/fixture, starts nginx, twilio-run and
assethost in turn on 127.0.0.1 (assethost loaded through its own API), then for each scenario
checks that every server answers it correctly and runs wrk against each in turn (the others
idle; --sequential runs one server at a time instead), sampling the RSS and CPU of each server's
whole process tree. It prints a table with the ratios to nginx measured in the same run. The
Markdown goes to bench/out/edge-latest.md, the raw numbers to bench/out/edge-latest.json. A
missed target is reported, never turned into a non-zero exit. See bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / ".work"
OUT = BENCH / "out"
FIXTURE = WORK / "fixture"
NPM_PREFIX = WORK / "npm"
TWILIO_RUN_VERSION = "5.0.1"
WRK_SCRIPT = BENCH / "wrk_stats.lua"

# Fixed test credentials for the benchmark's own assethost instance (not secrets).
ACCOUNT_SID = "AC" + "b3" * 16
AUTH_TOKEN = "5e" * 16

KiB = 1024
MiB = 1024 * KiB
SMALL_COUNT, SMALL_SIZE = 1000, 1 * KiB
MEDIUM_COUNT, MEDIUM_SIZE = 50, 100 * KiB
LARGE_COUNT, LARGE_SIZE = 5, 25 * MiB
SECRET_SIZE = 1 * KiB
FIXTURE_VERSION = "edge-fixture-v1"

SERVERS = ("nginx", "twilio-run", "assethost")

# A cell during which other processes used more cores than this is flagged as unreliable.
BUSY_CORES = 0.3

# Bounded polling of whatever we wait for.
START_TIMEOUT = 120.0


def log(msg: str) -> None:
    try:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)
    except OSError:  # e.g. stdout piped into `head`: keep going, so the servers still get stopped
        pass


# --------------------------------------------------------------------------------------------
# Tools


def _sudo() -> list[str]:
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo"):
        return ["sudo", "-n"]
    return []


def _which(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
        p = Path(d) / name
        if p.exists() and os.access(p, os.X_OK):
            return str(p)
    return None


def _apt_install(packages: list[str]) -> bool:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = _sudo() + ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    log("running: " + " ".join(cmd))
    return subprocess.run(cmd, env=env, check=False).returncode == 0


def ensure_apt_tools() -> tuple[str, str]:
    """nginx and wrk, installed with apt if missing. Returns their paths."""
    nginx, wrk = _which("nginx"), _which("wrk")
    if nginx and wrk:
        return nginx, wrk
    wrk_pkg = [] if wrk else ["wrk"]
    nginx_pkg = [] if nginx else ["nginx-light"]
    if not _apt_install(nginx_pkg + wrk_pkg):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        log("apt-get install failed; running apt-get update once and retrying")
        subprocess.run(_sudo() + ["apt-get", "update"], env=env, check=False)
        if not _apt_install(nginx_pkg + wrk_pkg) and nginx_pkg:
            log("nginx-light not installable; trying the nginx package")
            _apt_install(["nginx"] + wrk_pkg)
    nginx, wrk = _which("nginx"), _which("wrk")
    if not (nginx and wrk):
        sys.exit(f"could not install nginx ({nginx}) and wrk ({wrk}) with apt-get")
    return nginx, wrk


def twilio_run_bin() -> Path:
    return NPM_PREFIX / "node_modules" / ".bin" / "twilio-run"


def _npm_pkg_version(name: str) -> str | None:
    p = NPM_PREFIX / "node_modules" / name / "package.json"
    try:
        return json.loads(p.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def ensure_twilio_run() -> Path:
    """twilio-run@5.0.1 under bench/.work/npm (npm install only when it is not there yet)."""
    if not shutil.which("node") or not shutil.which("npm"):
        raise RuntimeError("Node.js and npm are needed for twilio-run (apt-get install nodejs npm)")
    if _npm_pkg_version("twilio-run") == TWILIO_RUN_VERSION and twilio_run_bin().exists():
        return twilio_run_bin()
    NPM_PREFIX.mkdir(parents=True, exist_ok=True)
    cmd = [
        "npm",
        "install",
        "--prefix",
        str(NPM_PREFIX),
        "--no-audit",
        "--no-fund",
        f"twilio-run@{TWILIO_RUN_VERSION}",
    ]
    log("running: npm install --prefix bench/.work/npm twilio-run@" + TWILIO_RUN_VERSION)
    r = subprocess.run(cmd, env=dict(os.environ, NO_UPDATE_NOTIFIER="1"), check=False)
    if r.returncode != 0 or not twilio_run_bin().exists():
        raise RuntimeError("npm install of twilio-run failed")
    return twilio_run_bin()


def tool_versions(nginx: str | None, wrk: str | None) -> dict[str, str]:
    v: dict[str, str] = {}

    def out(cmd: list[str]) -> str:
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)
            return (r.stdout + r.stderr).strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    def dpkg(pkg: str) -> str:
        s = out(["dpkg-query", "-W", "-f=${Status} ${Version}", pkg])
        return s.split()[-1] if s.startswith("install ok installed") else ""

    if nginx:
        s = out([nginx, "-v"]).splitlines()
        pkg = next((f"{p} {dpkg(p)}" for p in ("nginx-light", "nginx-core", "nginx") if dpkg(p)), "")
        v["nginx"] = (s[0].replace("nginx version: ", "") if s else "?") + (f" (Debian {pkg})" if pkg else "")
    if wrk:
        s = out([wrk, "-v"]).splitlines()
        v["wrk"] = (s[0].split(" Copyright")[0] if s else "?") + (
            f" (Debian {dpkg('wrk')})" if dpkg("wrk") else ""
        )
    if shutil.which("node"):
        v["node"] = out(["node", "--version"])
    for name in ("twilio-run", "@twilio/runtime-handler", "express", "send"):
        ver = _npm_pkg_version(name)
        if ver:
            v[name] = ver
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as pkg_version

    for name in ("assethost", "uvicorn", "uvloop", "httptools"):
        with contextlib.suppress(PackageNotFoundError):  # not installed: left out of the report
            v[name] = pkg_version(name)
    v["python"] = platform.python_version()
    # which assethost code the server will run (PYTHONPATH can point it at another checkout)
    py = REPO / ".venv" / "bin" / "python"
    where = out(
        [str(py) if py.exists() else sys.executable, "-c", "import assethost; print(assethost.__file__)"]
    )
    if where:
        src = Path(where.splitlines()[-1]).parent
        try:
            v["assethost source"] = str(src.resolve().relative_to(REPO))
        except ValueError:
            v["assethost source"] = f"outside the repository ({src.name})"
        git = out(["git", "-C", str(REPO), "describe", "--always", "--dirty"])
        if git and not git.startswith("fatal") and v["assethost source"] == "src/assethost":
            v["assethost source"] += f" at {git.splitlines()[-1]}"
    return v


# --------------------------------------------------------------------------------------------
# Fixture


def small_paths() -> list[str]:
    return [f"/a/small/s{i:04d}.{'json' if i % 2 == 0 else 'txt'}" for i in range(SMALL_COUNT)]


def medium_paths() -> list[str]:
    return [f"/a/medium/m{i:02d}.jpg" for i in range(MEDIUM_COUNT)]


def large_paths() -> list[str]:
    return [f"/a/large/l{i}.mp3" for i in range(LARGE_COUNT)]


SECRET_PATH = "/p/secret.txt"


def fixture_files() -> list[tuple[str, int]]:
    return (
        [(p, SMALL_SIZE) for p in small_paths()]
        + [(p, MEDIUM_SIZE) for p in medium_paths()]
        + [(p, LARGE_SIZE) for p in large_paths()]
        + [(SECRET_PATH, SECRET_SIZE)]
    )


def fixture_bytes(path: str) -> bytes:
    """The content of each fixture file, a pure function of its path."""
    rnd = random.Random(f"{FIXTURE_VERSION}:{path}")
    if path.startswith("/a/small/"):
        i = int(path[len("/a/small/s") :][:4])
        if path.endswith(".json"):
            head = json.dumps({"index": i, "path": path, "note": "assethost edge benchmark"})[:-1]
            body = head + ', "pad": "' + "x" * (SMALL_SIZE - len(head) - 13) + '"}\n'
            data = body.encode()
        else:
            line = f"small text asset {i:04d} for the edge benchmark\n".encode()
            data = (line * (SMALL_SIZE // len(line) + 1))[: SMALL_SIZE - 1] + b"\n"
        assert len(data) == SMALL_SIZE, (path, len(data))
        return data
    if path.startswith("/a/medium/"):
        head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        return head + rnd.randbytes(MEDIUM_SIZE - len(head))
    if path.startswith("/a/large/"):
        head = b"ID3\x04\x00\x00\x00\x00\x00\x00"
        return head + rnd.randbytes(LARGE_SIZE - len(head))
    if path == SECRET_PATH:
        line = b"protected benchmark secret: only signed requests may read this\n"
        return (line * (SECRET_SIZE // len(line) + 1))[: SECRET_SIZE - 1] + b"\n"
    raise KeyError(path)


def ensure_fixture() -> None:
    stamp = WORK / "fixture.stamp"  # outside the fixture, which is served as is
    files = fixture_files()
    if (
        stamp.exists()
        and stamp.read_text() == FIXTURE_VERSION
        and all(
            (FIXTURE / p.lstrip("/")).is_file() and (FIXTURE / p.lstrip("/")).stat().st_size == n
            for p, n in files
        )
    ):
        return
    log(f"generating the fixture in {FIXTURE.relative_to(REPO)} ({len(files)} files)")
    if FIXTURE.exists():
        shutil.rmtree(FIXTURE)
    for p, n in files:
        target = FIXTURE / p.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        data = fixture_bytes(p)
        assert len(data) == n
        target.write_bytes(data)
    # mtimes fixed too, so ETags built from mtime and size are the same on every run
    for p, _ in files:
        os.utime(FIXTURE / p.lstrip("/"), (1_700_000_000, 1_700_000_000))
    stamp.write_text(FIXTURE_VERSION)
    (WORK / "small_paths.txt").write_text("\n".join(small_paths()) + "\n")


def ensure_paths_file() -> Path:
    p = WORK / "small_paths.txt"
    want = "\n".join(small_paths()) + "\n"
    if not p.exists() or p.read_text() != want:
        p.write_text(want)
    return p


# --------------------------------------------------------------------------------------------
# Processes


def free_port() -> int:
    """A port free both on 127.0.0.1 and on all interfaces (twilio-run binds to every one)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket() as s2:
                s2.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s2.bind(("0.0.0.0", port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port")


class Server:
    """A started server process (its own session, so its whole tree can be found and stopped)."""

    def __init__(
        self,
        name: str,
        cmd: list[str],
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        log_path: Path,
    ):
        self.name = name
        self.cmd = cmd
        self.log_path = log_path
        self.log_file = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.peak_rss = 0
        self.idle_rss = 0
        self.max_procs = 0
        self._stop_sampling = threading.Event()
        self._sampler: threading.Thread | None = None

    # -- memory and CPU of the process tree
    def _tree(self) -> list[Any]:
        import psutil

        try:
            root = psutil.Process(self.proc.pid)
            return [root] + root.children(recursive=True)
        except psutil.Error:
            return []

    def tree_rss(self) -> tuple[int, int]:
        import psutil

        total, n = 0, 0
        for p in self._tree():
            try:
                total += p.memory_info().rss
                n += 1
            except psutil.Error:
                pass
        return total, n

    def tree_cpu(self) -> float:
        import psutil

        total = 0.0
        for p in self._tree():
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def start_sampling(self, interval: float = 0.25) -> None:
        self.idle_rss, _ = self.tree_rss()

        def loop() -> None:
            while not self._stop_sampling.is_set():
                rss, n = self.tree_rss()
                self.peak_rss = max(self.peak_rss, rss)
                self.max_procs = max(self.max_procs, n)
                self._stop_sampling.wait(interval)

        self._sampler = threading.Thread(target=loop, daemon=True)
        self._sampler.start()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, n: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        self._stop_sampling.set()
        if self._sampler:
            self._sampler.join(timeout=2)
        if self.proc.poll() is None:
            # the process group we created (start_new_session) holds the server and its children only
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        # children that outlived the leader are in the same group
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.log_file.close()


def wait_until(
    pred: Callable[[], bool], timeout: float, server: Server | None = None, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server is not None and not server.alive():
            raise RuntimeError(
                f"{server.name} exited (code {server.proc.returncode}) while waiting for {what}:\n"
                + server.log_tail()
            )
        try:
            if pred():
                return
        except (OSError, http.client.HTTPException):  # not listening or not answering yet
            pass
        time.sleep(0.2)
    raise RuntimeError(
        f"timed out after {timeout:.0f}s waiting for {what}" + (f"\n{server.log_tail()}" if server else "")
    )


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Resp:
    status: int
    headers: dict[str, str]
    body: bytes


def http_get(port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 30.0) -> Resp:
    """A plain GET with no Accept-Encoding, like wrk's."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest("GET", path, skip_host=bool(headers and "Host" in headers), skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        r = conn.getresponse()
        body = r.read()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, body)
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------
# The three servers


def start_nginx(nginx: str) -> tuple[Server, int]:
    port = free_port()
    d = WORK / "nginx"
    for sub in ("", "logs", "temp/client", "temp/proxy", "temp/fastcgi", "temp/uwsgi", "temp/scgi"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    conf = d / "nginx.conf"
    conf.write_text(f"""# generated by bench/edge_bench.py
worker_processes 2;
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    types {{
        application/json json;
        text/plain txt;
        image/jpeg jpg;
        audio/mpeg mp3;
    }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    open_file_cache max=4096 inactive=60s;
    open_file_cache_valid 60s;
    open_file_cache_errors on;
    keepalive_requests 1000000;
    keepalive_timeout 65s;
    access_log off;
    etag on;
    client_body_temp_path {d}/temp/client;
    proxy_temp_path {d}/temp/proxy;
    fastcgi_temp_path {d}/temp/fastcgi;
    uwsgi_temp_path {d}/temp/uwsgi;
    scgi_temp_path {d}/temp/scgi;
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        root {FIXTURE};
    }}
}}
""")
    srv = Server(
        "nginx",
        [nginx, "-c", str(conf), "-p", str(d) + "/", "-e", str(d / "logs" / "error.log")],
        log_path=d / "stdout.log",
    )
    wait_until(lambda: port_open(port), 30, srv, "nginx to listen")
    return srv, port


def start_twilio_run(bin_path: Path) -> tuple[Server, int]:
    proj = WORK / "trproject"
    proj.mkdir(parents=True, exist_ok=True)
    pkg = proj / "package.json"
    want_pkg = json.dumps({"name": "bench", "version": "1.0.0"}, indent=2) + "\n"
    if not pkg.exists() or pkg.read_text() != want_pkg:
        pkg.write_text(want_pkg)
    (proj / ".env").write_text(f"ACCOUNT_SID={ACCOUNT_SID}\nAUTH_TOKEN={AUTH_TOKEN}\n")
    assets = proj / "assets"
    if (assets.is_symlink() or assets.exists()) and not (
        assets.is_symlink() and os.readlink(assets) == "../fixture"
    ):
        if assets.is_symlink() or assets.is_file():
            assets.unlink()
        else:
            shutil.rmtree(assets)
    if not assets.exists():
        assets.symlink_to("../fixture")
    port = free_port()
    env = dict(os.environ, NO_UPDATE_NOTIFIER="1", CI="1")
    env.pop("PORT", None)
    srv = Server(
        "twilio-run",
        [str(bin_path), "start", "--cwd", str(proj), "--port", str(port), "--no-live", "--no-logs"],
        cwd=proj,
        env=env,
        log_path=WORK / "twilio-run.log",
    )
    wait_until(
        lambda: http_get(port, "/a/small/s0000.json", timeout=5).status == 200,
        START_TIMEOUT,
        srv,
        "twilio-run to serve /a/small/s0000.json",
    )
    return srv, port


@dataclass
class AssethostDeploy:
    service_sid: str = ""
    build_sid: str = ""
    environment_sid: str = ""
    domain_name: str = ""
    upload_seconds: float = 0.0
    build_seconds: float = 0.0
    files: int = 0
    # request latencies summed over all threads: where the upload time goes
    create_asset_seconds: float = 0.0
    upload_version_seconds: float = 0.0


def upload_summary(dep: AssethostDeploy, threads: int) -> str:
    n = max(dep.files, 1)
    return (
        f"uploaded {dep.files} files in {dep.upload_seconds:.1f} s with {threads} threads (mean latency per "
        f"file: create Asset {dep.create_asset_seconds / n * 1000:.1f} ms, upload Version "
        f"{dep.upload_version_seconds / n * 1000:.1f} ms)"
    )


def start_assethost(extra_args: list[str]) -> tuple[Server, int]:
    data = WORK / "assethost-data"
    if data.exists():
        shutil.rmtree(data)  # a fresh service every run; the upload is part of the setup, not measured load
    port = free_port()
    py = REPO / ".venv" / "bin" / "python"
    python = str(py) if py.exists() else sys.executable
    env = dict(os.environ, TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN)
    for k in list(env):
        if k.startswith("ASSETHOST_"):
            del env[k]
    cmd = [
        python,
        "-m",
        "assethost",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data",
        str(data),
        "--log-level",
        "warning",
        # the fixture has 1055 public files; Twilio's (and assethost's default) per-build limit is 1000
        "--max-public-versions",
        "2000",
        *extra_args,
    ]
    srv = Server("assethost", cmd, cwd=REPO, env=env, log_path=WORK / "assethost.log")
    wait_until(lambda: port_open(port), 60, srv, "assethost to listen")
    return srv, port


def deploy_fixture_to_assethost(port: int, upload_threads: int = 8) -> AssethostDeploy:
    import httpx

    dep = AssethostDeploy()
    base = f"http://127.0.0.1:{port}/v1"
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    with httpx.Client(base_url=base, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=120, limits=limits) as c:

        def ok(r: httpx.Response) -> dict[str, Any]:
            if r.status_code >= 300:
                raise RuntimeError(f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text[:400]}")
            return r.json()

        svc = ok(c.post("/Services", data={"UniqueName": "bench", "FriendlyName": "bench"}))
        zs = dep.service_sid = svc["sid"]

        def upload(item: tuple[str, int]) -> str:
            path, _ = item
            t_a = time.monotonic()
            asset = ok(c.post(f"/Services/{zs}/Assets", data={"FriendlyName": path}))
            t_b = time.monotonic()
            vis = "protected" if path == SECRET_PATH else "public"
            content = (FIXTURE / path.lstrip("/")).read_bytes()
            ver = ok(
                c.post(
                    f"/Services/{zs}/Assets/{asset['sid']}/Versions",
                    data={"Path": path, "Visibility": vis},
                    files={"Content": (path.rsplit("/", 1)[-1], content, "application/octet-stream")},
                )
            )
            t_c = time.monotonic()
            with lock:
                dep.create_asset_seconds += t_b - t_a
                dep.upload_version_seconds += t_c - t_b
            return ver["sid"]

        lock = threading.Lock()
        t0 = time.monotonic()
        files = fixture_files()
        with concurrent.futures.ThreadPoolExecutor(upload_threads) as pool:
            version_sids = list(pool.map(upload, files))
        dep.files = len(version_sids)
        dep.upload_seconds = time.monotonic() - t0

        t0 = time.monotonic()
        r = c.post(f"/Services/{zs}/Builds", data={"AssetVersions": version_sids})
        if r.status_code == 400 and "Too many fields" in r.text:
            raise RuntimeError(
                f"POST /v1/Services/{zs}/Builds with {len(version_sids)} AssetVersions was refused: "
                f"{r.text[:200]} "
                f"({upload_summary(dep, upload_threads)}; the API's form parser caps a request at "
                f"1000 fields; a build of this fixture needs {len(version_sids)})"
            )
        build = ok(r)
        zb = dep.build_sid = build["sid"]
        deadline = time.monotonic() + 300
        while True:
            st = ok(c.get(f"/Services/{zs}/Builds/{zb}/Status"))["status"]
            if st == "completed":
                break
            if st == "failed" or time.monotonic() > deadline:
                raise RuntimeError(f"build {zb} ended as {st}")
            time.sleep(0.2)
        dep.build_seconds = time.monotonic() - t0

        env = ok(c.post(f"/Services/{zs}/Environments", data={"UniqueName": "production"}))
        dep.environment_sid = env["sid"]
        dep.domain_name = env["domain_name"]
        ok(c.post(f"/Services/{zs}/Environments/{env['sid']}/Deployments", data={"BuildSid": zb}))
    return dep


# --------------------------------------------------------------------------------------------
# Scenarios, checks and wrk


@dataclass
class Scenario:
    key: str
    title: str
    path: str
    size: int
    expect_status: int = 200
    rotate: bool = False
    conditional: bool = False
    protected: bool = False
    large: bool = False


SCENARIOS = [
    Scenario("s1_small", "(1) one 1 KiB file", "/a/small/s0000.json", SMALL_SIZE),
    Scenario("s2_rotate", "(2) 1000 rotating 1 KiB files", "/", SMALL_SIZE, rotate=True),
    Scenario("s3_medium", "(3) one 100 KiB file", "/a/medium/m00.jpg", MEDIUM_SIZE),
    Scenario("s4_large", "(4) one 25 MiB file", "/a/large/l0.mp3", LARGE_SIZE, large=True),
    Scenario(
        "s5_304", "(5) If-None-Match -> 304", "/a/small/s0000.json", 0, expect_status=304, conditional=True
    ),
    Scenario("s6_protected", "(6) protected 1 KiB file", SECRET_PATH, SECRET_SIZE, protected=True),
]


@dataclass
class Target:
    key: str
    metric: str  # "rps" or "mbps"
    versus: str  # "nginx" or "twilio-run"
    minimum: float


TARGETS = [
    Target("s1_small", "rps", "nginx", 0.50),
    Target("s2_rotate", "rps", "nginx", 0.50),
    Target("s4_large", "mbps", "nginx", 0.80),
    Target("s5_304", "rps", "nginx", 0.50),
    Target("s6_protected", "rps", "nginx", 0.40),
    Target("s1_small", "rps", "twilio-run", 10.0),
    Target("s2_rotate", "rps", "twilio-run", 10.0),
    Target("s3_medium", "rps", "twilio-run", 10.0),
]


@dataclass
class Cell:
    server: str
    scenario: str
    status: str = "ok"  # ok | broken | skipped | error
    note: str = ""
    rps: float = 0.0
    mbps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    requests: int = 0
    bytes_per_req: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    cpu_us_per_req: float = 0.0
    cpu_seconds: float = 0.0
    seconds: float = 0.0
    server_cores: float = 0.0
    wrk_cores: float = 0.0
    other_cores: float = 0.0
    wrk_cmd: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ServerCtx:
    name: str
    port: int
    host_header: str | None = None  # assethost: the environment's domain:port
    signature: str | None = None  # assethost: X-Twilio-Signature of the protected URL
    etag: str | None = None
    etag_probe: str = "not tried"  # what the GET that fetched the ETag returned


def scenario_headers(ctx: ServerCtx, sc: Scenario) -> dict[str, str]:
    h: dict[str, str] = {}
    if ctx.host_header:
        h["Host"] = ctx.host_header
    if sc.conditional and ctx.etag:
        h["If-None-Match"] = ctx.etag
    if sc.protected and ctx.signature:
        h["X-Twilio-Signature"] = ctx.signature
    return h


def check_scenario(ctx: ServerCtx, sc: Scenario) -> str | None:
    """None if the server answers this scenario correctly, else why not."""
    headers = scenario_headers(ctx, sc)
    try:
        if sc.rotate:
            sample = small_paths()
            picks = sorted({0, 1, len(sample) - 1, *random.Random(7).sample(range(len(sample)), 20)})
            for i in picks:
                r = http_get(ctx.port, sample[i], headers)
                if r.status != 200 or len(r.body) != SMALL_SIZE:
                    return f"GET {sample[i]} -> {r.status}, {len(r.body)} bytes (want 200, {SMALL_SIZE})"
                if r.body != fixture_bytes(sample[i]):
                    return f"GET {sample[i]}: body differs from the fixture"
            return None
        if sc.conditional:
            if not ctx.etag:
                return f"no ETag to send: GET {sc.path} -> {ctx.etag_probe}"
            r = http_get(ctx.port, sc.path, headers)
            if r.status != 304:
                return f"GET {sc.path} with If-None-Match {ctx.etag} -> {r.status} (want 304)"
            return None
        r = http_get(ctx.port, sc.path, headers)
        if r.status != sc.expect_status or len(r.body) != sc.size:
            return f"GET {sc.path} -> {r.status}, {len(r.body)} bytes (want {sc.expect_status}, {sc.size})"
        if r.body != fixture_bytes(sc.path):
            return f"GET {sc.path}: body differs from the fixture"
        return None
    except Exception as exc:  # noqa: BLE001
        return f"GET {sc.path} failed: {exc!r}"


def run_wrk(
    wrk: str, ctx: ServerCtx, sc: Scenario, seconds: float, args: argparse.Namespace, paths_file: Path
) -> tuple[dict[str, Any], str]:
    conns = args.large_connections if sc.large else args.connections
    cmd = [
        wrk,
        f"-t{args.threads}",
        f"-c{conns}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
    ]
    for k, v in scenario_headers(ctx, sc).items():
        cmd += ["-H", f"{k}: {v}"]
    cmd.append(f"http://127.0.0.1:{ctx.port}{sc.path}")
    env = dict(os.environ)
    if sc.rotate:
        env["WRK_PATHS_FILE"] = str(paths_file)
    else:
        env.pop("WRK_PATHS_FILE", None)
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 60, check=False)
    shown = " ".join(shlex.quote(c) for c in cmd).replace(str(BENCH) + "/", "bench/")
    if sc.rotate:
        shown = "WRK_PATHS_FILE=bench/.work/small_paths.txt " + shown
    for line in r.stdout.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line[len("WRKJSON ") :]), shown
    raise RuntimeError(f"wrk gave no result (rc {r.returncode}): {r.stdout[-500:]} {r.stderr[-500:]}")


def _busy_seconds() -> float:
    import psutil

    t = psutil.cpu_times()
    # user + system time of all processes; not irq/softirq (loopback TCP work lands there), steal, iowait
    return t.user + getattr(t, "nice", 0.0) + t.system


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(
    wrk: str, srv: Server, ctx: ServerCtx, sc: Scenario, args: argparse.Namespace, paths_file: Path
) -> Cell:
    cell = Cell(ctx.name, sc.key)
    why = check_scenario(ctx, sc)
    if why:
        cell.status, cell.note = "broken", why
        log(f"  {ctx.name:10s} {sc.title:32s} BROKEN: {why}")
        return cell
    if args.warmup > 0:
        run_wrk(wrk, ctx, sc, args.warmup, args, paths_file)
    cpu0, t0, sys0, kids0 = srv.tree_cpu(), time.monotonic(), _busy_seconds(), _children_cpu()
    res, cell.wrk_cmd = run_wrk(wrk, ctx, sc, args.duration, args, paths_file)
    cpu1, t1, sys1, kids1 = srv.tree_cpu(), time.monotonic(), _busy_seconds(), _children_cpu()
    cell.wrk_cores = (kids1 - kids0) / (t1 - t0) if t1 > t0 else 0.0
    # whatever else ran on the machine meanwhile (other people's tests...): a noise indicator
    cell.other_cores = (
        max(0.0, ((sys1 - sys0) - (cpu1 - cpu0) - (kids1 - kids0)) / (t1 - t0)) if t1 > t0 else 0.0
    )
    secs = res["duration_us"] / 1e6
    n = res["requests"]
    cell.requests = n
    cell.rps = n / secs if secs else 0.0
    cell.mbps = res["bytes"] / secs / 1e6 if secs else 0.0
    cell.p50_ms = res["latency_us"]["p50"] / 1000
    cell.p99_ms = res["latency_us"]["p99"] / 1000
    cell.bytes_per_req = res["bytes"] / n if n else 0.0
    cell.errors = {k: v for k, v in res["errors"].items() if v}
    cell.cpu_us_per_req = (cpu1 - cpu0) / n * 1e6 if n else 0.0
    cell.cpu_seconds, cell.seconds = cpu1 - cpu0, secs
    cell.server_cores = (cpu1 - cpu0) / (t1 - t0) if t1 > t0 else 0.0
    if not srv.alive():
        cell.status, cell.note = "error", f"server exited during the run: {srv.log_tail(5)}"
    elif n == 0:
        cell.status, cell.note = "error", "no request completed"
    elif cell.errors:
        cell.status = "error"
        cell.note = (
            "wrk errors: "
            + ", ".join(f"{k}={v}" for k, v in cell.errors.items())
            + (" (status = non-2xx/3xx responses)" if "status" in cell.errors else "")
        )
    # after the load, the scenario must still answer correctly
    if cell.status == "ok":
        why = check_scenario(ctx, sc)
        if why:
            cell.status, cell.note = "error", "after the run: " + why
    extra = f"  {cell.note}" if cell.note else ""
    speed = f"{cell.rps:10,.0f} req/s" + (f" {cell.mbps:8,.0f} MB/s" if sc.large else "")
    log(
        f"  {ctx.name:10s} {sc.title:32s} {speed}  p50 {cell.p50_ms:.2f} ms  p99 {cell.p99_ms:.2f} ms  "
        f"{cell.cpu_us_per_req:.0f} µs CPU/req  cores: server {cell.server_cores:.2f}, "
        f"wrk {cell.wrk_cores:.2f}, others {cell.other_cores:.2f}{extra}"
    )
    return cell


# --------------------------------------------------------------------------------------------
# Running one server through all scenarios


def prepare_context(name: str, port: int, deploy: AssethostDeploy | None) -> ServerCtx:
    ctx = ServerCtx(name, port)
    if deploy is not None:
        ctx.host_header = f"{deploy.domain_name}:{port}"
        from twilio.request_validator import RequestValidator

        url = f"http://{ctx.host_header}{SECRET_PATH}"
        ctx.signature = RequestValidator(AUTH_TOKEN).compute_signature(url, {})
    try:
        r = http_get(port, "/a/small/s0000.json", {"Host": ctx.host_header} if ctx.host_header else None)
        if r.status == 200:
            ctx.etag = r.headers.get("etag")
        ctx.etag_probe = f"{r.status}, {len(r.body)} bytes, ETag {r.headers.get('etag')}"
    except Exception as exc:  # noqa: BLE001
        ctx.etag_probe = repr(exc)
    return ctx


@dataclass
class Running:
    name: str
    srv: Server | None = None
    ctx: ServerCtx | None = None
    cells: dict[str, Cell] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def setup_server(
    name: str, args: argparse.Namespace, tools: dict[str, Any], results: dict[str, Any]
) -> Running:
    """Start one server (and, for assethost, load and deploy the fixture through its API)."""
    run = Running(name)
    results["servers"][name] = {"cells": run.cells, "info": run.info}
    info = run.info
    try:
        deploy = None
        log(f"starting {name}")
        t0 = time.monotonic()
        if name == "nginx":
            run.srv, port = start_nginx(tools["nginx"])
        elif name == "twilio-run":
            run.srv, port = start_twilio_run(tools["twilio-run"])
        else:
            run.srv, port = start_assethost(shlex.split(args.assethost_args))
            log(f"  loading the fixture through the API on port {port}")
            deploy = deploy_fixture_to_assethost(port, args.upload_threads)
            info["deploy"] = deploy.__dict__
            log(f"  {upload_summary(deploy, args.upload_threads)}, build {deploy.build_seconds:.1f} s")
            log(f"  serving as {deploy.domain_name}")
            host = f"{deploy.domain_name}:{port}"
            try:
                wait_until(
                    lambda: http_get(port, "/a/small/s0000.json", {"Host": host}, timeout=5).status == 200,
                    15,
                    run.srv,
                    "the deployment to be served",
                )
            except RuntimeError:
                pass  # the checks before each scenario report what is wrong
        srv = run.srv
        info["startup_seconds"] = round(time.monotonic() - t0, 2)
        info["command"] = " ".join(shlex.quote(c) for c in srv.cmd).replace(str(REPO) + "/", "")
        log(f"  {name} up on 127.0.0.1:{port} (pid {srv.proc.pid})")
        time.sleep(0.5)
        srv.start_sampling()
        run.ctx = ctx = prepare_context(name, port, deploy)
        info["etag"] = ctx.etag
        if name == "assethost":
            # the protected file must be refused without a valid signature
            h = {"Host": ctx.host_header or ""}
            info["protected_unsigned_status"] = http_get(port, SECRET_PATH, h).status
            info["protected_badsig_status"] = http_get(
                port, SECRET_PATH, dict(h, **{"X-Twilio-Signature": base64.b64encode(b"x" * 20).decode()})
            ).status
    except Exception as exc:  # noqa: BLE001
        info["error"] = str(exc)[:2000]
        log(f"  {name} could not be set up: {exc}")
        for sc in SCENARIOS:
            run.cells[sc.key] = Cell(name, sc.key, "broken", f"{name} was not set up: {str(exc)[:200]}")
        run.ctx = None
        if run.srv is not None:  # do not leave it running beside the others' measurements
            stop_server(run)
            run.srv = None
    return run


def measure_cell(
    run: Running, sc: Scenario, args: argparse.Namespace, tools: dict[str, Any], paths_file: Path
) -> None:
    if run.ctx is None or run.srv is None:
        return
    if not run.srv.alive():
        run.cells[sc.key] = Cell(run.name, sc.key, "broken", f"{run.name} is not running")
        log(f"  {run.name:10s} {sc.title:32s} BROKEN: not running")
        return
    try:
        run.cells[sc.key] = measure(tools["wrk"], run.srv, run.ctx, sc, args, paths_file)
    except Exception as exc:  # noqa: BLE001
        run.cells[sc.key] = Cell(run.name, sc.key, "error", repr(exc)[:300])
        log(f"  {run.name:10s} {sc.title:32s} ERROR: {exc!r}")


def stop_server(run: Running) -> None:
    srv = run.srv
    if srv is None:
        return
    if srv._sampler is None:  # never got as far as serving: no memory figures
        srv.stop()
        log(f"  stopped {run.name}")
        return
    run.info["idle_rss_mib"] = round(srv.idle_rss / MiB, 1)
    peak = srv.peak_rss
    if srv.alive():
        peak = max(peak, srv.tree_rss()[0])
    if peak:
        run.info["peak_rss_mib"] = round(peak / MiB, 1)
    run.info["processes"] = srv.max_procs
    srv.stop()
    log(f"  stopped {run.name}")


def run_all(
    servers: list[str],
    args: argparse.Namespace,
    tools: dict[str, Any],
    paths_file: Path,
    results: dict[str, Any],
) -> None:
    """Default: start every server, then per scenario measure them back to back (idle servers
    wait), so each ratio pairs runs seconds apart. --sequential: one server at a time."""
    groups = [[s] for s in servers] if args.sequential else [servers]
    scenarios = [
        sc
        for sc in SCENARIOS
        if not args.scenarios or sc.key in args.scenarios or sc.key.split("_")[0] in args.scenarios
    ]
    for group in groups:
        runs: list[Running] = []
        try:
            for name in group:
                runs.append(setup_server(name, args, tools, results))
            for sc in scenarios:
                for run in runs:
                    measure_cell(run, sc, args, tools, paths_file)
        finally:
            for run in runs:
                stop_server(run)


# --------------------------------------------------------------------------------------------
# Report


def fmt_int(x: float) -> str:
    return f"{x:,.0f}"


def ratio(a: Cell | None, b: Cell | None, metric: str) -> float | None:
    if not a or not b or a.status != "ok" or b.status != "ok":
        return None
    va, vb = getattr(a, metric), getattr(b, metric)
    return va / vb if vb else None


def _cpu_ratio(mine: Cell, other: Cell, metric: str) -> float | None:
    """other's CPU per unit of work ÷ mine (above 1: assethost needs less CPU for the same work)."""

    def per_unit(c: Cell) -> float:
        if metric == "mbps":
            mb = c.mbps * c.seconds
            return c.cpu_seconds / mb if mb else 0.0
        return c.cpu_seconds / c.requests if c.requests else 0.0

    a, b = per_unit(mine), per_unit(other)
    return b / a if a > 0 and b > 0 else None


def render(results: dict[str, Any], args: argparse.Namespace) -> str:
    servers = [s for s in SERVERS if s in results["servers"]]
    cells = {s: results["servers"][s]["cells"] for s in servers}
    lines: list[str] = []
    a = lines.append
    a(f"# Edge serving benchmark ({results['started']})")
    a("")
    a(
        f"`bench/edge_bench.py{' --quick' if args.quick else ''}`"
        + (f" `--servers {','.join(servers)}`" if set(servers) != set(SERVERS) else "")
        + (f' `--assethost-args "{args.assethost_args}"`' if args.assethost_args else "")
        + f": wrk `-t{args.threads} -c{args.connections}` "
        f"(`-c{args.large_connections}` for the 25 MiB file), "
        f"{args.warmup:g} s warm-up + {args.duration:g} s measured per cell, one round, "
        + (
            "one server at a time (`--sequential`) "
            if args.sequential
            else "all servers up, measured back to back within each scenario "
        )
        + f"on 127.0.0.1. {results['machine']}."
    )
    a("")
    a(
        "Ratios are to nginx in the same run (req/s; MB/s for (4); for (6) assethost's signed protected "
        "request against nginx serving the same file with no check). MB = 10^6 bytes. "
        "Latency p50 / p99 from wrk (closed loop, so coordinated omission applies)."
    )
    a("")
    busy_seen = False
    hdr = "| scenario |" + "".join(f" {s} |" for s in servers)
    a(hdr)
    a("|---|" + "---|" * len(servers))
    for sc in SCENARIOS:
        if not any(sc.key in cells[s] for s in servers):
            continue
        row = f"| {sc.title} |"
        base = cells.get("nginx", {}).get(sc.key)
        for s in servers:
            c = cells[s].get(sc.key)
            if c is None:
                row += " – |"
                continue
            if c.status == "broken":
                row += " **broken** |"
                continue
            val = (
                f"{fmt_int(c.mbps)} MB/s ({fmt_int(c.rps)} req/s)" if sc.large else f"{fmt_int(c.rps)} req/s"
            )
            r = ratio(c, base, "mbps" if sc.large else "rps")
            val += f" ({r:.2f}x)" if r is not None else ""
            val += f"<br>{c.p50_ms:.2f} / {c.p99_ms:.2f} ms"
            if c.status == "error":
                val += " **⚠ errors**"
            if c.other_cores > BUSY_CORES:
                val += f" ⚠ busy {c.other_cores:.1f}"
                busy_seen = True
            if sc.protected and s != "assethost":
                val += "<br>(no check)"
            row += f" {val} |"
        a(row)
    a("")
    if busy_seen:
        a(
            f"⚠ busy N: other processes on the machine used N cores (more than {BUSY_CORES}) "
            "during that run; "
            "its numbers, and the ratios built on them, are unreliable. Re-run when the machine is quiet."
        )
        a("")

    # targets
    if "assethost" in servers:
        a("## Targets (assethost)")
        a("")
        if "nginx" not in servers or "twilio-run" not in servers:
            a("(Only the targets whose reference server ran in this run are listed.)")
            a("")
        a(
            "The last column is the reference's server CPU per request ÷ assethost's (per MB for (4)): the "
            "same comparison without wrk's share of the two cores, steadier when the machine is busy."
        )
        a("")
        a("| scenario | against | ratio | target | result | CPU-efficiency ratio |")
        a("|---|---|---|---|---|---|")
        for t in TARGETS:
            sc = next(x for x in SCENARIOS if x.key == t.key)
            if t.versus not in servers:
                continue
            mine = cells["assethost"].get(t.key)
            other = cells[t.versus].get(t.key)
            if mine is None:
                continue
            r = ratio(mine, other, t.metric)
            unit = "MB/s" if t.metric == "mbps" else "req/s"
            if r is None:
                which = [n for n, c in (("assethost", mine), (t.versus, other)) if not c or c.status != "ok"]
                res = (
                    "n/a ("
                    + ", ".join(
                        f"{n} {(cells[n].get(t.key).status if cells[n].get(t.key) else 'missing')}"
                        for n in which
                    )
                    + ")"
                )
                a(f"| {sc.title} | {t.versus} {unit} | – | ≥ {t.minimum:g}x | {res} | – |")
            else:
                res = "PASS" if r >= t.minimum else "FAIL"
                if max(mine.other_cores, other.other_cores) > BUSY_CORES:
                    res += " (⚠ busy machine)"
                eff = _cpu_ratio(mine, other, t.metric)
                eff_s = f"{eff:.2f}x" if eff is not None else "–"
                a(f"| {sc.title} | {t.versus} {unit} | {r:.2f}x | ≥ {t.minimum:g}x | {res} | {eff_s} |")
        a("")

    # efficiency and memory
    a("## Server CPU and memory")
    a("")
    a(
        "Server CPU is the user+system time of the server's whole process tree during the measured run, "
        "per request (for (4), ms per MB). In brackets, the cores used during the run by the server / "
        f"by wrk / by every other process on the machine (noise: above {BUSY_CORES} the cell is suspect). "
        "RSS is summed over the process tree, sampled every 0.25 s."
    )
    a("")
    a(
        "| server | "
        + " | ".join(sc.title.split(" ")[0] for sc in SCENARIOS)
        + " | idle RSS MiB | peak RSS MiB | processes |"
    )
    a("|---|" + "---|" * (len(SCENARIOS) + 3))
    for s in servers:
        info = results["servers"][s]["info"]
        row = f"| {s} |"
        for sc in SCENARIOS:
            c = cells[s].get(sc.key)
            if not c or c.status == "broken" or not c.requests:
                row += " – |"
                continue
            cores = f"({c.server_cores:.2f} / {c.wrk_cores:.2f} / {c.other_cores:.2f})"
            if sc.large:
                ms_per_mb = c.cpu_seconds * 1000 / (c.mbps * c.seconds) if c.mbps and c.seconds else 0
                row += f" {ms_per_mb:.2f} ms/MB {cores} |"
            else:
                row += f" {c.cpu_us_per_req:.0f} µs {cores} |"
        row += f" {info.get('idle_rss_mib', '–')} | {info.get('peak_rss_mib', '–')} |"
        row += f" {info.get('processes', '–')} |"
        a(row)
    a("")

    # problems
    problems = []
    for s in servers:
        info = results["servers"][s]["info"]
        if info.get("error"):
            problems.append(
                f"{s}: could not be set up, so no scenario ran: {info['error'].splitlines()[0][:800]}"
            )
            continue
        for sc in SCENARIOS:
            c = cells[s].get(sc.key)
            if c and c.status != "ok":
                problems.append(f"{s} {sc.title}: {c.status}: {c.note}")
    ah = results["servers"].get("assethost", {}).get("info", {})
    if ah.get("protected_unsigned_status") is not None:
        st = (ah["protected_unsigned_status"], ah["protected_badsig_status"])
        if any(x < 400 for x in st):
            problems.append(
                f"assethost served the protected file without a valid signature: unsigned -> {st[0]}, "
                f"bad signature -> {st[1]}"
            )
    if problems:
        a("## Problems")
        a("")
        for p in problems:
            a(f"- {p}")
        a("")

    a("## Setup")
    a("")
    a("| | |")
    a("|---|---|")
    for k, v in results["versions"].items():
        a(f"| {k} | {v} |")
    for s in servers:
        info = results["servers"][s]["info"]
        if info.get("command"):
            a(f"| {s} command | `{info['command']}` |")
    if ah.get("deploy"):
        d = ah["deploy"]
        a(
            f"| assethost deploy | {d['files']} files uploaded through the API in "
            f"{d['upload_seconds']:.1f} s ({args.upload_threads} threads), "
            f"build {d['build_seconds']:.1f} s, served as `{d['domain_name']}` |"
        )
    a("")
    return "\n".join(lines)


def machine_line() -> str:
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    return (
        f"{os.cpu_count()} CPUs, {platform.system()} {platform.release()}, load average {load:.1f} at start"
    )


# --------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="3 s runs with 1 s warm-up")
    ap.add_argument(
        "--duration", type=float, default=None, help="seconds per measured wrk run [8; 3 with --quick]"
    )
    ap.add_argument(
        "--warmup", type=float, default=None, help="seconds of warm-up per cell [2; 1 with --quick]"
    )
    ap.add_argument("--threads", type=int, default=2, help="wrk threads [2]")
    ap.add_argument("--connections", type=int, default=64, help="wrk connections [64]")
    ap.add_argument(
        "--large-connections", type=int, default=4, help="wrk connections for the 25 MiB file [4]"
    )
    ap.add_argument(
        "--servers", default=",".join(SERVERS), help=f"comma-separated subset of {','.join(SERVERS)}"
    )
    ap.add_argument("--scenarios", default="", help="comma-separated subset, e.g. s1,s5 [all]")
    ap.add_argument("--assethost-args", default="", help='extra `assethost serve` flags, e.g. "--workers 2"')
    ap.add_argument(
        "--sequential",
        action="store_true",
        help="one server at a time (start, all scenarios, stop) instead of interleaving them per scenario",
    )
    ap.add_argument(
        "--upload-threads", type=int, default=8, help="parallel uploads when loading assethost [8]"
    )
    ap.add_argument(
        "--out", default=str(OUT / "edge-latest.md"), help="Markdown output [bench/out/edge-latest.md]"
    )
    args = ap.parse_args()
    if args.duration is None:
        args.duration = 3.0 if args.quick else 8.0
    if args.warmup is None:
        args.warmup = 1.0 if args.quick else 2.0
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = [s for s in servers if s not in SERVERS]
    if unknown:
        ap.error(f"unknown server(s) {unknown}; choose from {SERVERS}")
    servers = [s for s in SERVERS if s in servers]  # fixed order: nginx first

    # a SIGTERM unwinds like Ctrl-C, so every server started so far is stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    WORK.mkdir(parents=True, exist_ok=True)
    OUT.mkdir(parents=True, exist_ok=True)
    nginx, wrk = ensure_apt_tools()
    tools: dict[str, Any] = {"nginx": nginx, "wrk": wrk}
    if "twilio-run" in servers:
        try:
            tools["twilio-run"] = ensure_twilio_run()
        except RuntimeError as exc:
            log(f"twilio-run unavailable: {exc}")
            tools["twilio-run"] = Path("/nonexistent/twilio-run")
    ensure_fixture()
    paths_file = ensure_paths_file()

    results: dict[str, Any] = {
        "started": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "machine": machine_line(),
        "versions": tool_versions(nginx, wrk),
        "servers": {},
    }
    for k, v in results["versions"].items():
        log(f"{k}: {v}")
    run_all(servers, args, tools, paths_file, results)

    md = render(results, args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(md + "\n")
    raw = {
        **results,
        "args": {k: v for k, v in vars(args).items()},
        "servers": {
            s: {"info": d["info"], "cells": {k: c.__dict__ for k, c in d["cells"].items()}}
            for s, d in results["servers"].items()
        },
    }
    out.with_suffix(".json").write_text(json.dumps(raw, indent=2, default=str) + "\n")
    print()
    print(md)
    try:
        shown = out.resolve().relative_to(REPO)
    except ValueError:
        shown = out
    log(f"wrote {shown} and {shown.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
