"""The HTTP front of the one port: a protocol that answers edge requests itself and hands every
other connection to uvicorn's own protocol, which runs the API through ASGI.

Why not ASGI for the edge too: measured on this 2-core machine, uvicorn's per-request ASGI
machinery (scope dict, a task, two send events) costs more CPU than the whole edge decision, so
serving deployed assets through it capped out near a third of nginx. Here a request is parsed by
httptools, answered by the same `Responder` the ASGI edge uses, and written with one
`transport.write` of pre-serialised headers (two for a large body from memory; a file from disk
follows by sendfile, see `edge/sender.py`). The hand-over is the same move uvicorn itself makes
for WebSocket upgrades: start the other protocol on this transport and replay the bytes read.

Every connection is bounded by `FrontLimits` (see `config.py`): the size of a request's head
and body, the waits on the client, the connections open at once, and what may wait unsent. While
answers are waiting (the client reads slower than it asks, or a file or a function is being
answered) the connection is not read: requests already read wait as small `Reply` objects, and
the rest of what was read waits unparsed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from time import perf_counter
from typing import Any

import httptools

from assethost.config import FrontLimits
from assethost.core.ports import StorageError
from assethost.edge.apiproto import ApiProtocol
from assethost.edge.bounds import (
    BODY,
    CLOCK,
    HEAD,
    IDLE,
    SLICE,
    STATUS,
    Bounded,
    Stop,
    log,
    note_refusal,
    refusal,
    simple_response,
)
from assethost.edge.httpparts import serialize
from assethost.edge.responder import Reply
from assethost.edge.sender import open_body
from assethost.web.traffic import OPERATOR_PATHS, client_address

# Bodies up to this size go out in one write with their head (for a 100 KiB file, one copy costs
# less than a second system call: 34 against 39 µs a request, bench s3); larger ones (a file
# served from memory, when --memory-file-limit is raised past this) in a second write, so they are
# not copied once more. A function's answer is that large only when the disk refused to hold it
# (see Edge.call): otherwise one over FILE_CHUNK comes as a file.
Asked = tuple[str, str, str, dict[bytes, bytes]]  # a request's method, target, Host and headers
JOIN_LIMIT = 1024 * 1024


class FrontProtocol(Bounded, asyncio.Protocol):
    """Constructed by uvicorn (as its `http` protocol class) for every accepted connection."""

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None, *, limits: FrontLimits) -> None:
        if not config.loaded:
            config.load()
        self.config = config
        self.server_state = server_state
        self.app_state = app_state
        self.loop = _loop or asyncio.get_event_loop()
        dispatch = config.app
        self.edge = dispatch.edge
        self.edge_only = dispatch.api is None
        self.limits = limits
        self.stopped = False
        self.write_ready: asyncio.Event | None = None
        self.sending: asyncio.Task[None] | None = None  # the file being sent

    def _reset_request(self) -> None:
        self.url = b""
        self.url_too_long = False
        self.headers: dict[bytes, bytes] = {}
        self.body: bytearray | None = None
        self.body_bytes = 0
        self.duplicate_host = False

    # asyncio.Protocol ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        connections = self.server_state.connections
        if len(connections) >= self.limits.max_connections:
            # Before anything is allocated for it: a flood of refused clients costs nothing but this.
            self.stopped = True
            # Whose client it is is not known before it sends anything: the line of text.
            self.transport.write(simple_response(503, "Service Unavailable: too many connections"))
            self.transport.close()
            note_refusal(self.loop, self.limits.max_connections)
            return
        connections.add(self)
        self.transport.set_write_buffer_limits(high=self.limits.write_buffer_bytes)
        self.parser = httptools.HttpRequestParser(self)
        self.scheme = "https" if transport.get_extra_info("sslcontext") else "http"
        self.phase = IDLE
        self.head_bytes = 0
        self.head_fresh = False  # the request began inside the bytes just parsed
        # The bytes of the request being read, from its first one, kept while its header is
        # incomplete, to replay on a hand-over; None once they are not separable any more.
        self.replay: list[bytes | memoryview] | None = None
        self.begun = 0  # requests begun within `replay`
        self.rest: memoryview | None = None  # what follows the slice being parsed
        self.held: memoryview | None = None  # read but not parsed while answers wait
        self.reading = True
        self.busy = False  # a file or a function is being answered; later replies wait in `queue`
        self.queue: deque[tuple[Reply, bool]] = deque()
        self.began = perf_counter()  # when the request being read began (for a refusal before any)
        self._reset_request()
        self._start_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)
        self.stopped = True
        self._stop_clock()
        if self.write_ready is not None:
            self.write_ready.set()
        if self.sending is not None:
            self.sending.cancel()  # a file waiting on the socket: its descriptor is let go of

    def pause_writing(self) -> None:
        if self.write_ready is None:
            self.write_ready = asyncio.Event()
        self.write_ready.clear()
        # Reading stops only once an answer has to wait (see _wait): a client that reads what it
        # asked for before asking again never has its reading paused and resumed.
        self._writes_paused()

    def resume_writing(self) -> None:
        self._resumed()
        if self.write_ready is not None:
            self.write_ready.set()
        if not self.busy and (self.queue or self.held is not None or not self.reading) \
                and not self.transport.is_closing():
            self._catch_up()

    def data_received(self, data: bytes | memoryview) -> None:
        self.last_read = self.loop.time()
        if self.stopped:
            return
        if self.held is not None:  # a transport may hand over what it had read before pausing
            self.held = memoryview(bytes(self.held) + data)
            return
        if len(data) > SLICE:
            self._feed_slices(memoryview(data))
            return
        # One slice (most requests come whole in one): parsed here, the hot path.
        if self.phase == IDLE:
            self.replay = [data]
            self.begun = 0
        elif self.replay is not None:
            self.replay.append(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if not isinstance(exc.__context__, Stop):
                log.exception("edge request failed")
                self._refuse(500, "Internal Server Error")
        except httptools.HttpParserUpgrade:
            pass  # the upgrade was declined: that request was answered as HTTP/1.1 and ends the connection
        except httptools.HttpParserError as exc:
            if not self.stopped:
                self._refuse(400, "Bad Request: malformed request", f"malformed request ({exc})")
        # The wait these bytes leave the connection in; the timer moves only if that wait ends sooner.
        phase = self.phase
        if phase == IDLE:
            due = self.idle_since + self.limits.keepalive_timeout
        elif phase == HEAD:
            due = self.head_since + self.limits.header_timeout
            if self.head_fresh:
                self.head_fresh = False  # some of these bytes may be the requests before it
            elif not self.stopped:
                self._count_head(len(data))
        else:
            due = self.last_read + self.limits.body_timeout
        if due < self._timer_at:
            self._soon(due)

    def shutdown(self) -> None:
        """Called by uvicorn on graceful shutdown."""
        if self.phase == IDLE and not self.busy and not self.queue:
            self._close()

    # reading ------------------------------------------------------------------------------------

    def _feed_slices(self, view: memoryview) -> None:
        try:
            for offset in range(0, len(view), SLICE):
                if self.busy or self.write_paused_at is not None:
                    self.held = view[offset:]
                    self._pause_reading()
                    return
                self.rest = view[offset + SLICE:]
                self.data_received(view[offset:offset + SLICE])
                if self.stopped:
                    return
        finally:
            self.rest = None

    def _pause_reading(self) -> None:
        if self.reading:
            self.reading = False
            self.transport.pause_reading()

    def _catch_up(self) -> None:
        """Our side is free again (a file sent, a function answered, the client read enough):
        send what waits, then parse what was held back, then read on."""
        now = self.loop.time()
        self.idle_since = self.head_since = self.last_read = now  # the client was waiting on us
        while self.queue and not self.busy and self.write_paused_at is None:
            self._write(*self.queue.popleft())
        if self.busy or self.write_paused_at is not None or self.transport.is_closing():
            return
        if self.held is not None:
            held, self.held = self.held, None
            self._feed_slices(held)
            if self.held is not None or self.stopped:
                return
        if not self.reading:
            self.reading = True
            self.transport.resume_reading()
        self._soon(now + self.limits.keepalive_timeout)

    def _serving(self) -> bool:
        return self.busy or bool(self.queue)

    # httptools callbacks -----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        # For the latency metric: the loop's clock (uvloop's) moves once per loop turn, in milliseconds.
        self.began = perf_counter()
        self.phase = HEAD
        self.head_since = self.last_read
        self.head_bytes = 0
        self.head_fresh = True
        self.begun += 1
        self._reset_request()

    def on_url(self, url: bytes) -> None:
        if self.url_too_long:
            return
        self.url += url
        if len(self.url) > self.limits.max_request_line:
            # Refused (414) once the header says whose request it is, the API's or an environment's,
            # to answer it as either's clients expect; the header's own bounds end the wait for that.
            self.url_too_long = True
            self.url = b""

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"host" and name in self.headers:
            self.duplicate_host = True  # which one would the signature be for? refuse both
        self.headers[name] = value

    def on_headers_complete(self) -> None:
        self.phase = BODY
        if self.url_too_long:
            self._refuse_target()
            raise Stop()
        method = self.parser.get_method()
        if method == b"CONNECT":
            self._refuse(400, "Bad Request: CONNECT is not served here", "CONNECT")
            raise Stop()
        if self.duplicate_host:
            self._refuse(400, "Bad Request: more than one Host header", "more than one Host header")
            raise Stop()
        try:
            self.target = httptools.parse_url(self.url)
        except httptools.HttpParserInvalidURLError:
            self._refuse(400, "Bad Request: malformed request target",
                         f"malformed request target {self.url[:80]!r}")
            raise Stop() from None
        host = self.headers.get(b"host", b"").decode("latin-1")
        # With --edge-only there is no API, but the operator's paths are still served (by ASGI).
        if (not self.edge_only or (self.target.path or b"").decode("latin-1") in OPERATOR_PATHS) \
                and not self.edge.claims(host):
            self._hand_over()
        self.replay = None  # answered here: a later request in these bytes cannot be handed over
        length = self.headers.get(b"content-length")
        if length is not None and int(length) > self.limits.max_body_bytes:
            self._refuse(413, "Request body too large", f"request body of {int(length)} bytes")
            raise Stop()
        if method == b"POST":
            self.body = bytearray()
            # Only when nothing is owed before it: answers go out in order, and a 100 may be left out.
            if (self.headers.get(b"expect", b"").lower() == b"100-continue"
                    and not self.busy and not self.queue and self.write_paused_at is None):
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)
        if self.body_bytes > self.limits.max_body_bytes:
            self._refuse(413, "Request body too large",
                         f"request body over {self.limits.max_body_bytes} bytes")
            raise Stop()
        if self.body is not None:
            self.body += body

    def on_message_complete(self) -> None:
        self.phase = IDLE
        self.idle_since = self.last_read
        parser = self.parser
        # A declined Upgrade leaves the bytes after it unframed: answer, then close.
        upgrade = b"upgrade" in self.headers and parser.should_upgrade()
        keep_alive = parser.should_keep_alive() and not upgrade
        if not keep_alive:
            self.stopped = True
        reply = self._respond()
        if reply.load is not None:  # answered (and counted) once the build is loaded: _run_function
            reply.asked = self._asked()
        elif reply.call is None:  # a function's answer is counted when it comes (_run_function)
            self._count(reply, perf_counter() - self.began, None)
        if self.busy or self.write_paused_at is not None or self.queue:
            self._wait(reply, keep_alive)
        else:
            self._write(reply, keep_alive)

    # serving -------------------------------------------------------------------------------------

    def _respond(self) -> Reply:
        target = self.target
        return self.edge.responder.answer(
            self.parser.get_method().decode("ascii"), self.scheme, (target.path or b"/").decode("latin-1"),
            (target.query or b"").decode("latin-1"), self.headers, bytes(self.body) if self.body is not None else None,
        )

    def _count(self, reply: Reply, seconds: float, asked: Asked | None) -> None:
        """Count an answer of the edge (plain increments: this runs for every request), and log
        it when the access log is on. `asked`: the request it answers when that is not the one
        being parsed (a function's or a cold build's answer comes later: the parser may have read
        later requests meanwhile)."""
        size = len(reply.body) + (reply.length if reply.file is not None else 0)
        self.edge.traffic.edge.add(reply.status, seconds, size)
        if self.edge.access is not None:
            method, target, host, headers = asked or self._asked()
            self._access("edge", method, target, host, headers, reply.status, size, seconds)

    def _asked(self) -> Asked:
        headers = self.headers
        return (self.parser.get_method().decode("ascii", "replace"), self.url.decode("latin-1"),
                headers.get(b"host", b"").decode("latin-1"), headers)

    def _access(self, role: str, method: str, target: str, host: str, headers: dict[bytes, bytes], status: int,
                size: int, seconds: float) -> None:
        assert self.edge.access is not None
        peer = self.transport.get_extra_info("peername")
        client = client_address(peer[0] if peer else "-", headers.get(b"x-forwarded-for"), self.edge.trust_forwarded)
        self.edge.access(role, client, method, target, host, status, size, seconds)

    def _wait(self, reply: Reply, keep_alive: bool) -> None:
        """Queue an answer behind those still owed, and read no more requests meanwhile."""
        self.queue.append((reply, keep_alive))
        self._pause_reading()

    def _write(self, reply: Reply, keep_alive: bool) -> None:
        transport = self.transport
        if transport.is_closing():
            reply.discard()
            return
        if reply.call is not None or reply.load is not None:
            # A function, or a build to load first: answered when that is done; later requests wait their turn.
            self.busy = True
            self._pause_reading()
            self.loop.create_task(self._run_function(reply, keep_alive))
            return
        head = reply.raw_head if reply.raw_head is not None else serialize(reply.headers)
        status = STATUS.get(reply.status) or b"HTTP/1.1 %d \r\n" % reply.status
        closing = b"" if keep_alive else b"connection: close\r\n"
        body = reply.body
        if len(body) <= JOIN_LIMIT:
            transport.write(b"".join((status, b"date: ", CLOCK.date(), b"\r\n", head, closing, b"\r\n", body)))
        else:  # a large body (a function's answer, up to its cap) is not copied just to prepend the head
            transport.write(b"".join((status, b"date: ", CLOCK.date(), b"\r\n", head, closing, b"\r\n")))
            transport.write(body)
        if reply.file is not None:
            self.busy = True
            self._pause_reading()
            self.sending = self.loop.create_task(self._send_file(reply, keep_alive))
        elif not keep_alive:
            self._close()

    async def _send_file(self, reply: Reply, keep_alive: bool) -> None:
        try:
            body = await open_body(reply, self.edge.ctx.blobs)
        except (OSError, StorageError):
            log.exception("blob %s is missing", reply.file)
            self._close()
            return
        with body:
            sent = await body.to_connection(self)
        self.sending = None
        if not sent:
            self._close()  # lost, or the file shrank: never leave a short body looking complete
            return
        self._done(keep_alive)

    async def drained(self) -> None:
        """Until the transport's buffer is under its high-water mark (or the connection is lost)."""
        if self.write_paused_at is not None and self.write_ready is not None:
            await self.write_ready.wait()

    async def _run_function(self, reply: Reply, keep_alive: bool) -> None:
        started = perf_counter()
        asked = reply.asked
        if reply.load is not None:
            reply = await self.edge.warm(reply)
        if reply.call is not None:
            call = reply.call
            answer = await self.edge.call(reply)
            asked = (call.method, call.path + (f"?{call.query}" if call.query else ""), call.host, call.headers)
        else:
            answer = reply
        self._count(answer, perf_counter() - started, asked)
        self.busy = False
        self._write(answer, keep_alive)
        if not self.busy:
            self._done(keep_alive)

    def _done(self, keep_alive: bool) -> None:
        self.busy = False
        if self.transport.is_closing():
            return
        if not keep_alive:
            self._close()
            return
        if self.write_paused_at is None:
            self._catch_up()

    # hand-over and refusals ----------------------------------------------------------------------

    def _hand_over(self) -> None:
        """Give this connection to uvicorn's protocol, replaying the request read so far."""
        if self.replay is None or self.begun != 1 or self.busy or self.queue:
            # Pipelined behind edge requests: the bytes to replay are not separable any more.
            self._refuse(421, "Misdirected Request: open a new connection for this host",
                         "API request pipelined behind edge requests")
            raise Stop()
        self.stopped = True
        self._stop_clock()
        self.server_state.connections.discard(self)
        protocol = ApiProtocol(
            config=self.config, server_state=self.server_state, app_state=self.app_state, _loop=self.loop,
            limits=self.limits, edge=self.edge,
        )
        transport = self.transport
        if not self.reading:
            transport.resume_reading()  # uvicorn's flow control starts from a connection being read
        protocol.connection_made(transport)
        transport.set_protocol(protocol)
        if self.rest is not None:
            self.replay.append(self.rest)
        protocol.data_received(b"".join(self.replay))
        # Stop feeding our own parser: the rest of this data belongs to the new protocol.
        raise Stop()

    def _api_client(self) -> bool:
        # The request's Host, once its header has been read that far; before that, a request is
        # taken for an environment's (the line of text), since nothing says it is the API's.
        host = self.headers.get(b"host")
        return host is not None and not self.edge_only and not self.edge.claims(host.decode("latin-1"))

    def _last_answer(self, status: int, text: str) -> None:
        api = self._api_client()
        content_type, body = refusal(status, text, api)
        headers = [(b"content-type", content_type), (b"x-content-type-options", b"nosniff"),
                   (b"cache-control", b"no-cache"), (b"content-length", str(len(body)).encode())]
        reply = Reply(status, headers, body)
        seconds = perf_counter() - self.began
        self.edge.traffic.roles["api" if api else "edge"].add(status, seconds, len(body))
        if self.edge.access is not None:
            host = self.headers.get(b"host", b"").decode("latin-1")
            self._access("api" if api else "edge", "-", self.url.decode("latin-1") or "-", host, self.headers,
                         status, len(body), seconds)
        # After any answers still owed, in order: queued like them, and the connection ends with it.
        if self.busy or self.write_paused_at is not None or self.queue:
            self._wait(reply, False)
        else:
            self._write(reply, False)

