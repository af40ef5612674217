"""assethost.edge.httpparts: Accept-Encoding and HTTP dates (Range and If-None-Match: test_conditional)."""

from __future__ import annotations

import pytest

from assethost.edge.httpparts import choose_encoding, http_date, parse_http_date

OFFERED = ("br", "gzip")


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
