"""The edge as an ASGI application."""

from __future__ import annotations

import os
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

from assethost.edge.responder import Reply
from assethost.edge.runtime import Edge

MAX_FORM_BYTES = 1024 * 1024
FILE_CHUNK = 1024 * 1024
_FORM = b"application/x-www-form-urlencoded"


class EdgeApp:
    def __init__(self, edge: Edge, public_scheme: str | None = None, trust_forwarded: bool = False) -> None:
        self.edge = edge
        self.public_scheme = public_scheme
        self.trust_forwarded = trust_forwarded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        method = scope["method"]
        scheme = self.public_scheme or scope["scheme"]
        host = headers.get(b"host", b"").decode("latin-1")
        if self.trust_forwarded:
            proto = headers.get(b"x-forwarded-proto")
            fwd_host = headers.get(b"x-forwarded-host")
            if proto:
                scheme = proto.decode("latin-1").split(",")[0].strip()
            if fwd_host:
                host = fwd_host.decode("latin-1").split(",")[0].strip()
        form = body = None
        if method == "POST":
            body = await _read_body(receive)
            if headers.get(b"content-type", b"").split(b";")[0].strip() == _FORM:
                form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        raw_path = scope.get("raw_path") or scope["path"].encode()
        reply = self.edge.responder.respond(
            method, scheme, host, raw_path.decode("latin-1"), scope["query_string"].decode("latin-1"), headers, form,
            body,
        )
        if reply.call is not None and self.edge.functions is None:
            reply = Reply(404, [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"10")],
                          b"Not Found\n")
        elif reply.call is not None:
            result = await self.edge.functions.invoke(reply.call)
            reply = Reply(result.status, result.headers, result.body)
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
        if len(body) > MAX_FORM_BYTES or not message.get("more_body"):
            break
    return bytes(body[:MAX_FORM_BYTES])
