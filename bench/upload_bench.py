#!/usr/bin/env python3
"""Upload benchmark: the upload speed of two (or more) checkouts of assethost, in one run.

    .venv/bin/python bench/upload_bench.py --checkout before=../wt-before --checkout after=.
    .venv/bin/python bench/upload_bench.py --files 50 --large 1 --rounds 1     # quick trial

For each checkout NAME=PATH it runs PATH's own code (`PATH/.venv/bin/python -m assethost serve`,
PYTHONPATH=PATH/src) on 127.0.0.1 with a fresh data folder under bench/.work/upload/, creates a
Service and its Assets through the API (not measured), then measures two phases:

  small   --files N (400) version uploads of 1 KiB, --concurrency C (8) in flight: files/s
  large   --large K (4) version uploads of 25 MiB, one at a time: MB/s (MB = 10^6 bytes)
  get     --gets G (2000) authenticated `GET /v1/Services` (listing the one service), one at a
          time on one connection, before any upload: the server CPU of one API request

and, per phase, the CPU time of the server's process tree (user+system, children included, from
/proc), so CPU per file and per MB can be compared even when the machine is busy. Checkouts are
interleaved round by round (--rounds R, 3: A B A B A B), each run on a new server and data folder;
the report gives the median per checkout and the ratio of each checkout to the first one. Every
request, phase and server start has a time limit, and the whole run stops at --time-limit (what
was measured by then is reported). The table is printed and written to bench/out/upload-latest.md
(raw numbers in upload-latest.json). Linux only (/proc). See bench/README.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / ".work" / "upload"
OUT = BENCH / "out" / "upload-latest.md"

# The benchmark's own throwaway account on its own servers (not secrets).
ACCOUNT_SID = "AC" + "e5" * 16
AUTH_TOKEN = "9c" * 16

KiB = 1024
MiB = 1024 * KiB
START_TIMEOUT = 60.0  # seconds for a server to answer after it is started
STOP_TIMEOUT = 15.0
WARMUP_UPLOADS = 8  # unmeasured small uploads first, so lazy imports and first writes are not timed
BUSY_CORES = 0.3  # other processes using more than this many cores during a phase: flagged
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class OutOfTime(Exception):
    """The run's --time-limit, or a phase's --step-timeout, was reached."""


# --------------------------------------------------------------------------------------------
# CPU accounting from /proc (no psutil, so the repository's plain virtualenv is enough)


def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user+system seconds of the process and of its reaped children)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    rest = raw[raw.rindex(")") + 2 :].split()
    ppid = int(rest[1])
    utime, stime, cutime, cstime = (int(x) for x in rest[11:15])
    return ppid, (utime + stime + cutime + cstime) / CLK_TCK


def _threads_ns(pid: int) -> tuple[int, frozenset[int]]:
    """Nanoseconds run by the live threads of `pid` (/proc/…/schedstat, exact) and their ids."""
    total, tids = 0, set()
    try:
        entries = list(os.scandir(f"/proc/{pid}/task"))
    except OSError:
        return 0, frozenset()
    for entry in entries[:10_000]:
        try:
            total += int(Path(entry.path, "schedstat").read_text().split()[0])
            tids.add(int(entry.name))
        except (OSError, ValueError, IndexError):
            pass
    return total, frozenset(tids)


@dataclass(frozen=True)
class TreeCpu:
    """One reading of a process tree's CPU: in clock ticks (exited threads and reaped children
    included) and, exactly, in the nanoseconds its live threads have run."""

    ticks_seconds: float
    thread_ns: int
    threads: frozenset[tuple[int, int]]

    def exact_since(self, earlier: TreeCpu) -> bool:
        return bool(self.threads) and self.threads == earlier.threads

    def __sub__(self, earlier: TreeCpu) -> float:
        # the exact figure holds only if no thread or process came or went in between; otherwise
        # fall back to the clock ticks (1/CLK_TCK resolution, usually 10 ms)
        if self.exact_since(earlier):
            return (self.thread_ns - earlier.thread_ns) / 1e9
        return self.ticks_seconds - earlier.ticks_seconds


def tree_cpu(root: int) -> TreeCpu:
    """CPU of `root` and every live descendant, each with its reaped children.

    A worker that exits between two readings moves from the live sum into its parent's
    cutime/cstime, so the difference of two readings in ticks stays right."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            st = _proc_stat(int(entry.name))
            if st:
                stats[int(entry.name)] = st
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    ticks, ns, threads, todo, seen = 0.0, 0, set(), [root], set()
    while todo and len(seen) < 10_000:  # bounded even if /proc changes under us
        pid = todo.pop()
        if pid in seen or pid not in stats:
            continue
        seen.add(pid)
        ticks += stats[pid][1]
        pid_ns, tids = _threads_ns(pid)
        ns += pid_ns
        threads.update((pid, t) for t in tids)
        todo.extend(children.get(pid, []))
    return TreeCpu(ticks, ns, frozenset(threads))


