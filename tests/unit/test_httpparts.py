"""assethost.edge.httpparts: Range, If-None-Match and Accept-Encoding parsing."""

from __future__ import annotations

import pytest

from assethost.edge.httpparts import (
    UNSATISFIABLE,
    choose_encoding,
    etag_matches,
    http_date,
    parse_http_date,
    parse_range,
)

OFFERED = ("br", "gzip")


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


@pytest.mark.parametrize(("accept", "expected"), [
    ("br", "br"),
    ("gzip", "gzip"),
    ("gzip, br", "br"),
    ("br, gzip", "br"),
    ("gzip, deflate, br, zstd", "br"),
    ("br;q=0, gzip", "gzip"),
    ("br;q=0.0, gzip;q=0.1", "gzip"),
    ("br; q=0, gzip", "gzip"),
    ("BR", "br"),
    ("*", "br"),
    ("*;q=0", None),
    ("*, br;q=0", "gzip"),
    ("identity", None),
    ("deflate", None),
    ("", None),
    ("gzip;q=0, br;q=0", None),
    ("gzip;q=bogus", None),
])
def test_choose_encoding(accept, expected):
    assert choose_encoding(accept, OFFERED) == expected
    assert choose_encoding(accept, OFFERED) == expected  # cached answer is the same


def test_choose_encoding_other_offers_not_confused_by_cache():
    assert choose_encoding("br, gzip", OFFERED) == "br"
    assert choose_encoding("br, gzip", ("gzip",)) == "gzip"
    assert choose_encoding("br, gzip", ("gzip", "br")) == "gzip"


def test_http_date_round_trip():
    s = http_date(1_700_000_000)
    assert s == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert parse_http_date(s) == 1_700_000_000
    assert parse_http_date("Tuesday, 14-Nov-23 22:13:20 GMT") == 1_700_000_000  # RFC 850 form
    assert parse_http_date("Tue Nov 14 22:13:20 2023") == 1_700_000_000  # asctime form
    for bad in ("", "yesterday", "Tue, 99 Nov 2023 22:13:20 GMT", "0"):
        assert parse_http_date(bad) is None
