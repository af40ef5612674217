"""The edge as an ASGI application: for edge requests on connections that uvicorn's own protocol
serves (a connection opened for the API that later asks for an environment's domain)."""

from __future__ import annotations

import os

from starlette.types import Receive, Scope, Send

from assethost.edge.httpparts import FILE_CHUNK, MAX_BODY_BYTES
from assethost.edge.runtime import Edge


class EdgeApp:
    def __init__(self, edge: Edge) -> None:
        self.edge = edge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        method = scope["method"]
        body = await _read_body(receive) if method == "POST" else None
        raw_path = scope.get("raw_path") or scope["path"].encode()
        reply = self.edge.responder.answer(
            method, scope["scheme"], raw_path.decode("latin-1"), scope["query_string"].decode("latin-1"), headers,
            body,
        )
        if reply.call is not None:
            reply = await self.edge.call(reply)
        await send({"type": "http.response.start", "status": reply.status, "headers": reply.headers})
        if reply.file is None:
            await send({"type": "http.response.body", "body": reply.body})
            return
        fd = os.open(reply.file, os.O_RDONLY)
        try:
            offset, remaining = reply.offset, reply.length
            while remaining > 0:
                chunk = os.pread(fd, min(FILE_CHUNK, remaining), offset)
                if not chunk:
                    break
                offset += len(chunk)
                remaining -= len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
            if remaining > 0:
                await send({"type": "http.response.body", "body": b""})
        finally:
            os.close(fd)


async def _read_body(receive: Receive) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        body.extend(message.get("body", b""))
        if len(body) > MAX_BODY_BYTES or not message.get("more_body"):
            break
    return bytes(body[:MAX_BODY_BYTES])
