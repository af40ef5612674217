"""Sending a reply's file: one place for both fronts.

In our own front (`FrontProtocol`) a file goes out by `os.sendfile` on the connection's socket:
the kernel copies it from the page cache, and no byte of it passes through Python. Under an ASGI
server it goes out by `http.response.pathsend` when the server advertises that extension and the
whole file is wanted; otherwise (a range, a function's answer in a temporary file, a server
without the extension, a TLS connection of our own front) in pieces of FILE_CHUNK.

The file is opened when the reply is sent (`open_body`): a node's cache may have evicted a blob
since the snapshot named its path, and then it is fetched again on a thread, never on the event
loop, before the answer goes out.

Either way the connection's bounds hold: a file is sent only as fast as the client takes it, and
a client that takes nothing is dropped at --send-timeout (see `Bounded` in `edge/bounds.py`:
sendfile's bytes wait in the kernel's send queue, which is what the send clock counts).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from assethost.edge.httpparts import FILE_CHUNK

if TYPE_CHECKING:
    from starlette.types import Scope, Send

    from assethost.core.ports import BlobStore
    from assethost.edge.front import FrontProtocol
    from assethost.edge.responder import Reply

PATHSEND = "http.response.pathsend"


class ShortFile(Exception):
    """The file ended before the bytes the reply promised: the answer must not look complete."""


async def open_body(reply: Reply, blobs: BlobStore) -> FileBody:
    """The reply's file, opened, and marked as used for the cache's recency. Raises OSError (or
    StorageError, when a blob evicted from the cache cannot be fetched again)."""
    try:
        body = FileBody(reply)
    except FileNotFoundError:
        if reply.blob is None:
            raise
        reply.file = str(await asyncio.to_thread(_fetch_again, blobs, reply.blob, reply.encoding))
        body = FileBody(reply)
    if body.path is not None:
        blobs.used(body.path)
    return body


def _fetch_again(blobs: BlobStore, digest: str, encoding: str | None) -> Path:
    if encoding is None:
        return blobs.local_path(digest)
    path = blobs.variant_path(digest, encoding)
    if path is None:
        raise FileNotFoundError(f"the {encoding} variant of {digest} is gone from the store")
    return path


class FileBody:
    """The file part of a reply, opened; closed with `close` (or as a context manager)."""

    def __init__(self, reply: Reply) -> None:
        self.path = reply.file if isinstance(reply.file, str) else None
        self.offset = reply.offset
        self.length = reply.length
        self.source = reply.open_file()
        self.fd = self.source.fileno()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.source.close()

    def pieces(self) -> Iterator[bytes]:
        """The bytes to send, FILE_CHUNK at a time, read when asked for."""
        offset, remaining = self.offset, self.length
        while remaining > 0:
            chunk = os.pread(self.fd, min(FILE_CHUNK, remaining), offset)
            if not chunk:
                raise ShortFile()
            offset += len(chunk)
            remaining -= len(chunk)
            yield chunk

    def whole_path(self) -> str | None:
        """The file's path when the reply is all of it (what `pathsend` can name), else None."""
        if self.path is None or self.offset != 0:
            return None
        return self.path if os.fstat(self.fd).st_size == self.length else None

    # our own front ----------------------------------------------------------------------------

    async def to_connection(self, conn: FrontProtocol) -> bool:
        """Send the bytes on the front's connection after what was written to it already. True
        when all of them went; False when the connection was lost or the file fell short (then
        the caller closes it: a short body must never look complete)."""
        transport = conn.transport
        sock = transport.get_extra_info("socket")
        if sock is None or transport.get_extra_info("sslcontext") is not None:
            return await self._in_pieces(conn)
        # Our own descriptor of the socket: if the transport closes its own, this one never comes
        # to name another connection's socket, and the socket lives until we let go of it.
        try:
            out = os.dup(sock.fileno())
        except (OSError, ValueError):
            return False
        try:
            return await self._sendfile(conn, out)
        finally:
            os.close(out)

    async def _sendfile(self, conn: FrontProtocol, out: int) -> bool:
        transport = conn.transport
        # What the transport still holds (the head, answers before this one) goes first.
        while transport.get_write_buffer_size() and not transport.is_closing():
            await _client_takes_some(conn, out)
            await asyncio.sleep(0)  # the transport's own writer runs on the same readiness
        offset, remaining = self.offset, self.length
        while remaining > 0:
            if transport.is_closing():
                return False
            try:
                sent = os.sendfile(out, self.fd, offset, min(FILE_CHUNK, remaining))
            except BlockingIOError:
                await _client_takes_some(conn, out)  # the kernel's send queue is full
                continue
            except OSError:
                return False  # the client went away (EPIPE, ECONNRESET)
            if sent == 0:
                return False  # the file shrank
            offset += sent
            remaining -= sent
            if sent == FILE_CHUNK:
                await asyncio.sleep(0)  # a fast client does not keep the others waiting
        return True

    async def _in_pieces(self, conn: FrontProtocol) -> bool:
        """Through the transport, a piece at a time as its buffer drains (a TLS connection)."""
        transport = conn.transport
        try:
            for chunk in self.pieces():
                if transport.is_closing():
                    return False
                transport.write(chunk)
                await conn.drained()
        except ShortFile:
            return False
        return not transport.is_closing()

    # ASGI -----------------------------------------------------------------------------------------

    async def to_asgi(self, scope: Scope, send: Send) -> None:
        """Send the bytes as the body of a response whose start was sent."""
        path = self.whole_path() if PATHSEND in scope.get("extensions", {}) else None
        if path is not None:
            await send({"type": PATHSEND, "path": path})
            return
        # A piece at a time: the server waits for the transport to drain before each one.
        pieces = self.pieces()
        remaining = self.length
        try:
            for chunk in pieces:
                remaining -= len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
        except ShortFile:
            # Ending the body here leaves it short of its Content-Length: the server closes.
            await send({"type": "http.response.body", "body": b""})


async def _client_takes_some(conn: FrontProtocol, fd: int) -> None:
    """Until the socket can take more bytes, i.e. the client acknowledged some of what waits. The
    send clock runs meanwhile, as it does while the transport's buffer is over its mark: a client
    that takes nothing is dropped at --send-timeout, and this is cancelled with its connection."""
    conn._writes_paused()
    await _writable(conn.loop, fd)
    conn._resumed()


async def _writable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    ready: asyncio.Future[Any] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(fd, wake)
    try:
        await ready
    finally:
        with contextlib.suppress(Exception):
            loop.remove_writer(fd)
