"""The one place where errors become Twilio's JSON body: {code, message, more_info, status}."""

from __future__ import annotations

import json
import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from assethost.core.errors import AssetHostError, Invalid, MethodNotAllowed, NotFound

log = logging.getLogger("assethost.api")


def _body(status: int, code: int, message: str) -> dict[str, object]:
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}


def twilio_error(status: int, code: int, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Basic realm="assethost"'} if status == 401 else None
    return JSONResponse(_body(status, code, message), status_code=status, headers=headers)


def refusal_body(status: int, message: str) -> bytes:
    """Twilio's body, serialised as JSONResponse does, for a request to the API that the HTTP front
    refuses before it reaches the application (edge/bounds.py). The code is ours: the one of any
    other bad request for a 400, else 20000 + the status (20408, 20414, 20431...)."""
    code = Invalid.code if status == 400 else 20000 + status
    return json.dumps(_body(status, code, message), ensure_ascii=False, separators=(",", ":")).encode()


def from_exception(exc: AssetHostError) -> JSONResponse:
    return twilio_error(exc.status, exc.code, exc.message)


async def handle_domain_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AssetHostError)
    return from_exception(exc)


async def handle_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return from_exception(NotFound.resource(request.url.path))
    if exc.status_code == 405:
        return from_exception(MethodNotAllowed(f"Method {request.method} not allowed on {request.url.path}"))
    return twilio_error(exc.status_code, exc.status_code, str(exc.detail))


async def handle_unexpected(_request: Request, _exc: Exception) -> Response:
    """A bug: Twilio's 500 body, naming nothing of the server's insides (the error is logged)."""
    return twilio_error(500, 20500, "Internal Server Error")
