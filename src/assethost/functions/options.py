"""How functions are run; filled from `assethost serve` flags."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FunctionOptions:
    timeout: float = 10.0  # seconds one invocation may run before its worker is stopped (504)
    concurrency: int = 30  # invocations running at once per account, per server process
    queue_wait: float = 1.0  # how long an invocation over the limit waits for a slot before a 429
    node_workers: int = 2  # Node processes per live build, started as load needs them
    python_workers: int = 2  # Python processes per live build (each runs one call at a time)
    idle_seconds: float = 300.0  # a build's workers stop after this long without a call
    npm_timeout: float = 300.0  # seconds `npm install` may take before the build fails
    npm_cache: str | None = None  # npm's cache folder [default: {data}/deps/.npm-cache]
    node: str = "node"
    npm: str = "npm"
