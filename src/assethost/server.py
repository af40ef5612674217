"""Runs assethost: one listening socket, shared by one or more worker processes.

Workers are forked from a parent that only supervises: each opens its own database connections
and holds its own edge snapshot, so nothing is shared that could go stale or be used by two
processes at once. A worker that dies is replaced.
"""

from __future__ import annotations

import copy
import functools
import logging
import os
import signal
import socket
import sys
import time
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from assethost.app import assemble
from assethost.config import Settings
from assethost.edge.front import FrontProtocol

log = logging.getLogger("assethost")


def serve_worker(settings: Settings, sock: socket.socket) -> None:
    assembly = assemble(settings)
    # No WebSocket protocol: nothing here serves one, and an upgrade is answered as plain HTTP.
    config = uvicorn.Config(
        # uvicorn calls `http` as the protocol factory; its annotation names only classes.
        assembly.app, http=functools.partial(FrontProtocol, limits=settings.front),  # type: ignore[arg-type]
        ws="none", lifespan="on",
        log_level=settings.log_level, log_config=_log_config(settings.log_level, settings.log_format),
        access_log=False,
        server_header=False, proxy_headers=False, timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run(sockets=[sock])


def _log_config(log_level: str, log_format: str = "text") -> dict[str, Any]:
    """uvicorn's logging, with our own loggers written the same way at the same level (without
    this only their warnings would show, through Python's last-resort handler); in JSON with
    `--log-format json` (the access log is written apart: ops/logs.py)."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["assethost"] = {"handlers": ["default"], "level": log_level.upper(), "propagate": False}
    if log_format == "json":
        config["formatters"]["default"] = {"()": "assethost.ops.logs.JsonFormatter"}
    return config


def run(settings: Settings, sock: socket.socket) -> None:
    """Serve on `sock`, the listening socket `startup.check` bound before anything was created."""
    if settings.workers <= 1:
        serve_worker(settings, sock)
        return
    children: dict[int, float] = {}
    stopping = False

    def spawn() -> None:
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            code = 0
            try:
                serve_worker(settings, sock)
            except BaseException:
                log.exception("worker failed")
                code = 1
            finally:
                os._exit(code)
        children[pid] = time.monotonic()

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(settings.workers):
        spawn()
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        started = children.pop(pid, None)
        if stopping or started is None:
            continue
        print(f"assethost: worker {pid} exited ({status}); starting another", file=sys.stderr)
        if time.monotonic() - started < 1.0:
            time.sleep(1.0)  # do not spin if workers die at start
        spawn()
