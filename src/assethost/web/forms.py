"""Form bodies of the API and the console, read whole into memory, so bounded in size.

A form may be at most `--max-form-bytes` (`Limits.max_form_bytes`): refused with a 413 by its
Content-Length before any of it is read, or as soon as that many bytes have come when it is sent
without one (chunked). File uploads do not come here: they stream to disk within the file limits
(see multipart.py). A body an endpoint never reads costs nothing: uvicorn stops reading it at 64 KiB.
"""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.types import Message

from assethost.core.errors import TooLarge


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"The request body is over {limit} bytes, the most a form may be "
                    "(file uploads have limits of their own)")


async def read_form(request: Request, limit: int, max_fields: int = 1000) -> FormData:
    """The request's form (urlencoded or multipart), or TooLarge once it passes `limit` bytes."""
    length = request.headers.get("content-length")
    if length is not None and int(length) > limit:
        raise _too_large(limit)
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await request.receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise _too_large(limit)
        return message

    return await Request(request.scope, counted).form(max_fields=max_fields)
