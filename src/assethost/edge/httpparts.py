"""Small, allocation-light parsers for the request headers the edge acts on."""

from __future__ import annotations

import time
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import parse_qsl

FILE_CHUNK = 1024 * 1024  # large files are sent in pieces of this size
_FORM = b"application/x-www-form-urlencoded"


def form_params(headers: dict[bytes, bytes], body: bytes | None) -> list[tuple[str, str]] | None:
    """A form POST's parameters (they are part of a Twilio signature), else None."""
    if body is None or headers.get(b"content-type", b"").split(b";")[0].strip() != _FORM:
        return None
    return parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)


def http_date(epoch: float) -> str:
    return formatdate(epoch, usegmt=True)


def parse_http_date(value: str) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


_encoding_cache: dict[str, str | None] = {}


def choose_encoding(accept_encoding: str, offered: tuple[str, ...]) -> str | None:
    """The best of `offered` (in our order of preference) that the client accepts, or None."""
    key = accept_encoding
    cached = _encoding_cache.get(key, "?")
    if cached != "?" and offered == ("br", "gzip"):
        return cached
    accepted: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, _, params = item.strip().partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        accepted[name.strip().lower()] = q
    choice = None
    for enc in offered:
        q = accepted.get(enc, accepted.get("*", 0.0))
        if q > 0:
            choice = enc
            break
    if offered == ("br", "gzip") and len(_encoding_cache) < 256:
        _encoding_cache[key] = choice
    return choice


class Clock:
    """The Date header, formatted once a second instead of per response."""

    def __init__(self) -> None:
        self._second = 0
        self._value = b""

    def date(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._value = http_date(now).encode()
        return self._value


def serialize(headers: list[tuple[bytes, bytes]]) -> bytes:
    """Header lines as sent on the wire (`name: value\r\n` each)."""
    return b"".join(b"%s: %s\r\n" % (name, value) for name, value in headers)
