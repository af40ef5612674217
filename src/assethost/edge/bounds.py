"""What the two HTTP protocols of the port (the edge's `FrontProtocol` and `ApiProtocol`, uvicorn's
own with the front's bounds) share: the phases of reading a request, one timer per connection for
every wait on the client, and how a connection is refused."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import struct
import termios
from http import HTTPStatus

from assethost.config import FrontLimits
from assethost.edge.httpparts import Clock
from assethost.web.errors import refusal_body

log = logging.getLogger("assethost.front")

# Where a connection is in reading its next request.
IDLE, HEAD, BODY = 0, 1, 2
# The client-side wait a connection is in when its timer fires.
SENDING = 3

# The most bytes handed to the parser at once. Between two slices the front can stop reading (a
# pipelining client that reads no answers) and count the bytes of a header still incomplete:
# httptools keeps an unfinished header line to itself, so that count is the only bound on it.
SLICE = 4096

STATUS = {
    status.value: b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode("latin-1")) for status in HTTPStatus
}  # functions may answer with any status; 413's phrase is "Request Entity Too Large" here
CLOCK = Clock()


def refusal(status: int, text: str, api: bool) -> tuple[bytes, bytes]:
    """The content type and body of a refusal: Twilio's error body for a request to the API, as
    its clients expect, and the line of text for anyone else."""
    if api:
        return b"application/json", refusal_body(status, text)
    return b"text/plain; charset=utf-8", text.encode() + b"\n"


def simple_response(status: int, text: str, api: bool = False) -> bytes:
    """A whole short answer that ends the connection."""
    content_type, body = refusal(status, text, api)
    return (
        STATUS[status] + b"date: " + CLOCK.date() + b"\r\ncontent-type: " + content_type + b"\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
    )


# Bytes a client must take within --send-timeout to stay: more than a receive buffer of Linux's
# default size (128 KiB) holds, so that one that only lets its buffer fill is not counted as reading.
SEND_PROGRESS = 256 * 1024


class Stop(Exception):
    """Raised inside a parser callback to stop parsing: the connection was refused or handed over."""


class Bounded:
    """The waits on one client, nginx-style: the whole header within `header_timeout` of its first
    byte, each read of a body within `body_timeout` of the last, the next request within
    `keepalive_timeout`, and some of our answer read within `send_timeout`, the last answer of a
    connection being closed included.

    One timer per connection, re-armed when it fires, or when a wait begins that ends before the
    timer would fire: a request costs a few comparisons, never a timer of its own."""

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    limits: FrontLimits
    phase: int
    idle_since: float  # when the connection last became idle (or was opened)
    head_since: float  # when the request being read began
    last_read: float  # when bytes last arrived
    write_paused_at: float | None  # when the transport's buffer went over its high-water mark
    # When the transport was closed with bytes unsent, or later last drained below its low mark.
    closed_at: float | None = None
    unsent_mark: int = 0  # bytes unsent when the send clock last started (or the client last took some)
    stopped: bool  # nothing more of this connection is parsed here
    head_bytes: int  # bytes counted of the header being read
    url_too_long: bool = False  # the request's target passed max_request_line; see FrontProtocol.on_url
    _timer: asyncio.TimerHandle | None = None
    _timer_at: float = float("inf")

    def _serving(self) -> bool:
        """True while we, not the client, are the ones to move (a file, a function or the API answering)."""
        raise NotImplementedError

    def _last_answer(self, status: int, text: str) -> None:
        """Answer with `status` after what is already owed to the client, then close."""
        raise NotImplementedError

    def _api_client(self) -> bool:
        """Whether the request being refused is one for the API, as far as is known so far."""
        raise NotImplementedError

    def _drop(self) -> None:
        # close() would wait for the buffer to drain, which is what this client never lets happen.
        self.transport.abort()

    def _close(self) -> None:
        """End the connection once the client has taken what was sent to it (the transport waits
        for that), or drop it if it takes none of it for `send_timeout`."""
        self.transport.close()
        self._closing()

    def _closing(self) -> None:
        """The transport was just closed: the client now has `send_timeout` to take what is left."""
        if self.closed_at is None and self.transport.get_write_buffer_size():
            self.closed_at = self.loop.time()
            self.unsent_mark = self._unsent()
            self._soon(self.closed_at + self.limits.send_timeout)

    def _writes_paused(self) -> None:
        """The transport's buffer went over its high-water mark: the client now has `send_timeout`
        to take some of it."""
        self.write_paused_at = self.loop.time()
        self.unsent_mark = self._unsent()
        self._soon(self.write_paused_at + self.limits.send_timeout)

    def _unsent(self) -> int:
        """What the client has not yet acknowledged: our buffer and the kernel's send queue (the
        kernel taking bytes off our buffer is not the client reading them)."""
        queued = 0
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, ValueError):
                queued = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
        return self.transport.get_write_buffer_size() + queued

    def _took_some(self, now: float) -> bool:
        """Whether the client took SEND_PROGRESS bytes or more of what waits since the send clock
        last started; if so the clock starts again. Like nginx's send_timeout this bounds the time
        between the client's reads, not the time to drain a whole buffer, so a slow but steady
        reader stays; the threshold keeps a client that only lets its receive window fill from
        counting as reading."""
        unsent = self._unsent()
        took = unsent <= self.unsent_mark - SEND_PROGRESS
        if took or unsent > self.unsent_mark:
            self.unsent_mark = unsent
        if took:
            if self.write_paused_at is not None:
                self.write_paused_at = now
            if self.closed_at is not None:
                self.closed_at = now
        return took

    def _resumed(self) -> None:
        """The transport's buffer drained below its low mark."""
        self.write_paused_at = None
        if self.transport.is_closing():  # the client took some of the last answer: the rest in turn
            self.closed_at = self.loop.time()

    def _start_clock(self) -> None:
        now = self.loop.time()
        self.idle_since = self.head_since = self.last_read = now
        self.write_paused_at = None
        self._arm(now + self.limits.keepalive_timeout)

    def _stop_clock(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = float("inf")

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_at(when, self._tick)
        self._timer_at = when

    def _soon(self, when: float) -> None:
        """A wait ending at `when` began: bring the timer forward if it would fire later."""
        if when < self._timer_at and self._timer is not None:
            self._arm(when)

    def _due(self) -> tuple[float, int] | None:
        limits = self.limits
        if self.write_paused_at is not None:
            return self.write_paused_at + limits.send_timeout, SENDING
        if self.transport.is_closing():  # with bytes unsent (see _tick): the last the client is owed
            if self.closed_at is None:  # closed by uvicorn itself (after an application error, say)
                self.closed_at = self.loop.time()
            return self.closed_at + limits.send_timeout, SENDING
        if self.stopped or self._serving():  # stopped: no more requests are read, only answers owed
            return None
        if self.phase == IDLE:
            return self.idle_since + limits.keepalive_timeout, IDLE
        if self.phase == HEAD:
            return self.head_since + limits.header_timeout, HEAD
        return self.last_read + limits.body_timeout, BODY

    def _finished(self) -> bool:
        """Closed, or closing with nothing left to send: no wait is left but the transport's own."""
        return self.transport.is_closing() and not self.transport.get_write_buffer_size()

    def _tick(self) -> None:
        self._timer = None
        self._timer_at = float("inf")
        if self._finished():
            return
        now = self.loop.time()
        due = self._due()
        if due is not None and now >= due[0] and due[1] == SENDING and self._took_some(now):
            due = self._due()  # the send clock started again
        elif due is not None and now >= due[0]:
            self._expire(due[1])
            if due[1] == SENDING or self._finished():
                return
            due = self._due()  # a 408 waiting behind answers still owed, or on the client to take it
        self._arm(due[0] if due is not None else now + self.limits.shortest_wait)

    def _expire(self, wait: int) -> None:
        self.stopped = True
        if wait == IDLE:
            self._close()  # what may be left of the last answer must still be taken
        elif wait == SENDING:
            log.info("dropped %s: it read none of its answer for %g s", self._peer(),
                     self.limits.send_timeout)
            self._drop()
        elif wait == HEAD and self.url_too_long:  # the first bound it passed
            self._refuse_target()
        elif wait == HEAD:
            timeout = self.limits.header_timeout
            self._refuse(408, f"Request Timeout: the request header was not complete within {timeout:g} s",
                         f"request header not complete after {timeout:g} s")
        else:
            # An upload too: its receiver learns that its client is gone and keeps nothing.
            timeout = self.limits.body_timeout
            self._refuse(408, f"Request Timeout: the request body stopped arriving (nothing for {timeout:g} "
                         "s); nothing of it was kept", f"request body stalled for {timeout:g} s")

    def _refuse_target(self) -> None:
        limit = self.limits.max_request_line
        self._refuse(414, f"URI Too Long: the request target is over {limit} bytes",
                     f"request target over {limit} bytes")

    def _refuse(self, status: int, text: str, why: str | None = None) -> None:
        """End the connection over a request it may not make, with one line in the log saying why
        (unless the caller logged it already). The clock runs on: the answers still owed, this
        one last, must be taken within `send_timeout`."""
        if why is not None:
            log.info("%d to %s: %s", status, self._peer(), why)
        self.stopped = True
        self._last_answer(status, text)

    def _peer(self) -> str:
        peer = self.transport.get_extra_info("peername")
        return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "client"

    def _count_head(self, size: int) -> None:
        """`size` more bytes arrived while the request's header was still incomplete."""
        self.head_bytes += size
        if self.head_bytes <= self.limits.max_header_bytes:
            return
        if self.url_too_long:  # the first bound it passed
            self._refuse_target()
        else:
            limit = self.limits.max_header_bytes
            self._refuse(431, f"Request Header Fields Too Large: the request line and header fields are over "
                         f"{limit} bytes", f"request header over {limit} bytes")


_last_refusal_log = 0.0


def note_refusal(loop: asyncio.AbstractEventLoop, limit: int) -> None:
    """Log that connections are being refused, at most once a minute per process."""
    global _last_refusal_log
    now = loop.time()
    if now - _last_refusal_log >= 60.0:
        _last_refusal_log = now
        log.warning("refusing connections: %d are open, the most this process takes (--max-connections)",
                    limit)
