"""Worker processes: one harness process each, in its own sandbox, talking JSON lines.

A `Worker` is one process; a `Pool` holds the few workers of one (build, language), started
lazily as load asks for them. Nothing here knows HTTP: the runner turns results into replies.

Messages arrive on a pipe of their own (its descriptor number is the harness's first argument)
as JSON lines; a result line says how many raw body bytes follow it on the same pipe, so a body
is read once, in one piece, and never passes through JSON or base64. A body over the cap is
refused by the harness, and a worker that sends one anyway is stopped before its bytes are read.
"""

from __future__ import annotations

import asyncio
import fcntl
import itertools
import json
import logging
import os
import struct
import termios
import time
from collections.abc import Callable
from typing import Any

from assethost.functions.sandbox import Launch

log = logging.getLogger("assethost.functions")

LINE_LIMIT = 1024 * 1024  # a message line: a result's status and headers, or one log line
STDIN_LIMIT = 8 * 1024 * 1024  # sent to a worker and not yet read by it (a call holds an event of ≤ 1 MiB)
MAX_ABANDONED = 16  # timed-out calls a worker may leave running before it is replaced
MAX_JUNK = 100  # messages that are not the protocol's, before the worker is stopped
# Log bytes a second a worker may send: its harness sends at most 1 MiB a call, so only many calls
# of one worker each printing all they may within one second come near this.
LOG_RATE = 16 * 1024 * 1024
START_TIMEOUT = 15.0
PING_TIMEOUT = 0.5

# (the call's log record or None, level, message): where a worker's log lines go
LogFn = Callable[[Any, str, str], None]


class WorkerDied(Exception):
    """The worker process exited (crash, exit(), killed) before answering."""


class CallTimeout(Exception):
    """The call ran past its time limit."""


class NoRoom(Exception):
    """No worker may start: the server runs as many as it allows, all of them busy."""


class ResponseTooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class Worker:
    _ids = itertools.count(1)

    def __init__(self, launch: Callable[[int], Launch], on_log: LogFn, label: str, max_body: int) -> None:
        self.launch = launch  # the sandboxed command line, given the harness's message descriptor
        self.on_log = on_log
        self.label = label
        self.max_body = max_body
        self.proc: asyncio.subprocess.Process | None = None
        self.pending: dict[int, tuple[asyncio.Future[dict[str, Any]], Any]] = {}
        self.meta: dict[int, Any] = {}  # call id -> log attribution (opaque here), until abandoned
        self.last_meta: Any = None
        self.load = 0
        self.alive = False
        self.retiring = False  # near its CPU limit: finishes its calls, takes no new one
        self.abandoned = 0  # calls that timed out while the worker went on
        self.junk = 0  # messages that are none of the protocol's
        self.log_window = [time.monotonic(), 0]  # [since, log bytes received since]
        self.written = 0  # bytes sent to its stdin, ever
        self.ready: asyncio.Future[None] | None = None
        self.pongs: dict[int, asyncio.Future[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._out_transport: asyncio.BaseTransport | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        read_fd, write_fd = os.pipe()
        launch: Launch | None = None
        try:
            launch = self.launch(write_fd)
            self.proc = await asyncio.create_subprocess_exec(
                *launch.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env={}, pass_fds=(write_fd,), start_new_session=True,
                limit=LINE_LIMIT,
            )
        except BaseException:
            os.close(read_fd)
            if launch is not None:
                launch.release()
            raise
        finally:
            os.close(write_fd)
        reader = asyncio.StreamReader(limit=LINE_LIMIT)
        self._out_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0),
        )
        self.alive = True
        self.ready = loop.create_future()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._tasks = [
            loop.create_task(self._read_messages(reader)),
            loop.create_task(self._read_stream(self.proc.stdout, "info")),
            loop.create_task(self._read_stream(self.proc.stderr, "error")),
            loop.create_task(self._wait_exit(self.proc, launch)),
        ]
        try:
            await asyncio.wait_for(asyncio.shield(self.ready), START_TIMEOUT)
        except (TimeoutError, WorkerDied):
            self.kill()
            raise WorkerDied(f"{self.label} did not start") from None
        except BaseException:  # cancelled (the server stops): never leave the process behind
            self.kill()
            raise

    async def _wait_exit(self, proc: asyncio.subprocess.Process, launch: Launch) -> None:
        """Once the process is gone (and with it its sandbox), its UID may serve another."""
        try:
            await proc.wait()
        finally:
            self.alive = False
            self._fail_all()
            launch.release()

    async def call(self, message: dict[str, Any], meta: Any, timeout: float) -> dict[str, Any]:
        if not self.alive or self.proc is None or self.proc.stdin is None:
            raise WorkerDied(f"{self.label} is not running")
        loop = asyncio.get_running_loop()
        call_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.pending[call_id] = (future, meta)
        self.meta[call_id] = meta
        self.last_meta = meta
        self.load += 1
        try:
            self._write(json.dumps({**message, "id": call_id}).encode() + b"\n")
            try:
                return await asyncio.wait_for(future, timeout)
            except TimeoutError:
                await self._after_timeout(call_id)
                raise CallTimeout() from None
        except (BrokenPipeError, ConnectionResetError):
            raise WorkerDied(f"{self.label} exited") from None
        finally:
            self.load -= 1
            self.pending.pop(call_id, None)

    async def _after_timeout(self, call_id: int) -> None:
        """A call ran out of time. If the worker still reads what it is sent and answers a ping,
        only that call is stuck (waiting on something that never comes): forget it. Otherwise the
        process is busy looping, or not reading: stop it, and the pool starts another."""
        self.meta.pop(call_id, None)
        self.abandoned += 1
        unread = self._unread()
        if unread == 0 and self.abandoned <= MAX_ABANDONED and await self.ping():
            self.send({"type": "abandon", "id": call_id})
        else:
            log.warning("%s did not answer after a timed-out call (%d bytes unread, %d calls abandoned); "
                        "stopping it", self.label, unread, self.abandoned)
            self.kill()

    async def ping(self) -> bool:
        """Whether the worker reads what it is sent and answers: a pong counts only once the
        worker has read the ping itself (a pong written without reading it is forged)."""
        if not self.alive:
            return False
        loop = asyncio.get_running_loop()
        ping_id = next(self._ids)
        future: asyncio.Future[None] = loop.create_future()
        self.pongs[ping_id] = future
        self.send({"type": "ping", "id": ping_id})
        sent = self.written
        try:
            await asyncio.wait_for(future, PING_TIMEOUT)
            return self.written - self._unread() >= sent
        except (TimeoutError, WorkerDied):
            return False
        finally:
            self.pongs.pop(ping_id, None)

    def send(self, message: dict[str, Any]) -> None:
        if self.alive and self.proc is not None and self.proc.stdin is not None:
            try:
                self._write(json.dumps(message).encode() + b"\n")
            except (BrokenPipeError, ConnectionResetError, WorkerDied):
                pass

    def _write(self, data: bytes) -> None:
        """To the worker's stdin. What it has not read stays in the server's memory, so a worker
        that stops reading is stopped once that passes STDIN_LIMIT."""
        assert self.proc is not None and self.proc.stdin is not None
        if self._unread() + len(data) > STDIN_LIMIT:
            log.warning("%s is not reading what it is sent; stopping it", self.label)
            self.kill()
            raise WorkerDied(f"{self.label} stopped reading")
        self.proc.stdin.write(data)
        self.written += len(data)

    def _unread(self) -> int:
        """Bytes sent to the worker that it has not read: those still in our buffer and those
        in the pipe (FIONREAD works on either end of a pipe)."""
        stdin = self.proc.stdin if self.proc is not None else None
        if stdin is None:
            return 0
        waiting = stdin.transport.get_write_buffer_size()
        pipe = stdin.transport.get_extra_info("pipe")
        try:
            waiting += struct.unpack("i", fcntl.ioctl(pipe.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
        except (OSError, AttributeError, ValueError):
            pass
        return waiting

    def kill(self) -> None:
        self.alive = False
        if self.proc is not None and self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, 9)  # the harness and anything it started
            except (ProcessLookupError, PermissionError):
                try:
                    self.proc.kill()
                except ProcessLookupError:
                    pass
        self._fail_all()

    def _fail_all(self) -> None:
        died = WorkerDied(f"{self.label} exited")
        for future, _ in list(self.pending.values()):
            if not future.done():
                future.set_exception(died)
        for pong in list(self.pongs.values()):
            if not pong.done():
                pong.set_exception(died)
        if self.ready is not None and not self.ready.done():
            self.ready.set_exception(died)
            self.ready.exception()  # retrieved: nobody may be waiting any more

    async def _read_messages(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                try:
                    line = await reader.readline()
                except ValueError:  # a line over LINE_LIMIT: this worker cannot be trusted any more
                    log.error("%s sent an over-long message; stopping it", self.label)
                    break
                if not line:
                    break
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(msg, dict):
                    continue
                if msg.get("type") == "result":
                    length = msg.get("length", 0)
                    if not isinstance(length, int) or length < 0:
                        break  # the framing is lost: nothing after this can be read as a message
                    if length > self.max_body:
                        self._refuse(msg.get("id"), length)
                        break
                    msg["body"] = await reader.readexactly(length) if length else b""
                self._dispatch(msg)
        except asyncio.IncompleteReadError:
            pass
        finally:
            self.alive = False
            self._fail_all()
            if self._out_transport is not None:
                self._out_transport.close()
            if self.proc is not None and self.proc.returncode is None:
                self.kill()

    def _refuse(self, call_id: Any, size: int) -> None:
        log.warning("%s answered with %d bytes, over the limit of %d; stopping it", self.label, size, self.max_body)
        entry = self.pending.get(call_id)
        if entry is not None and not entry[0].done():
            entry[0].set_exception(ResponseTooLarge(size))

    def _dispatch(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        raw_id = msg.get("id")
        # The ids are the ints this side numbered its calls with (from 1): any other id matches none.
        call_id = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else 0
        if kind == "result":
            entry = self.pending.get(call_id)
            self.meta.pop(call_id, None)
            if entry is not None and not entry[0].done():
                entry[0].set_result(msg)
        elif kind == "log":
            text = str(msg.get("message", ""))
            if self._too_chatty(len(text)):
                return
            meta = self.meta.get(call_id)
            self.on_log(meta or self._only_meta(), str(msg.get("level") or "info"), text)
        elif kind == "pong":
            future = self.pongs.get(call_id)
            if future is not None and not future.done():
                future.set_result(None)
        elif kind == "ready" and self.ready is not None and not self.ready.done():
            self.ready.set_result(None)
        elif kind == "retire":
            if not self.retiring:
                log.info("%s is near its CPU time limit; replacing it once its calls are done", self.label)
            self.retiring = True
        else:
            self.junk += 1
            if self.junk > MAX_JUNK:
                log.warning("%s sends what is not the protocol; stopping it", self.label)
                self.kill()

    def _too_chatty(self, size: int) -> bool:
        """Whether the worker prints faster than its harness lets a function (which cuts each call's
        output short of LOG_RATE): only code writing to the message pipe itself does; stop it."""
        now = time.monotonic()
        if now - self.log_window[0] >= 1.0:
            self.log_window = [now, 0]
        self.log_window[1] += size
        if self.log_window[1] <= LOG_RATE:
            return False
        log.warning("%s prints more than %d bytes a second; stopping it", self.label, LOG_RATE)
        self.kill()
        return True

    def _only_meta(self) -> Any:
        """Who printed a line that names no call: the one call running, else the last one."""
        if len(self.pending) == 1:
            return next(iter(self.pending.values()))[1]
        return self.last_meta

    async def _read_stream(self, stream: asyncio.StreamReader, level: str) -> None:
        while True:
            try:
                line = await stream.readline()
            except ValueError:
                continue
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip("\n")
            if text:
                self.on_log(self._only_meta(), level, text)


class Pool:
    """The workers of one build and language: up to `size`, each taking up to `per_worker`
    calls at once (Node handles many concurrently; Python one). A worker that retires (near its
    CPU limit) takes no new call, and is stopped once its calls are done; another takes its place."""

    def __init__(self, make: Callable[[], Worker], size: int, per_worker: int,
                 may_start: Callable[[Pool], bool] = lambda _pool: True) -> None:
        self.make = make
        self.may_start = may_start  # the server's say on one more worker (its cap on them all)
        self.size = max(1, size)
        self.per_worker = max(1, per_worker)
        self.workers: list[Worker] = []
        self.starting = 0
        self.closed = False
        self.changed = asyncio.Event()
        self.last_used = time.monotonic()

    def busy(self) -> bool:
        return self.starting > 0 or any(w.load for w in self.workers if w.alive)

    async def acquire(self) -> Worker:
        self.last_used = time.monotonic()
        while True:
            self._drop_finished()
            usable = [w for w in self.workers if not w.retiring]
            best = min(usable, key=lambda w: w.load, default=None)
            if best is not None and best.load == 0:
                return best
            has_room = best is not None and best.load < self.per_worker
            if len(usable) + self.starting < self.size:
                if self.may_start(self):
                    # Every worker is busy and one may be stuck in a loop: start another and use
                    # it, rather than queue behind a call that may never end. (Once per slot.)
                    await self._spawn()
                    continue
                if not usable and not self.starting:
                    raise NoRoom()
            if has_room:
                assert best is not None
                return best
            self.changed.clear()
            await self.changed.wait()

    async def _spawn(self) -> None:
        """Start a worker. The start goes on when the call that asked for it gives up (its time
        ran out): the worker then joins the pool for the next call, or is stopped, and is never
        left running outside it."""
        task = asyncio.get_running_loop().create_task(self._start_one())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved if nobody waits
        await asyncio.shield(task)

    async def _start_one(self) -> None:
        self.starting += 1
        worker = self.make()
        try:
            await worker.start()
        except Exception:
            log.exception("could not start %s", worker.label)
            raise
        finally:
            self.starting -= 1
            self.changed.set()
        if self.closed:
            worker.kill()
        else:
            self.workers.append(worker)

    def _drop_finished(self) -> None:
        kept = []
        for worker in self.workers:
            if worker.alive and worker.retiring and worker.load == 0:
                worker.kill()
            if worker.alive:
                kept.append(worker)
        self.workers = kept

    def released(self) -> None:
        self.last_used = time.monotonic()
        self._drop_finished()
        self.changed.set()

    def close(self) -> None:
        self.closed = True
        for worker in self.workers:
            worker.kill()
        self.workers = []
