"""Runs a build's functions for the edge: picks the build's worker pool, bounds concurrency
per account, enforces the time limit, and turns what the harness answers into HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

from assethost.config import FunctionOptions, MiB
from assethost.core import sids
from assethost.core.context import Context
from assethost.functions.call import FunctionCall, FunctionResult
from assethost.functions.egress import SANDBOX_SOCKET
from assethost.functions.logs import CallLog, LogSink
from assethost.functions.package import Packager
from assethost.functions.sandbox import (
    HARNESS,
    SANDBOX_HARNESS,
    Launch,
    Limits,
    Mount,
    SandboxUnavailable,
    runtime_mounts,
)
from assethost.functions.workers import CallTimeout, NoRoom, Pool, ResponseTooLarge, Worker, WorkerDied
from assethost.web.errors import encoded as twilio_body

log = logging.getLogger("assethost.functions")

# Where a worker's sandbox holds the build (its working folder), its dependencies, and the
# twilio package shared by every build (functions/package.py).
SANDBOX_BUILD, SANDBOX_MODULES, SANDBOX_RUNTIME = "/srv/build", "/srv/node_modules", "/srv/runtime"
# Address space beyond the heap: V8 reserves about 750 MiB of it at start (code range, thread
# stacks), CPython a few tens of MiB.
NODE_RESERVE_MB, PYTHON_RESERVE_MB = 1024, 64
# Memory of a whole sandbox (its cgroup) beyond the heap and /tmp: the runtime itself (Node's
# resident set at start is about 40 MiB, CPython's about 10).
RUNTIME_MB = 64
PYTHON_RELAY_PORT = "3128"  # where a Python worker relays the egress proxy (HTTPS_PROXY)
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # Debian's; the sandbox mounts /etc/ssl
REAP_INTERVAL = 5.0
LOG_FLUSH_INTERVAL = 0.5
NODE_CALLS_PER_WORKER = 64

# What Twilio's runtime keeps out of event.request.headers (runtime-handler checks/restricted-headers.ts).
_RESTRICTED_PREFIXES = ("i-twilio-", "i-t-", "ot-", "x-amz", "x-forwarded-", "x-accel-", "proxy-")
_RESTRICTED = frozenset({"via", "referer", "transfer-encoding", "x-real-ip", "connection", "expect", "trailer",
                         "upgrade", "keep-alive"})
# Hop-by-hop and framing headers are ours to write, whatever a function sets.
_DROPPED_OUT = frozenset({b"content-length", b"transfer-encoding", b"connection", b"keep-alive", b"date",
                          b"upgrade", b"trailer", b"proxy-connection", b"server"})
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_JSON = re.compile(r"^application/([a-z0-9.+-]*\+)?json$")


def _error(status: int, code: int, message: str, extra: list[tuple[bytes, bytes]] | None = None) -> FunctionResult:
    body = twilio_body(status, code, message)
    headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-cache"),
               (b"content-length", str(len(body)).encode())]
    return FunctionResult(status, headers + (extra or []), body)


class FunctionRunner:
    def __init__(self, ctx: Context, packager: Packager, options: FunctionOptions,
                 live_builds: Callable[[], set[str]]) -> None:
        self.ctx = ctx
        self.packager = packager
        self.options = options
        self.live_builds = live_builds
        self.sink = LogSink(ctx)
        self.pools: dict[tuple[str, str], Pool] = {}
        self.ready: set[str] = set()  # builds whose folder is known to be written
        self.slots: dict[str, asyncio.Semaphore] = {}
        self.node = shutil.which(options.node)
        self._reaper: asyncio.Task[None] | None = None
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._flusher = threading.Thread(target=self._flush_loop, name="assethost-fn-logs", daemon=True)
        self._flusher.start()

    def stop(self) -> None:
        self._stop.set()
        for pool in self.pools.values():
            pool.close()
        self.pools.clear()
        if self._reaper is not None:
            self._reaper.cancel()
        if self._flusher is not None:
            self._flusher.join(timeout=5)
        self.flush_logs()

    def flush_logs(self) -> None:
        try:
            self.sink.flush()
        except Exception:
            log.exception("could not write function logs; they are kept for the next try")

    def _flush_loop(self) -> None:
        while not self._stop.wait(LOG_FLUSH_INTERVAL):
            if self.sink.pending():
                self.flush_logs()

    async def _reap(self) -> None:
        """Stop the workers of builds no longer live anywhere, and of builds idle for a while."""
        while True:
            await asyncio.sleep(REAP_INTERVAL)
            try:
                live = self.live_builds()
                self.ready &= live
                now = time.monotonic()
                for key, pool in list(self.pools.items()):
                    if pool.busy():
                        continue
                    if key[0] not in live or now - pool.last_used > self.options.idle_seconds:
                        pool.close()
                        del self.pools[key]
            except Exception:
                log.exception("function worker reaper failed")

    # -- one call -------------------------------------------------------------------------------

    async def invoke(self, call: FunctionCall) -> FunctionResult:
        if self._reaper is None:
            self._reaper = asyncio.get_running_loop().create_task(self._reap())
        slot = self.slots.get(call.account_sid)
        if slot is None:
            slot = self.slots[call.account_sid] = asyncio.Semaphore(self.options.concurrency)
        if slot.locked():
            try:
                await asyncio.wait_for(slot.acquire(), self.options.queue_wait)
            except TimeoutError:
                return _error(429, 20429, f"Too many concurrent function executions for this account "
                                          f"(limit {self.options.concurrency}); retry shortly",
                              [(b"retry-after", b"1")])
        else:
            await slot.acquire()
        try:
            result = await self._invoke(call)
        finally:
            slot.release()
        if call.method == "HEAD":
            result.body = b""
        return result

    async def _invoke(self, call: FunctionCall) -> FunctionResult:
        fn = call.function
        request_sid = sids.new(sids.REQUEST)
        meta = CallLog(call.account_sid, call.service_sid, call.environment_sid, call.build_sid, fn.function_sid,
                       request_sid)
        if fn.language == "node" and self.node is None:
            return _error(500, 82005, "Node.js is not installed on this server, so JavaScript functions cannot run")
        sandbox = self.packager.sandbox
        problem = sandbox.problem() if sandbox.checked else await asyncio.to_thread(sandbox.problem)
        if problem:
            return _error(500, 82005, f"Functions cannot run on this server: {problem}")
        if call.build_sid not in self.ready:  # a ready folder stays so: asked of the disk once
            ok = await asyncio.to_thread(self.packager.ensure, self.ctx, call.build_sid)
            if not ok:
                return _error(500, 82005, "This build's functions could not be prepared; see the server log")
            self.ready.add(call.build_sid)
        timeout = self.options.timeout
        started = time.monotonic()
        try:
            key = (call.build_sid, fn.language)
            pool = self.pools.get(key)
            if pool is None:
                # Reading the build's manifest, and starting the egress proxy the first time, block;
                # of two calls that both got here, the first to finish provides the pool.
                made = await asyncio.to_thread(self._new_pool, call.build_sid, fn.language)
                pool = self.pools.setdefault(key, made)
        except OSError as exc:
            log.exception("cannot prepare the workers of %s", call.build_sid)
            return _error(500, 82005, f"Function worker could not start: {exc.strerror or exc}")
        try:
            worker = await asyncio.wait_for(pool.acquire(), timeout)
            message = {"type": "call", "fn": fn.path, "context": self._context(call), "event": _event(call),
                       "twilio_api": self.options.twilio_api_url}
            answer = await worker.call(message, meta, max(0.05, timeout - (time.monotonic() - started)))
        except (CallTimeout, TimeoutError):
            text = f"Function execution timed out after {timeout:g} seconds"
            self._log(meta, "error", f"{text} ({fn.path})")
            return _error(504, 82002, text)
        except WorkerDied as exc:
            self._log(meta, "error", f"The function's worker process exited before answering ({fn.path}): {exc}")
            return _error(500, 82005, "Function execution failed: the worker process exited before answering")
        except ResponseTooLarge as exc:
            return self._too_large(meta, fn.path, exc.size)
        except NoRoom:
            return _error(503, 20503, f"This server runs {self.options.max_workers} function workers, all busy; "
                                      "retry shortly", [(b"retry-after", b"1")])
        except (OSError, SandboxUnavailable) as exc:
            log.exception("cannot start a worker for %s", fn.path)
            return _error(500, 82005, f"Function worker could not start: {exc}")
        finally:
            pool.released()
        if isinstance(answer.get("oversize"), int):
            return self._too_large(meta, fn.path, answer["oversize"])
        return _result(answer)

    def _too_large(self, meta: CallLog, path: str, size: int) -> FunctionResult:
        limit = self.options.max_response_bytes
        text = f"Function response of {size} bytes is larger than the limit of {limit} bytes"
        self._log(meta, "error", f"{text} ({path})")
        return _error(500, 82005, text)

    def _new_pool(self, build_sid: str, language: str) -> Pool:
        """The (empty) worker pool of a build and language: how its workers are sandboxed."""
        opts = self.options
        mounts = [Mount(HARNESS, SANDBOX_HARNESS), Mount(self.packager.folder(build_sid), SANDBOX_BUILD)]
        modules = self.packager.node_modules(build_sid)
        if modules is not None:
            mounts.append(Mount(modules, SANDBOX_MODULES))
        env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8", "TZ": "UTC",
               "NODE_ENV": "production"}
        tail = [str(opts.max_response_bytes)]
        if opts.network == "public":
            mounts.append(Mount(self.packager.sandbox.egress.socket_path(), SANDBOX_SOCKET))
            tail += [SANDBOX_SOCKET, *([PYTHON_RELAY_PORT] if language == "python" else [])]
            if language == "node" and os.path.isfile(SYSTEM_CA_BUNDLE):
                env["NODE_EXTRA_CA_CERTS"] = SYSTEM_CA_BUNDLE  # trust what the host trusts, as Python does
        if language == "python":
            mounts += runtime_mounts(sys.executable, sys.prefix, sys.base_prefix)
            argv = [sys.executable, "-I", "-B", f"{SANDBOX_HARNESS}/py_worker.py"]
            address_space = (opts.memory_mb + PYTHON_RESERVE_MB) * MiB
            size, per = opts.python_workers, 1
        else:
            assert self.node is not None
            mounts += runtime_mounts(self.node)
            shared = self.packager.shared_runtime()
            if shared is not None:
                mounts.append(Mount(shared, SANDBOX_RUNTIME))
            # Node's permission model inside the sandbox: no child processes or worker threads,
            # and writes only to the scratch folder.
            argv = [self.node, f"--max-old-space-size={opts.memory_mb}", "--experimental-permission",
                    "--allow-fs-read=/srv/", "--allow-fs-write=/tmp/", "--no-warnings",
                    f"{SANDBOX_HARNESS}/node_worker.js"]
            address_space = (opts.memory_mb + NODE_RESERVE_MB) * MiB
            size, per = opts.node_workers, NODE_CALLS_PER_WORKER
        limits = Limits(address_space=address_space, processes=opts.processes, open_files=opts.open_files,
                        file_size=opts.scratch_mb * MiB, cpu_seconds=opts.cpu_seconds,
                        scratch=opts.scratch_mb * MiB,
                        memory=(opts.memory_mb + RUNTIME_MB + opts.scratch_mb) * MiB)
        sandbox = self.packager.sandbox

        def launch(fd: int) -> Launch:
            return sandbox.launch([*argv, str(fd), *tail], mounts, env, SANDBOX_BUILD, limits)

        label = f"{language} worker for {build_sid}"
        return Pool(lambda: Worker(launch, self._log, label, opts.max_response_bytes), size, per, self._room)

    def _room(self, asking: Pool) -> bool:
        """Whether one more worker may start in this process: under --function-max-workers, or
        once the least recently used idle pool of another build is closed for it."""
        live = sum(len(p.workers) + p.starting for p in self.pools.values())
        if live < self.options.max_workers:
            return True
        idle = [(p.last_used, key) for key, p in self.pools.items() if p is not asking and p.workers and not p.busy()]
        if not idle:
            return False
        _, key = min(idle)
        self.pools.pop(key).close()
        return True

    def _log(self, meta: CallLog | None, level: str, message: str) -> None:
        if meta is None:  # printed by a worker before any call: nobody's log, and not the server's
            self.sink.dropped += 1
            return
        self.sink.add(meta, level, message)

    @staticmethod
    def _context(call: FunctionCall) -> dict[str, Any]:
        context: dict[str, Any] = dict(call.variables)
        context.update(DOMAIN_NAME=call.host, PATH=call.path, SERVICE_SID=call.service_sid,
                       ENVIRONMENT_SID=call.environment_sid)
        if call.include_credentials:
            context.update(ACCOUNT_SID=call.account_sid, AUTH_TOKEN=call.auth_token)
        return context


def _merge(event: dict[str, Any], pairs: list[tuple[str, str]]) -> None:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            prev = seen[key]
            seen[key] = prev + [value] if isinstance(prev, list) else [prev, value]
        else:
            seen[key] = value
    event.update(seen)


def _event(call: FunctionCall) -> dict[str, Any]:
    """{request: {headers, cookies}, ...query, ...body}, as Twilio's runtime builds it."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in call.headers.items():
        name = raw_name.decode("latin-1").lower()
        if name in _RESTRICTED or name.startswith(_RESTRICTED_PREFIXES):
            continue
        headers[name] = raw_value.decode("latin-1")
    cookies: dict[str, str] = {}
    if "cookie" in headers:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(headers["cookie"])
            cookies = {k: m.value for k, m in jar.items()}
        except Exception:  # noqa: BLE001 - a malformed Cookie header just gives no cookies
            cookies = {}
    event: dict[str, Any] = {"request": {"headers": headers, "cookies": cookies}}
    if call.query:
        _merge(event, parse_qsl(call.query, keep_blank_values=True))
    if call.form is not None:
        _merge(event, call.form)
    elif call.body:
        ctype = call.headers.get(b"content-type", b"").split(b";")[0].strip().lower().decode("latin-1")
        if _JSON.match(ctype):
            try:
                value = json.loads(call.body)
            except ValueError:
                value = None
            if isinstance(value, dict):
                event.update(value)
    return event


def _result(answer: dict[str, Any]) -> FunctionResult:
    status = answer.get("status")
    if not isinstance(status, int) or not 200 <= status <= 599:
        # A 1xx is provisional: a client (or a proxy pooling connections) would take the next
        # answer on the connection, another request's, for this one's.
        return _error(500, 82005, f"Function answered with status {status!r}, which is not a final HTTP status")
    body: bytes = answer.get("body") or b""
    headers: list[tuple[bytes, bytes]] = []
    for pair in answer.get("headers") or []:
        if not isinstance(pair, list) or len(pair) != 2:
            continue
        name, value = str(pair[0]), str(pair[1])
        if not _TOKEN.match(name) or any(c in value for c in "\r\n\0"):
            continue  # never let a function split or forge a header line
        key = name.lower().encode("latin-1")
        if key in _DROPPED_OUT:
            continue
        try:
            encoded = value.encode("latin-1")
        except UnicodeEncodeError:
            encoded = value.encode("utf-8")
        headers.append((key, encoded))
    if status in (204, 304):
        body = b""
    else:
        headers.append((b"content-length", str(len(body)).encode()))
    return FunctionResult(status, headers, body)
