"""assethost.edge.conditional: If-None-Match, If-Modified-Since, Range and If-Range, decided over
one file's validators (the edge's 304, 206 and 416)."""

from __future__ import annotations

import pytest

from assethost.edge.conditional import UNSATISFIABLE, byte_range, etag_matches, not_modified, parse_range
from assethost.edge.httpparts import http_date

ETAG = '"0123456789abcdef0123456789abcdef"'
MODIFIED = 1_700_000_000.0
SIZE = 1000


@pytest.mark.parametrize(("value", "size", "expected"), [
    ("bytes=0-9", 100, (0, 9)),
    ("bytes=0-0", 100, (0, 0)),
    ("bytes=10-", 100, (10, 99)),
    ("bytes=-10", 100, (90, 99)),
    ("bytes=-1", 100, (99, 99)),
    ("bytes=-1000", 100, (0, 99)),
    ("bytes=90-1000", 100, (90, 99)),
    ("bytes=99-99", 100, (99, 99)),
    ("BYTES=0-1", 100, (0, 1)),
    (" bytes = 3-4 ", 100, (3, 4)),
    ("bytes=100-", 100, UNSATISFIABLE),
    ("bytes=100-200", 100, UNSATISFIABLE),
    ("bytes=-0", 100, UNSATISFIABLE),
    ("bytes=0-", 0, UNSATISFIABLE),
    ("bytes=-5", 0, UNSATISFIABLE),
    ("bytes=0-1,3-4", 100, None),
    ("bytes=9-3", 100, None),
    ("bytes=abc", 100, None),
    ("bytes=a-b", 100, None),
    ("bytes=-", 100, None),
    ("bytes=--5", 100, None),
    ("bytes=+1-2", 100, None),
    ("bytes=1-+2", 100, None),
    ("items=0-5", 100, None),
    ("bytes", 100, None),
    ("", 100, None),
    ("bytes=٣-٤", 100, None),  # non-ASCII digits are not digits in HTTP
    ("bytes=²-5", 100, None),
])
def test_parse_range(value, size, expected):
    assert parse_range(value, size) == expected


@pytest.mark.parametrize(("header", "etag", "expected"), [
    ('"abc"', '"abc"', True),
    ('W/"abc"', '"abc"', True),
    ('"abc"', 'W/"abc"', True),
    ('"x", "abc"', '"abc"', True),
    ('"x",W/"abc"', '"abc"', True),
    ("*", '"abc"', True),
    (" * ", '"abc"', True),
    ('"abcd"', '"abc"', False),
    ('"ab"', '"abc"', False),
    ("abc", '"abc"', False),
    ("", '"abc"', False),
    ('"x", "y"', '"abc"', False),
])
def test_etag_matches(header, etag, expected):
    assert etag_matches(header, etag) is expected


def _h(**headers: str) -> dict[bytes, bytes]:
    return {name.replace("_", "-").encode(): value.encode("latin-1") for name, value in headers.items()}


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, False),
    ({"if_none_match": ETAG}, True),
    ({"if_none_match": "W/" + ETAG}, True),
    ({"if_none_match": '"other"'}, False),
    ({"if_modified_since": http_date(MODIFIED)}, True),
    ({"if_modified_since": http_date(MODIFIED + 60)}, True),
    ({"if_modified_since": http_date(MODIFIED - 1)}, False),
    ({"if_modified_since": "yesterday"}, False),
    # If-None-Match decides when both are sent, either way.
    ({"if_none_match": '"other"', "if_modified_since": http_date(MODIFIED + 60)}, False),
    ({"if_none_match": ETAG, "if_modified_since": http_date(MODIFIED - 60)}, True),
])
def test_not_modified(headers, expected):
    assert not_modified(_h(**headers), ETAG, MODIFIED) is expected


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, None),
    ({"range": "bytes=10-19"}, (10, 19)),
    ({"range": "bytes=1000-"}, UNSATISFIABLE),
    ({"range": "bytes=0-1,4-5"}, None),
    ({"range": "bytes=10-19", "if_range": ETAG}, (10, 19)),
    ({"range": "bytes=10-19", "if_range": '"other"'}, None),
    ({"range": "bytes=10-19", "if_range": "W/" + ETAG}, None),  # If-Range takes a strong validator only
    ({"range": "bytes=10-19", "if_range": http_date(MODIFIED)}, (10, 19)),
    ({"range": "bytes=10-19", "if_range": http_date(MODIFIED - 1)}, None),
    ({"range": "bytes=10-19", "if_range": "not a date"}, None),
    ({"range": "bytes=1000-", "if_range": '"other"'}, None),  # the whole file, not a 416
])
def test_byte_range(headers, expected):
    assert byte_range(_h(**headers), ETAG, MODIFIED, SIZE) == expected
