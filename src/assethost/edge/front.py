"""The HTTP front of the one port: a protocol that answers edge requests itself and hands every
other connection to uvicorn's own protocol, which runs the API through ASGI.

Why not ASGI for the edge too: measured on this 2-core machine, uvicorn's per-request ASGI
machinery (scope dict, a task, two send events) costs more CPU than the whole edge decision, so
serving deployed assets through it capped out near a third of nginx. Here a request is parsed by
httptools, answered by the same `Responder` the ASGI edge uses, and written with one
`transport.write` of pre-serialised headers. The hand-over is the same move uvicorn itself makes
for WebSocket upgrades: start the other protocol on this transport and replay the bytes read.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from http import HTTPStatus
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from assethost.edge.httpparts import FILE_CHUNK, MAX_BODY_BYTES, Clock
from assethost.edge.responder import Reply
from assethost.edge.snapshot import serialize

log = logging.getLogger("assethost.edge")

_STATUS = {
    status.value: b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode("latin-1")) for status in HTTPStatus
}  # functions may answer with any status; 413's phrase is "Request Entity Too Large" here
_clock = Clock()


def _simple(status: int, text: bytes) -> bytes:
    return (
        _STATUS[status] + b"date: " + _clock.date() + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(text), text)
    )


class FrontProtocol(asyncio.Protocol):
    """Constructed by uvicorn (as its `http` protocol class) for every accepted connection."""

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        if not config.loaded:
            config.load()
        self.config = config
        self.server_state = server_state
        self.app_state = app_state
        self.loop = _loop or asyncio.get_event_loop()
        dispatch = config.app
        self.edge = dispatch.edge
        self.edge_only = dispatch.api is None
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.scheme = "http"
        # Data received since the start of the request now being parsed, to replay on a hand-over.
        self.pending: list[bytes] = []
        self.idle = True
        self.begun = 0  # requests begun within `pending`
        self.handed_over = False
        self.busy = False  # a file is being streamed; later replies wait in `queue`
        self.queue: deque[tuple[Reply, bool]] = deque()
        self.write_ready: asyncio.Event | None = None
        self.keepalive_timer: asyncio.TimerHandle | None = None
        self.last_active = 0.0
        self._reset_request()

    def _reset_request(self) -> None:
        self.url = b""
        self.headers: dict[bytes, bytes] = {}
        self.body: bytearray | None = None
        self.too_large = False
        self.is_edge = False
        self.duplicate_host = False

    # asyncio.Protocol ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server_state.connections.add(self)
        self.scheme = "https" if transport.get_extra_info("sslcontext") else "http"
        self.last_active = self.loop.time()
        self._arm_keepalive()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)
        self._cancel_keepalive()
        if self.write_ready is not None:
            self.write_ready.set()

    def pause_writing(self) -> None:
        if self.write_ready is None:
            self.write_ready = asyncio.Event()
        self.write_ready.clear()

    def resume_writing(self) -> None:
        if self.write_ready is not None:
            self.write_ready.set()

    def data_received(self, data: bytes) -> None:
        self.last_active = self.loop.time()
        if self.idle:
            self.pending = [data]
            self.begun = 0
        else:
            self.pending.append(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if not isinstance(exc.__context__, _HandedOver):
                log.exception("edge request failed")
                self._fail(500, b"Internal Server Error\n")
        except httptools.HttpParserError:
            self._fail(400, b"Bad Request\n")
        except httptools.HttpParserUpgrade:
            self._fail(400, b"Upgrades are not served here\n")

    def shutdown(self) -> None:
        """Called by uvicorn on graceful shutdown."""
        if self.transport is not None and self.idle and not self.busy:
            self.transport.close()

    # httptools callbacks -----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.idle = False
        self.begun += 1
        self._reset_request()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"host" and name in self.headers:
            self.duplicate_host = True  # which one would the signature be for? refuse both
        self.headers[name] = value

    def on_headers_complete(self) -> None:
        if self.duplicate_host:
            self._fail(400, b"Bad Request: more than one Host header\n")
            raise _HandedOver()
        host = self.headers.get(b"host", b"").decode("latin-1")
        if self.edge_only or self.edge.claims(host):
            self.is_edge = True
            if self.parser.get_method() == b"POST":
                self.body = bytearray()
                if self.headers.get(b"expect", b"").lower() == b"100-continue":
                    self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # type: ignore[union-attr]
            return
        self._hand_over()

    def on_body(self, body: bytes) -> None:
        if self.body is None:
            return
        if len(self.body) + len(body) > MAX_BODY_BYTES:
            self.too_large = True
            return
        self.body += body

    def on_message_complete(self) -> None:
        self.idle = True
        if not self.is_edge:
            return
        keep_alive = self.parser.should_keep_alive()
        if self.too_large:
            self._fail(413, b"Request body too large\n")
            return
        self._emit(self._respond(), keep_alive)

    # serving -------------------------------------------------------------------------------------

    def _respond(self) -> Reply:
        url = httptools.parse_url(self.url)
        return self.edge.responder.answer(
            self.parser.get_method().decode("ascii"), self.scheme, url.path.decode("latin-1"),
            (url.query or b"").decode("latin-1"), self.headers, bytes(self.body) if self.body is not None else None,
        )

    def _emit(self, reply: Reply, keep_alive: bool) -> None:
        if self.busy:
            self.queue.append((reply, keep_alive))
            return
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if reply.call is not None:
            # A function: answered when its worker is done; later requests wait their turn.
            self.busy = True
            transport.pause_reading()
            self.loop.create_task(self._run_function(reply, keep_alive))
            return
        head = reply.raw_head if reply.raw_head is not None else serialize(reply.headers)
        status = _STATUS.get(reply.status) or b"HTTP/1.1 %d \r\n" % reply.status
        closing = b"" if keep_alive else b"connection: close\r\n"
        transport.write(b"".join((status, b"date: ", _clock.date(), b"\r\n", head, closing, b"\r\n", reply.body)))
        if reply.file is not None:
            self.busy = True
            transport.pause_reading()
            self.loop.create_task(self._send_file(reply, keep_alive))
        elif not keep_alive:
            transport.close()

    async def _send_file(self, reply: Reply, keep_alive: bool) -> None:
        transport = self.transport
        assert transport is not None and reply.file is not None
        try:
            fd = os.open(reply.file, os.O_RDONLY)
        except OSError:
            log.exception("blob %s is missing", reply.file)
            transport.close()
            return
        try:
            offset, remaining = reply.offset, reply.length
            while remaining > 0 and not transport.is_closing():
                chunk = os.pread(fd, min(FILE_CHUNK, remaining), offset)
                if not chunk:
                    transport.close()  # the file shrank: never send a short body as complete
                    return
                transport.write(chunk)
                offset += len(chunk)
                remaining -= len(chunk)
                if self.write_ready is not None and not self.write_ready.is_set():
                    await self.write_ready.wait()
        finally:
            os.close(fd)
        self.busy = False
        if transport.is_closing():
            return
        if not keep_alive:
            transport.close()
            return
        transport.resume_reading()
        self.last_active = self.loop.time()
        while self.queue and not self.busy:
            queued, alive = self.queue.popleft()
            self._emit(queued, alive)

    async def _run_function(self, reply: Reply, keep_alive: bool) -> None:
        answer = await self.edge.call(reply)
        self.busy = False
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.resume_reading()
        self.last_active = self.loop.time()
        self._emit(answer, keep_alive)
        while self.queue and not self.busy:
            queued, alive = self.queue.popleft()
            self._emit(queued, alive)

    # hand-over and failures ------------------------------------------------------------------------

    def _hand_over(self) -> None:
        """Give this connection to uvicorn's protocol, replaying the request read so far."""
        if self.begun != 1 or self.busy or self.queue:
            # Pipelined behind edge requests: the bytes to replay are not separable any more.
            self._fail(421, b"Misdirected Request: open a new connection for this host\n")
            raise _HandedOver()
        self.handed_over = True
        self._cancel_keepalive()
        self.server_state.connections.discard(self)
        protocol = HttpToolsProtocol(
            config=self.config, server_state=self.server_state, app_state=self.app_state, _loop=self.loop,
        )
        transport = self.transport
        assert transport is not None
        protocol.connection_made(transport)
        transport.set_protocol(protocol)
        protocol.data_received(b"".join(self.pending))
        # Stop feeding our own parser: the rest of this data belongs to the new protocol.
        raise _HandedOver()

    def _fail(self, status: int, text: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_simple(status, text))
            self.transport.close()

    def _arm_keepalive(self, delay: float | None = None) -> None:
        # One timer per connection, re-armed only when it fires: cheaper than a timer per request.
        self._cancel_keepalive()
        delay = self.config.timeout_keep_alive if delay is None else delay
        self.keepalive_timer = self.loop.call_later(delay, self._keepalive_expired)

    def _cancel_keepalive(self) -> None:
        if self.keepalive_timer is not None:
            self.keepalive_timer.cancel()
            self.keepalive_timer = None

    def _keepalive_expired(self) -> None:
        self.keepalive_timer = None
        if self.transport is None or self.transport.is_closing():
            return
        quiet = self.loop.time() - self.last_active
        if self.idle and not self.busy and quiet >= self.config.timeout_keep_alive:
            self.transport.close()
        else:
            self._arm_keepalive(max(0.1, self.config.timeout_keep_alive - quiet))


class _HandedOver(Exception):
    """Raised inside a parser callback to stop parsing once the connection changed hands."""
