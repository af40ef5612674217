"""Conditional requests and byte ranges (RFC 9110, sections 13 and 14) over one file's validators:
whether a GET of it is answered 304, and which bytes of it a 206 or a 416 is about.

Pure functions of the request's header values and the file's ETag, modification time and size;
the responder turns their answers into replies.
"""

from __future__ import annotations

from assethost.edge.httpparts import parse_http_date

UNSATISFIABLE = (-1, -1)
# What a 304 carries of the headers a 200 would have (RFC 9110 §15.4.5; the front adds Date):
# what a cache updates its stored response with. The rest describes the body it does not send.
NOT_MODIFIED_HEADERS = frozenset((b"cache-control", b"content-location", b"etag", b"expires", b"vary"))


def not_modified_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Those of a 200's headers that its 304 carries."""
    return [h for h in headers if h[0] in NOT_MODIFIED_HEADERS]


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison, as If-None-Match uses: W/"x" matches "x"."""
    if if_none_match.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        candidate = candidate.removeprefix("W/")
        if candidate == bare:
            return True
    return False


def not_modified(headers: dict[bytes, bytes], etag: str, last_modified: float) -> bool:
    """Whether the client's copy is current (a 304): If-None-Match decides when it is sent, and
    If-Modified-Since (whole seconds, as Last-Modified has them) only when it is not."""
    inm = headers.get(b"if-none-match")
    if inm is not None:
        value = inm.decode("latin-1")
        return value == etag or etag_matches(value, etag)  # the first: a cache revalidating its copy
    ims = headers.get(b"if-modified-since")
    if ims is None:
        return False
    since = parse_http_date(ims.decode("latin-1"))
    return since is not None and last_modified <= since


def byte_range(headers: dict[bytes, bytes], etag: str, last_modified: float,
               size: int) -> tuple[int, int] | None:
    """The bytes asked for as (first, last) inclusive, for a 206; UNSATISFIABLE, for a 416; or
    None: the whole file (no Range, an If-Range that does not hold, or a Range to ignore)."""
    rng = headers.get(b"range")
    if rng is None or not _if_range_holds(headers.get(b"if-range"), etag, last_modified):
        return None
    return parse_range(rng.decode("latin-1"), size)


def _if_range_holds(if_range: bytes | None, etag: str, last_modified: float) -> bool:
    if if_range is None:
        return True
    value = if_range.decode("latin-1").strip()
    if value.startswith(('"', "W/")):
        return value == etag  # If-Range needs a strong match
    since = parse_http_date(value)
    return since is not None and last_modified <= since


def parse_range(value: str, size: int) -> tuple[int, int] | None:
    """One byte range as (first, last) inclusive; UNSATISFIABLE; or None to ignore the header
    (malformed, another unit, or several ranges: then the whole file is sent, as RFC 9110 allows)."""
    unit, _, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_s, dash, last_s = spec.strip().partition("-")
    if not dash:
        return None
    first_s, last_s = first_s.strip(), last_s.strip()
    if not (_digits(first_s) or first_s == "") or not (_digits(last_s) or last_s == ""):
        return None
    if first_s == "":
        if last_s == "":
            return None
        length = _number(last_s)
        if length == 0 or size == 0:
            return UNSATISFIABLE
        return max(0, size - length), size - 1
    first = _number(first_s)
    last = _number(last_s) if last_s else size - 1
    if last_s and last < first:
        return None
    if first >= size:
        return UNSATISFIABLE
    return first, min(last, size - 1)


def _digits(value: str) -> bool:
    return value.isascii() and value.isdigit()  # str.isdigit() also accepts '²' and other scripts


_HUGE_DIGITS = 19  # more than any file's size has; int() refuses strings past 4300 digits


def _number(digits: str) -> int:
    """The value of a range's digits; any of more than 18 digits as 10**18, past every file's end."""
    return int(digits) if len(digits) < _HUGE_DIGITS else 10**18
