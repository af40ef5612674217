"""Twilio's JSON error body, {code, message, more_info, status}: the one definition of it, for the
API, the console's JSON answers, the front's refusals and the errors of function calls."""

from __future__ import annotations

import json

from starlette.responses import JSONResponse

from assethost.core.errors import AssetHostError, Invalid


def body(status: int, code: int, message: str) -> dict[str, object]:
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}


def encoded(status: int, code: int, message: str) -> bytes:
    """The body serialised as JSONResponse does, for answers written without Starlette."""
    return json.dumps(body(status, code, message), ensure_ascii=False, separators=(",", ":")).encode()


def twilio_error(status: int, code: int, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Basic realm="assethost"'} if status == 401 else None
    return JSONResponse(body(status, code, message), status_code=status, headers=headers)


def from_exception(exc: AssetHostError) -> JSONResponse:
    return twilio_error(exc.status, exc.code, exc.message)


def refusal_body(status: int, message: str) -> bytes:
    """For a request to the API that the HTTP front refuses before it reaches the application
    (edge/bounds.py). The code is ours: the one of any other bad request for a 400, else 20000 +
    the status (20408, 20414, 20431...)."""
    return encoded(status, Invalid.code if status == 400 else 20000 + status, message)
