"""The API's exception handlers: every error it raises leaves as Twilio's body (web/errors.py)."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from assethost.core.errors import AssetHostError, MethodNotAllowed, NotFound
from assethost.web.errors import from_exception, twilio_error

log = logging.getLogger("assethost.api")


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
