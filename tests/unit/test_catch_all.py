"""CatchAll, the guard of the API origin: an unexpected error answers Twilio's 500 body, and the
application returns normally (so uvicorn keeps the connection) unless a body was cut short."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json

import pytest
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from assethost.api.app import CatchAll
from assethost.api.errors import handle_unexpected

TWILIO_500 = {"code": 20500, "message": "Internal Server Error",
              "more_info": "https://www.twilio.com/docs/errors/20500", "status": 500}


def _boom() -> None:
    raise RuntimeError("a bug")


async def _raises(request):
    _boom()


async def _background_fails(request):
    return JSONResponse({"ok": True}, background=BackgroundTask(_boom))


async def _stream_breaks(request):
    async def body():
        yield b"first half"
        _boom()

    return StreamingResponse(body(), media_type="text/plain")


def _app():
    routes = [Route("/raises", _raises), Route("/background", _background_fails), Route("/stream", _stream_breaks)]
    return CatchAll(Starlette(routes=routes, exception_handlers={Exception: handle_unexpected}))


def _call(app, path: str) -> list[dict]:
    sent: list[dict] = []
    requested = False

    async def receive():
        nonlocal requested
        if requested:  # then the client just stays connected
            await asyncio.sleep(3600)
        requested = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [(b"host", b"api.test")], "scheme": "http", "server": ("api.test", 80),
             "client": ("127.0.0.1", 1), "root_path": "", "http_version": "1.1", "asgi": {"version": "3.0"}}
    # A thread of its own: a suite that drove a browser before this keeps an event loop running here.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, app(scope, receive, send)).result()
    return sent


def _status_and_body(sent: list[dict]) -> tuple[int, dict[bytes, bytes], bytes]:
    start = [m for m in sent if m["type"] == "http.response.start"]
    assert len(start) == 1, sent
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start[0]["status"], dict(start[0]["headers"]), body


def test_error_in_a_route_is_twilio_json_and_does_not_escape():
    status, headers, body = _status_and_body(_call(_app(), "/raises"))
    assert status == 500
    assert headers[b"content-type"] == b"application/json"
    assert json.loads(body) == TWILIO_500


def test_error_after_the_response_keeps_the_response():
    status, _, body = _status_and_body(_call(_app(), "/background"))
    assert (status, json.loads(body)) == (200, {"ok": True})


def test_error_outside_any_starlette_app_is_twilio_json():
    async def bare(scope, receive, send):
        _boom()

    status, _, body = _status_and_body(_call(CatchAll(bare), "/anything"))
    assert (status, json.loads(body)) == (500, TWILIO_500)


def test_error_in_the_middle_of_a_body_still_ends_the_connection():
    # The client could not tell a cut body from a whole one: the server must close.
    with pytest.raises(RuntimeError, match="^a bug$"):
        _call(_app(), "/stream")