def system_cpu() -> float:
    """Busy CPU seconds of the whole machine (all cores), for the noise indicator."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def self_cpu() -> float:
    """CPU seconds of this process (all its threads): the load generator's share."""
    t = os.times()
    return t.user + t.system


@dataclass
class Meter:
    """Wall time and CPU of one phase: the server's tree, this client, and everything else."""

    server_pid: int
    wall: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    system_cpu: float = 0.0
    exact: bool = False  # server CPU from the threads' exact run time, not clock ticks

    def __enter__(self) -> Self:
        self._t = time.monotonic()
        self._s, self._c, self._y = tree_cpu(self.server_pid), self_cpu(), system_cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.monotonic() - self._t
        end = tree_cpu(self.server_pid)
        self.server_cpu, self.exact = end - self._s, end.exact_since(self._s)
        self.client_cpu = self_cpu() - self._c
        self.system_cpu = system_cpu() - self._y

    @property
    def other_cores(self) -> float:
        other = self.system_cpu - self.server_cpu - self.client_cpu
        return max(other, 0.0) / self.wall if self.wall else 0.0


# --------------------------------------------------------------------------------------------
# Checkouts and servers


@dataclass
class Checkout:
    name: str
    path: Path
    python: Path
    commit: str = "?"


def parse_checkout(spec: str) -> Checkout:
    name, sep, path = spec.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {spec!r}")
    if not all(ch.isalnum() or ch in "-_." for ch in name):  # it names a scratch folder too
        raise argparse.ArgumentTypeError(f"NAME may hold letters, digits, '-', '_' and '.' only: {name!r}")
    root = Path(path).expanduser().resolve()
    return Checkout(name, root, root / ".venv" / "bin" / "python")


def server_env(checkout: Checkout) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSETHOST_", "TWILIO_"))}
    # PYTHONPATH pins the checkout's own source, whatever its virtualenv's install points at
    env.update(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
               PYTHONPATH=str(checkout.path / "src"), PYTHONDONTWRITEBYTECODE="1")
    return env


