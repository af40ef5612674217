"""HTTP Basic authentication: Account SID + Auth Token, or API Key SID + secret."""

from __future__ import annotations

import base64
import binascii

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from assethost.core import accounts
from assethost.core.errors import Unauthorized


def basic_credentials(header: str | None) -> tuple[str, str]:
    if not header or not header[:6].lower() == "basic ":
        raise Unauthorized()
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized() from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise Unauthorized()
    return username, password


async def authenticate(request: Request) -> str:
    """The account SID the request acts for, or Unauthorized."""
    username, password = basic_credentials(request.headers.get("authorization"))
    return await run_in_threadpool(accounts.authenticate, request.app.state.ctx.meta, username, password)
