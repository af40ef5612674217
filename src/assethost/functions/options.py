"""How functions are run; filled from `assethost serve` flags."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024
NETWORKS = ("none", "public")


@dataclass(frozen=True)
class FunctionOptions:
    timeout: float = 10.0  # seconds one invocation may run before its worker is stopped (504)
    concurrency: int = 30  # invocations running at once per account, per server process
    queue_wait: float = 1.0  # how long an invocation over the limit waits for a slot before a 429
    node_workers: int = 2  # Node processes per live build, started as load needs them
    python_workers: int = 2  # Python processes per live build (each runs one call at a time)
    max_workers: int = 32  # worker processes per server process, all builds together
    idle_seconds: float = 300.0  # a build's workers stop after this long without a call
    npm_timeout: float = 300.0  # seconds `npm install` may take before the build fails
    npm_cache: str | None = None  # npm's cache folder [default: {data}/deps/.npm-cache]
    node: str = "node"
    npm: str = "npm"
    # The sandbox of every worker and dependency install (see functions.sandbox).
    bwrap: str = "bwrap"
    network: str = "none"  # "none", or "public": through the egress proxy, to public addresses only
    memory_mb: int = 256  # a worker's heap (Node) or address space (Python), in MiB
    processes: int = 32  # processes and threads a worker's sandbox may hold at once
    open_files: int = 256  # file descriptors per worker process
    scratch_mb: int = 64  # size of the writable /tmp of each worker
    cpu_seconds: int = 600  # CPU time a worker process may use in all before it is replaced
    max_response_bytes: int = 20 * MiB  # largest body a function may answer with
    uid_base: int = 1_900_000_000  # first of the unprivileged UIDs workers run as (server run as root)
    uid_count: int = 65_536