def check_checkout(checkout: Checkout) -> None:
    """Fail early, before any measurement, if a checkout cannot run its own code."""
    if not checkout.python.exists():
        raise SystemExit(f"{checkout.name}: no {checkout.python} (create it with {checkout.path}/scripts/test "
                         "or scripts/serve once)")
    r = subprocess.run([str(checkout.python), "-c", "import assethost; print(assethost.__file__)"],
                       env=server_env(checkout), capture_output=True, text=True, timeout=60, check=False)
    where = Path(r.stdout.strip().splitlines()[-1]).resolve() if r.returncode == 0 and r.stdout.strip() else None
    if where is None or not where.is_relative_to(checkout.path / "src"):
        raise SystemExit(f"{checkout.name}: `import assethost` does not load {checkout.path}/src "
                         f"({r.stdout.strip()[-300:]}{r.stderr.strip()[-600:]})")
    g = subprocess.run(["git", "-C", str(checkout.path), "describe", "--always", "--dirty", "--abbrev=7"],
                       capture_output=True, text=True, timeout=20, check=False)
    checkout.commit = g.stdout.strip() if g.returncode == 0 else "not a git checkout"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `assethost serve` of a checkout, in its own session so its whole tree can be stopped."""

    def __init__(self, checkout: Checkout, run_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data = run_dir / "data"
        if run_dir.exists():
            shutil.rmtree(run_dir)
        self.data.mkdir(parents=True)
        self.log_path = run_dir / "server.log"
        self.cmd = [str(checkout.python), "-m", "assethost", "serve", "--host", "127.0.0.1",
                    "--port", str(self.port), "--data", str(self.data), "--log-level", "warning"]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.cmd, cwd=checkout.path, env=server_env(checkout),
                                     stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                r = httpx.get(f"{self.url}/v1/Services", auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=2,
                              trust_env=False)
                if r.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not answer within {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self, n: int = 10) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stored_bytes(self) -> int:
        total, count = 0, 0
        for dirpath, _, names in os.walk(self.data):
            for n in names:
                count += 1
                if count > 200_000:  # bounded; far more files than any run writes
                    return total
                try:
                    total += os.path.getsize(os.path.join(dirpath, n))
                except OSError:
                    pass
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # our own session: the server and its children
                self.proc.wait(timeout=STOP_TIMEOUT)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=STOP_TIMEOUT)
        self._log.close()


# --------------------------------------------------------------------------------------------
# Payloads: deterministic, the same bytes for every checkout, distinct per file so that no
# content-addressed store can skip work by finding a blob it already holds


def small_payload(i: int, size: int) -> bytes:
    line = f"upload benchmark small file {i:06d}\n".encode()
    return (line * (size // len(line) + 1))[:size]


def large_payload(k: int, size: int) -> bytes:
    return random.Random(f"upload-bench-large-{k}").randbytes(size)


# --------------------------------------------------------------------------------------------
# One run: one checkout, one round


@dataclass
class Run:
    checkout: str
    round: int
    status: str = "ok"
    note: str = ""
    small_files: int = 0
    small_seconds: float = 0.0
    small_server_cpu: float = 0.0
    small_cpu_exact: bool = False
    small_client_cores: float = 0.0
    small_other_cores: float = 0.0
    small_p50_ms: float = 0.0
    small_p95_ms: float = 0.0
    large_files: int = 0
    large_bytes: int = 0
    large_seconds: float = 0.0
    large_server_cpu: float = 0.0
    large_cpu_exact: bool = False
    large_client_cores: float = 0.0
    large_other_cores: float = 0.0
    gets: int = 0
    gets_seconds: float = 0.0
    gets_server_cpu: float = 0.0
    gets_cpu_exact: bool = False
    gets_other_cores: float = 0.0
    stored_bytes: int = 0
    latencies: list[float] = field(default_factory=list, repr=False)

    @property
    def files_per_s(self) -> float | None:
        return self.small_files / self.small_seconds if self.small_seconds else None

    @property
    def cpu_ms_per_file(self) -> float | None:
        return self.small_server_cpu * 1000 / self.small_files if self.small_files else None

    @property
    def mb_per_s(self) -> float | None:
        return self.large_bytes / 1e6 / self.large_seconds if self.large_seconds else None

    @property
    def cpu_ms_per_mb(self) -> float | None:
        return self.large_server_cpu * 1000 / (self.large_bytes / 1e6) if self.large_bytes else None

    @property
    def cpu_us_per_get(self) -> float | None:
        return self.gets_server_cpu * 1e6 / self.gets if self.gets else None


def _ok(r: httpx.Response, want: int = 201) -> dict[str, Any]:
    if r.status_code != want:
        raise RuntimeError(f"{r.request.method} {r.request.url.path} -> {r.status_code}: {r.text[:300]}")
    return r.json()


def _run_bounded(pool: concurrent.futures.ThreadPoolExecutor, fn: Any, items: list[Any],
                 deadline: float, what: str) -> list[Any]:
    """fn over items in the pool; OutOfTime if they are not all done by the deadline."""
    futures = [pool.submit(fn, x) for x in items]
    _, pending = concurrent.futures.wait(futures, timeout=max(deadline - time.monotonic(), 0.0))
    if pending:
        for f in pending:
            f.cancel()
        raise OutOfTime(f"{what}: {len(pending)} of {len(items)} requests not done in time")
    return [f.result() for f in futures]  # re-raises the first failed request


def measure(checkout: Checkout, rnd: int, args: argparse.Namespace, large: list[bytes],
            run_deadline: float) -> Run:
    run = Run(checkout.name, rnd)
    server = Server(checkout, WORK / f"{checkout.name}-r{rnd}")
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    try:
        server.wait_ready(min(START_TIMEOUT, max(run_deadline - time.monotonic(), 1.0)))
        with httpx.Client(base_url=f"{server.url}/v1", auth=(ACCOUNT_SID, AUTH_TOKEN), limits=limits,
                          timeout=args.request_timeout, trust_env=False) as http, \
                concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:

            def step_deadline() -> float:
                return min(time.monotonic() + args.step_timeout, run_deadline)

            zs = _ok(http.post("/Services", data={"UniqueName": f"upload-bench-{checkout.name}-{rnd}",
                                                  "FriendlyName": "upload bench"}))["sid"]

            if args.gets:
                # one at a time on one keep-alive connection, after a short unmeasured warm-up
                deadline = step_deadline()
                with httpx.Client(base_url=f"{server.url}/v1", auth=(ACCOUNT_SID, AUTH_TOKEN),
                                  timeout=args.request_timeout, trust_env=False) as one:
                    for _ in range(50):
                        _ok(one.get("/Services"), 200)
                    with Meter(server.proc.pid) as m:
                        for k in range(args.gets):
                            if time.monotonic() > deadline:
                                raise OutOfTime(f"API GETs: {k} of {args.gets} done in time")
                            if len(_ok(one.get("/Services"), 200)["services"]) != 1:
                                raise RuntimeError("GET /v1/Services did not list the one service")
                run.gets, run.gets_seconds, run.gets_server_cpu = args.gets, m.wall, m.server_cpu
                run.gets_cpu_exact, run.gets_other_cores = m.exact, m.other_cores

            def new_asset(i: int) -> str:
                return _ok(http.post(f"/Services/{zs}/Assets", data={"FriendlyName": f"a{i}"}))["sid"]

            total = WARMUP_UPLOADS + args.files + args.large
            assets = _run_bounded(pool, new_asset, list(range(total)), step_deadline(), "creating Assets")
            warm, small, big = (assets[:WARMUP_UPLOADS], assets[WARMUP_UPLOADS:WARMUP_UPLOADS + args.files],
                                assets[WARMUP_UPLOADS + args.files:])
            lock = threading.Lock()

            def upload(item: tuple[str, str, bytes, str]) -> None:
                zh, path, content, ctype = item
                t = time.monotonic()
                body = _ok(http.post(f"/Services/{zs}/Assets/{zh}/Versions",
                                     data={"Path": path, "Visibility": "public"},
                                     files={"Content": (path.rsplit("/", 1)[-1], content, ctype)}))
                if not str(body.get("sid", "")).startswith("ZN") or body.get("path") != path:
                    raise RuntimeError(f"unexpected version {str(body)[:300]}")
                with lock:
                    run.latencies.append(time.monotonic() - t)

            def small_items(sids: list[str], offset: int) -> list[tuple[str, str, bytes, str]]:
                return [(zh, f"/small/f{offset + i:06d}.txt", small_payload(offset + i, args.size), "text/plain")
                        for i, zh in enumerate(sids)]

            _run_bounded(pool, upload, small_items(warm, 900_000), step_deadline(), "warm-up")
            run.latencies.clear()

            items = small_items(small, 0)
            with Meter(server.proc.pid) as m:
                _run_bounded(pool, upload, items, step_deadline(), "small uploads")
            run.small_files, run.small_seconds, run.small_server_cpu = len(items), m.wall, m.server_cpu
            run.small_client_cores = m.client_cpu / m.wall if m.wall else 0.0
            run.small_other_cores, run.small_cpu_exact = m.other_cores, m.exact
            lat = sorted(run.latencies)
            run.small_p50_ms = lat[len(lat) // 2] * 1000
            run.small_p95_ms = lat[min(int(len(lat) * 0.95), len(lat) - 1)] * 1000

            if args.large:
                # one at a time, through the same client; each request is bounded by --request-timeout
                deadline = step_deadline()
                with Meter(server.proc.pid) as m:
                    for k, zh in enumerate(big):
                        if time.monotonic() > deadline:
                            raise OutOfTime(f"large uploads: {k} of {len(big)} done in time")
                        upload((zh, f"/large/l{k}.bin", large[k], "application/octet-stream"))
                run.large_files, run.large_bytes = len(big), sum(len(b) for b in large)
                run.large_seconds, run.large_server_cpu = m.wall, m.server_cpu
                run.large_other_cores, run.large_cpu_exact = m.other_cores, m.exact
                run.large_client_cores = m.client_cpu / m.wall if m.wall else 0.0

        run.stored_bytes = server.stored_bytes()
        if run.stored_bytes < run.large_bytes:  # the server answered but did not keep the bytes
            run.status, run.note = "suspect", f"data folder holds only {run.stored_bytes} bytes"
    except OutOfTime as exc:
        run.status, run.note = "out of time", str(exc)
    except Exception as exc:  # noqa: BLE001 - reported in the table; the other runs go on
        run.status, run.note = "error", f"{exc!r}"[:500]
    finally:
        server.stop()
        if run.status == "ok" and not args.keep_data:
            shutil.rmtree(server.data, ignore_errors=True)  # 100 MB+ per run; the log stays
    return run


# --------------------------------------------------------------------------------------------
# Report


def median(runs: list[Run], attr: str) -> float | None:
    values = [getattr(r, attr) for r in runs if r.status == "ok" and getattr(r, attr) is not None]
    return statistics.median(values) if values else None


def fmt(x: float | None, spec: str = ".1f") -> str:
    return "–" if x is None else format(x, spec)


def ratio(a: float | None, b: float | None) -> str:
    return "–" if a is None or not b else f"{a / b:.2f}x"


METRICS = (  # attribute, column title, better when higher
    ("files_per_s", "small: files/s", True),
    ("cpu_ms_per_file", "small: server CPU ms/file", False),
    ("mb_per_s", "large: MB/s", True),
    ("cpu_ms_per_mb", "large: server CPU ms/MB", False),
    ("cpu_us_per_get", "API GET: server CPU µs", False),
)


def render(checkouts: list[Checkout], runs: list[Run], args: argparse.Namespace, started: str,
           machine: str, wall: float) -> str:
    lines: list[str] = []
    a = lines.append
    a(f"# Upload benchmark ({started})")
    a("")
    a(f"`bench/upload_bench.py --files {args.files} --concurrency {args.concurrency} --large {args.large} "
      f"--gets {args.gets} --rounds {args.rounds}`: small = {args.files} × {args.size} B version uploads, "
      f"{args.concurrency} in flight; large = {args.large} × {args.large_size / MiB:g} MiB, one at a time "
      f"(MB = 10^6 bytes); API GET = {args.gets} authenticated `GET /v1/Services` one after another on one "
      "connection (server CPU per request). "
      f"Checkouts interleaved per round, each run on a new server and an empty SQLite data folder, on "
      f"127.0.0.1. {machine}. Whole run {wall:.0f} s.")
    a("")
    base = checkouts[0].name
    a(f"Median over the rounds that completed; the ratios are to **{base}** (files/s and MB/s: above 1 "
      "is faster; CPU: below 1 is cheaper). Server CPU is user+system of the server's process tree.")
    a("")
    a("| checkout | commit | rounds ok | " + " | ".join(t for _, t, _ in METRICS) + " |")
    a("|---|---|---:|" + "---:|" * len(METRICS))
    medians = {c.name: {m: median([r for r in runs if r.checkout == c.name], m) for m, _, _ in METRICS}
               for c in checkouts}
    for c in checkouts:
        ok = sum(1 for r in runs if r.checkout == c.name and r.status == "ok")
        cells = []
        for m, _, _ in METRICS:
            cell = fmt(medians[c.name][m], ".0f" if "us" in m else ".2f" if "cpu" in m else ".1f")
            if c.name != base:
                cell += f" ({ratio(medians[c.name][m], medians[base][m])})"
            cells.append(cell)
        a(f"| {c.name} | `{c.commit}` | {ok} of {args.rounds} | " + " | ".join(cells) + " |")
    a("")
    a("## Every run")
    a("")
    a("Rates: in brackets, the cores used during the phase by this benchmark's client / by every other "
      f"process on the machine (noise: above {BUSY_CORES}, flagged ⚠, that phase competed with something "
      "else). CPU: in brackets, the server's CPU seconds over the phase, measured exactly from its "
      f"threads' run time, or (†) in clock ticks of {1000 / CLK_TCK:g} ms when a thread or process came "
      "or went during the phase.")
    a("")
    a("| round | checkout | files/s | CPU ms/file | latency p50 / p95 ms | MB/s | CPU ms/MB | API GET CPU µs | status |")
    a("|---:|---|---:|---:|---:|---:|---:|---:|---|")
    busy = False
    for r in runs:
        flag_s = " ⚠" if r.small_other_cores > BUSY_CORES else ""
        flag_l = " ⚠" if r.large_other_cores > BUSY_CORES else ""
        busy = busy or bool(flag_s or flag_l)
        if r.small_files:
            small = f"{fmt(r.files_per_s)} ({r.small_client_cores:.2f} / {r.small_other_cores:.2f}){flag_s}"
            small_cpu = (f"{fmt(r.cpu_ms_per_file, '.2f')} ({r.small_server_cpu:.2f} s"
                         f"{'' if r.small_cpu_exact else ' †'})")
            lat = f"{r.small_p50_ms:.1f} / {r.small_p95_ms:.1f}"
        else:
            small = small_cpu = lat = "–"
        if r.large_files:
            large = f"{fmt(r.mb_per_s)} ({r.large_client_cores:.2f} / {r.large_other_cores:.2f}){flag_l}"
            large_cpu = (f"{fmt(r.cpu_ms_per_mb, '.2f')} ({r.large_server_cpu:.2f} s"
                         f"{'' if r.large_cpu_exact else ' †'})")
        else:
            large = large_cpu = "–"
        if r.gets:
            flag_g = " ⚠" if r.gets_other_cores > BUSY_CORES else ""
            busy = busy or bool(flag_g)
            gets = (f"{fmt(r.cpu_us_per_get, '.0f')} ({r.gets / r.gets_seconds:.0f}/s, others "
                    f"{r.gets_other_cores:.2f}{'' if r.gets_cpu_exact else ' †'}){flag_g}")
        else:
            gets = "–"
        status = r.status + (f": {r.note}" if r.note else "")
        a(f"| {r.round} | {r.checkout} | {small} | {small_cpu} | {lat} | {large} | {large_cpu} | {gets} | {status} |")
    a("")
    if busy:
        a("⚠: the machine was busy during that phase; its figures, and the medians built on them, are "
          "suspect. Re-run when the machine is quiet (the CPU columns move less than the rates).")
        a("")
    a("## Setup")
    a("")
    a("| checkout | path | server command |")
    a("|---|---|---|")
    for c in checkouts:
        try:
            shown = str(c.path.relative_to(REPO.parent))
            shown = "." if c.path == REPO else f"../{shown}"
        except ValueError:
            shown = c.path.name
        a(f"| {c.name} | `{shown}` | `.venv/bin/python -m assethost serve --host 127.0.0.1 --port P --data "
          f"<fresh> --log-level warning` (PYTHONPATH=src) |")
    a("")
    return "\n".join(lines)


def machine_line() -> str:
    return (f"{os.cpu_count()} CPUs, {platform.system()} {platform.release()}, Python "
            f"{platform.python_version()} (client), load average {os.getloadavg()[0]:.1f} at start")


# --------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkout", action="append", type=parse_checkout, metavar="NAME=PATH",
                    help="a checkout with its own .venv; repeatable, the first is the baseline of the "
                         "ratios [this=<this repository>]")
    ap.add_argument("--files", type=int, default=400, help="small uploads per run [400]")
    ap.add_argument("--size", type=int, default=1 * KiB, help="bytes per small upload [1024]")
    ap.add_argument("--concurrency", type=int, default=8, help="small uploads in flight [8]")
    ap.add_argument("--large", type=int, default=4, help="large uploads per run [4]")
    ap.add_argument("--large-size", type=int, default=25 * MiB, help="bytes per large upload [25 MiB]")
    ap.add_argument("--gets", type=int, default=2000,
                    help="authenticated GET /v1/Services, one at a time, for the API's CPU per request "
                         "(0 skips it) [2000]")
    ap.add_argument("--rounds", type=int, default=3, help="runs per checkout, interleaved [3]")
    ap.add_argument("--time-limit", type=float, default=1200, help="seconds for the whole run [1200]")
    ap.add_argument("--step-timeout", type=float, default=300,
                    help="seconds per phase (asset creation, warm-up, small, large) [300]")
    ap.add_argument("--request-timeout", type=float, default=120, help="seconds per HTTP request [120]")
    ap.add_argument("--keep-data", action="store_true", help="keep each run's data folder")
    ap.add_argument("--out", type=Path, default=OUT, help="Markdown output [bench/out/upload-latest.md]")
    args = ap.parse_args()
    checkouts: list[Checkout] = args.checkout or [parse_checkout(f"this={REPO}")]
    if len({c.name for c in checkouts}) != len(checkouts):
        ap.error("checkout names must be distinct")
    if args.files < 1 or args.concurrency < 1 or args.rounds < 1 or args.large < 0 or args.size < 1 or args.gets < 0:
        ap.error("--files, --concurrency, --rounds and --size must be at least 1, --large and --gets at least 0")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind, so the running server is stopped
    t_start = time.monotonic()
    run_deadline = t_start + args.time_limit
    started = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    machine = machine_line()
    for c in checkouts:
        check_checkout(c)
        log(f"{c.name}: {c.path} at {c.commit}")
    WORK.mkdir(parents=True, exist_ok=True)
    large = [large_payload(k, args.large_size) for k in range(args.large)]

    runs: list[Run] = []
    for rnd in range(1, args.rounds + 1):
        for c in checkouts:
            if time.monotonic() >= run_deadline:
                runs.append(Run(c.name, rnd, "out of time", f"--time-limit {args.time_limit:g} s reached"))
                continue
            log(f"round {rnd}/{args.rounds}: {c.name}")
            run = measure(c, rnd, args, large, run_deadline)
            runs.append(run)
            log(f"  {run.status}{': ' + run.note if run.note else ''}  small {fmt(run.files_per_s)} files/s, "
                f"{fmt(run.cpu_ms_per_file, '.2f')} ms CPU/file; large {fmt(run.mb_per_s)} MB/s, "
                f"{fmt(run.cpu_ms_per_mb, '.2f')} ms CPU/MB; API GET {fmt(run.cpu_us_per_get, '.0f')} µs CPU")

    md = render(checkouts, runs, args, started, machine, time.monotonic() - t_start)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(md + "\n")
    raw = {"started": started, "machine": machine,
           "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "checkout"},
           "checkouts": [{"name": c.name, "commit": c.commit} for c in checkouts],
           "runs": [{k: v for k, v in asdict(r).items() if k != "latencies"} for r in runs]}
    args.out.with_suffix(".json").write_text(json.dumps(raw, indent=2) + "\n")
    print()
    print(md)
    log(f"wrote {args.out} and {args.out.with_suffix('.json')}")
    return 0 if all(r.status == "ok" for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
