"""uvicorn's own protocol for the connections the front hands to the API, with the front's bounds.

What `HttpToolsProtocol` (uvicorn 0.54) does by itself, measured on this machine: it bounds
nothing of a request's head (httptools gathers an unfinished header line for as long as it keeps
coming: 10 API connections sending 8 MiB of one header line each, +105 MiB); it has no header or
body timeout (its keep-alive timer is cancelled by the first byte of the next request and armed
again only after a response, so a partial request sent after an answer, or a stalled body, stays
open for good); and it parses everything it reads at once, each request becoming a queued cycle
of about 2 KiB (3000 pipelined requests in one write, +6 MiB); after an early answer (a 413
for an upload over the limits, say) it reads and drops the rest of the body, however long. It
does stop reading while 64 KiB of a body wait for the application, and waits for the transport
to drain before each response message.

This subclass adds what is missing the way the front does it: the parser is fed in slices (so a
header still incomplete is counted, and parsing stops while a request waits behind the one being
answered), the same timer watches the same waits (it replaces uvicorn's keep-alive timer), and
refusals are the front's, in Twilio's error body (uvicorn's own would be text). A body that stops
arriving ends with the front's 408 once the application is told its client is gone: it is the
only body timeout (an upload's receiver has none of its own). WebSocket upgrades are not served
(uvicorn runs with `ws="none"`): such a request is answered as plain HTTP/1.1 and the connection
closed after it. tests/security/test_front.py holds each case.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from assethost.config import FrontLimits
from assethost.edge.bounds import BODY, HEAD, IDLE, SLICE, Bounded, Stop, log, simple_response

if TYPE_CHECKING:
    from assethost.edge.runtime import Edge


class ApiProtocol(Bounded, HttpToolsProtocol):
    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None, *, limits: FrontLimits, edge: Edge) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self.edge = edge
        self.stopped = False
        self.phase = IDLE
        self.head_bytes = 0
        self.head_fresh = False
        self.held: bytes | None = None  # read but not parsed while a request waits to be answered
        # The request whose application task runs (uvicorn's `cycle` is the newest one read).
        self.answering: RequestResponseCycle | None = None
        # The answer that ends the connection, once the answers owed before it are sent.
        self.refusal: bytes | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self.stopped = True
        self.held = None
        self._stop_clock()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        self._writes_paused()

    def resume_writing(self) -> None:
        super().resume_writing()
        self._resumed()

    def data_received(self, data: bytes) -> None:
        self.last_read = self.loop.time()
        if self.stopped:
            return
        if self.held is not None:
            # uvicorn reads on when the application asks for more body; keep the order, stop again.
            self.held += data
            self.flow.pause_reading()
            return
        self._unset_keepalive_if_required()
        self._feed_slices(memoryview(data))

    def _feed_slices(self, view: memoryview) -> None:
        for offset in range(0, len(view), SLICE):
            if self.pipeline:
                # A request already waits behind the one being answered: parse on once it is answered.
                self.held = bytes(view[offset:])
                self.flow.pause_reading()
                return
            self._feed(view[offset:offset + SLICE])
            if self.stopped:
                return

    def _feed(self, piece: memoryview) -> None:
        try:
            self.parser.feed_data(piece)
        except httptools.HttpParserCallbackError as exc:
            if not isinstance(exc.__context__, Stop):  # uvicorn's own callbacks refusing the request
                self._refuse(400, "Bad Request: malformed request",
                             f"malformed request ({exc.__context__ or exc})")
        except httptools.HttpParserUpgrade:
            pass  # declined: see on_message_complete
        except httptools.HttpParserError as exc:
            self._refuse(400, "Bad Request: malformed request", f"malformed request ({exc})")
        if self.phase == HEAD and not self.stopped:
            if self.head_fresh:
                self.head_fresh = False  # some of these bytes may be the requests before it
            else:
                self._count_head(len(piece))

    def _release(self) -> None:
        """Parse what was held back, once no request waits any more."""
        if self.held is None or self.stopped or self.transport.is_closing():
            return
        if self.pipeline:
            self.flow.pause_reading()
            return
        held, self.held = self.held, None
        self._feed_slices(memoryview(held))
        if self.held is None and not self.stopped:
            self.flow.resume_reading()

    def _serving(self) -> bool:
        if self.held is not None or self.pipeline or self.refusal is not None:
            return True
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            return False
        # The application has the request: the client is waited on only for the body it reads.
        return self.phase != BODY or self.flow.read_paused

    def _disconnect_app(self) -> None:
        """Tell the application that its client is gone before the transport does (which may
        first report the buffer drained), so that it sends nothing more."""
        for cycle in (self.answering, self.cycle):
            if cycle is not None and not cycle.response_complete:
                cycle.disconnected = True
                cycle.message_event.set()

    def _drop(self) -> None:
        self._disconnect_app()
        super()._drop()

    def _api_client(self) -> bool:
        # A connection handed to the API: unless the request refused is one for an environment's domain.
        host = next((value for name, value in reversed(self.headers or []) if name == b"host"), None)
        return host is None or not self.edge.claims(host.decode("latin-1"))

    def _last_answer(self, status: int, text: str) -> None:
        cycle = self.cycle  # the newest request (uvicorn's `cycle`); `answering` may be an older one
        if cycle is not None and self.phase == BODY:  # the refused request is the one uvicorn has
            self._disconnect_app()
            if cycle.response_started:  # or answered already, before its body was all in
                self._close()
                return
        elif cycle is not None and not cycle.response_complete:
            # A later request than the one being answered: refused once those before it are answered.
            self.refusal = simple_response(status, text, self._api_client())
            self.flow.pause_reading()
            return
        self.transport.write(simple_response(status, text, self._api_client()))
        self._close()

    # httptools callbacks --------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.phase = HEAD
        self.head_since = self.last_read
        self.head_bytes = 0
        self.head_fresh = True
        self._soon(self.last_read + self.limits.header_timeout)

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.limits.max_request_line:
            self._refuse_target()
            raise Stop()

    def on_headers_complete(self) -> None:
        if self.parser.get_method() == b"CONNECT":
            self._refuse(400, "Bad Request: CONNECT is not served here", "CONNECT")
            raise Stop()
        if sum(1 for name, _ in self.headers if name == b"host") > 1:
            self._refuse(400, "Bad Request: more than one Host header", "more than one Host header")
            raise Stop()
        super().on_headers_complete()
        if not self.pipeline:  # uvicorn started it at once
            self.answering = self.cycle
        self.phase = BODY
        self._soon(self.last_read + self.limits.body_timeout)

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if cycle.response_complete and self.loop.time() - self.idle_since > self.limits.body_timeout:
            # Answered early (a 413, say) and still coming: read and dropped no longer than this,
            # as nginx's lingering_time does.
            log.info("closed %s: request body still arriving %g s after its answer", self._peer(),
                     self.limits.body_timeout)
            self.stopped = True
            self._close()
            raise Stop()
        super().on_body(body)

    def on_message_complete(self) -> None:
        self.phase = IDLE
        if self.cycle.response_complete:  # answered before its body was all in: idle from now
            self.idle_since = self.last_read
        if self.parser.should_upgrade():
            # Declined: the bytes after an upgrade request are not HTTP/1.1 any more.
            self.stopped = True
            self.cycle.keep_alive = False
        super().on_message_complete()

    def on_response_complete(self) -> None:
        following = self.pipeline[-1][0] if self.pipeline else None  # what uvicorn starts next
        super().on_response_complete()
        if self.transport.is_closing():  # uvicorn closed it after this answer (Connection: close, HTTP/1.0)
            self._closing()
            return
        self._unset_keepalive_if_required()  # uvicorn's own timer: ours covers the idle wait too
        if following is not None:
            self.answering = following
        if self.refusal is not None and self.cycle.response_complete:
            self.transport.write(self.refusal)
            self._close()
            return
        now = self.loop.time()
        self.idle_since = self.head_since = now  # the client was waiting on us until now
        self._soon(now + self.limits.keepalive_timeout)
        if self.held is not None:
            self.flow.pause_reading()  # uvicorn has just resumed reading
            self.loop.call_soon(self._release)  # not inside the application's send()
