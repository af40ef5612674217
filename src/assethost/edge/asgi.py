"""The edge as an ASGI application: for edge requests on connections that uvicorn's own protocol
serves (a connection opened for the API that later asks for an environment's domain)."""

from __future__ import annotations

import time

from starlette.types import Receive, Scope, Send

from assethost.edge.responder import Reply, plain
from assethost.edge.runtime import Edge
from assethost.edge.sender import open_body
from assethost.web.traffic import client_address


class EdgeApp:
    def __init__(self, edge: Edge, max_body_bytes: int) -> None:
        self.edge = edge
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.monotonic()
        headers = dict(scope["headers"])
        method = scope["method"]
        body = None
        length = headers.get(b"content-length")
        if length is not None and int(length) > self.max_body_bytes:
            return await _too_large(send)
        if method == "POST":
            body = await _read_body(receive, self.max_body_bytes)
            if body is None:
                return await _too_large(send)
        raw_path = scope.get("raw_path") or scope["path"].encode()
        reply = self.edge.responder.answer(
            method, scope["scheme"], raw_path.decode("latin-1"), scope["query_string"].decode("latin-1"), headers,
            body,
        )
        if reply.call is not None:
            reply = await self.edge.call(reply)
        self._count(scope, headers, reply, time.monotonic() - started)
        try:
            await send({"type": "http.response.start", "status": reply.status, "headers": reply.headers})
            if reply.file is None:
                await send({"type": "http.response.body", "body": reply.body})
                return
            with await open_body(reply, self.edge.ctx.blobs) as file:
                await file.to_asgi(scope, send)
        finally:
            reply.discard()  # a temporary file is let go of even if sending failed before it began

    def _count(self, scope: Scope, headers: dict[bytes, bytes], reply: Reply, seconds: float) -> None:
        size = len(reply.body) + (reply.length if reply.file is not None else 0)
        self.edge.traffic.edge.add(reply.status, seconds, size)
        if self.edge.access is not None:
            client = scope.get("client")
            target = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
            if scope["query_string"]:
                target += "?" + scope["query_string"].decode("latin-1")
            peer = client_address(client[0] if client else "-", headers.get(b"x-forwarded-for"),
                                  self.edge.trust_forwarded)
            self.edge.access("edge", peer, scope["method"], target, headers.get(b"host", b"").decode("latin-1"),
                             reply.status, size, seconds)


async def _too_large(send: Send) -> None:
    reply = plain(413, "Request body too large\n", [(b"connection", b"close")])
    await send({"type": "http.response.start", "status": 413, "headers": reply.headers})
    await send({"type": "http.response.body", "body": reply.body})


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None when it is longer than `limit` (then not read to its end)."""
    body = bytearray()
    while True:
        message = await receive()
        body.extend(message.get("body", b""))
        if len(body) > limit:
            return None
        if not message.get("more_body"):
            return bytes(body)
