"""Conditional requests (If-None-Match, If-Modified-Since) and byte ranges (Range, If-Range)."""

from __future__ import annotations

import time
from email.utils import formatdate, parsedate_to_datetime

import pytest
from edgekit import raw_request

TXT = "/range.txt"  # 1000 bytes, served from memory
BIN = "/blob.bin"  # 300 KiB, served from the blob file


def _validators(site, path):
    h = site.get(path).headers
    return h["etag"], h["last-modified"]


def _shift(http_date: str, seconds: int) -> str:
    return formatdate(parsedate_to_datetime(http_date).timestamp() + seconds, usegmt=True)


# ------------------------------------------------------------------------------------------ If-None-Match


@pytest.mark.parametrize("form", ["exact", "weak", "list", "list-weak", "star"])
def test_if_none_match_304(std_site, form):
    etag, _ = _validators(std_site, "/hello.txt")
    value = {"exact": etag, "weak": "W/" + etag, "list": f'"0000", {etag}, "1111"',
             "list-weak": f'W/"0000",W/{etag}', "star": "*"}[form]
    resp = std_site.get("/hello.txt", headers={"If-None-Match": value})
    assert resp.status_code == 304
    assert resp.content == b""
    assert resp.headers["etag"] == etag


# What a 304 carries of a 200's headers (RFC 9110 §15.4.5), and Date; nothing that describes a body.
NOT_MODIFIED_HEADERS = {"cache-control", "content-location", "date", "etag", "expires", "vary"}


@pytest.mark.parametrize("path, expected", [
    ("/style.css", {"date", "etag", "cache-control", "vary"}),  # compressible text: Vary too
    ("/hello.txt", {"date", "etag", "cache-control"}),  # text under 1 KiB is never compressed: no Vary
    ("/logo.png", {"date", "etag", "cache-control"}),
    (BIN, {"date", "etag", "cache-control"}),  # served from its blob file
])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_304_has_exactly_the_validators_and_cache_headers_of_the_200(std_site, path, expected, method):
    ok = raw_request(std_site.port, "GET", path, std_site.host)
    assert ok.status == 200
    for condition in ({"If-None-Match": ok.header("etag")}, {"If-Modified-Since": ok.header("last-modified")}):
        resp = raw_request(std_site.port, method, path, std_site.host, condition)
        assert resp.status == 304
        assert resp.body == b""
        names = [k.lower() for k, _ in resp.headers]
        assert sorted(names) == sorted(expected)  # each once, and no other
        assert expected <= NOT_MODIFIED_HEADERS
        for name in expected - {"date"}:
            assert resp.header(name) == ok.header(name), name  # the same validators as the 200


def test_if_none_match_other_etag_is_200(std_site):
    resp = std_site.get("/hello.txt", headers={"If-None-Match": '"deadbeef", W/"cafe"'})
    assert resp.status_code == 200
    assert resp.content == b"hello edge\n"


def test_if_none_match_etag_of_other_file_is_200(std_site):
    other, _ = _validators(std_site, "/big.txt")
    assert std_site.get("/hello.txt", headers={"If-None-Match": other}).status_code == 200


def test_head_if_none_match_304(std_site):
    etag, _ = _validators(std_site, "/big.txt")
    resp = raw_request(std_site.port, "HEAD", "/big.txt", std_site.host, {"If-None-Match": etag})
    assert resp.status == 304
    assert resp.body == b""


def test_304_on_binary_file(std_site):
    etag, _ = _validators(std_site, BIN)
    assert std_site.get(BIN, headers={"If-None-Match": etag}).status_code == 304


# ------------------------------------------------------------------------------------------ If-Modified-Since


def test_if_modified_since_equal_is_304(std_site):
    _, lm = _validators(std_site, "/hello.txt")
    resp = std_site.get("/hello.txt", headers={"If-Modified-Since": lm})
    assert resp.status_code == 304
    assert resp.content == b""


def test_if_modified_since_later_is_304(std_site):
    _, lm = _validators(std_site, "/hello.txt")
    resp = std_site.get("/hello.txt", headers={"If-Modified-Since": _shift(lm, 86400)})
    assert resp.status_code == 304


def test_if_modified_since_earlier_is_200(std_site):
    _, lm = _validators(std_site, "/hello.txt")
    resp = std_site.get("/hello.txt", headers={"If-Modified-Since": _shift(lm, -86400)})
    assert resp.status_code == 200
    assert resp.content == b"hello edge\n"


def test_if_modified_since_garbage_is_200(std_site):
    resp = std_site.get("/hello.txt", headers={"If-Modified-Since": "yesterday-ish"})
    assert resp.status_code == 200


def test_last_modified_is_not_in_the_future(std_site):
    _, lm = _validators(std_site, "/hello.txt")
    assert parsedate_to_datetime(lm).timestamp() <= time.time() + 5


def test_if_none_match_decides_over_if_modified_since(std_site):
    etag, lm = _validators(std_site, "/hello.txt")
    # non-matching INM + future IMS -> 200 (INM decides, IMS is ignored)
    resp = std_site.get("/hello.txt", headers={"If-None-Match": '"nomatch"',
                                               "If-Modified-Since": _shift(lm, 86400 * 365)})
    assert resp.status_code == 200
    assert resp.content == b"hello edge\n"
    # matching INM + old IMS -> 304
    resp = std_site.get("/hello.txt", headers={"If-None-Match": etag, "If-Modified-Since": _shift(lm, -86400)})
    assert resp.status_code == 304


# ------------------------------------------------------------------------------------------ Range


# (Range header, first, last) as functions of the file size
SINGLE_RANGES = {
    "first-ten": lambda n: ("bytes=0-9", 0, 9),
    "first-byte": lambda n: ("bytes=0-0", 0, 0),
    "middle": lambda n: ("bytes=10-19", 10, 19),
    "open-end": lambda n: (f"bytes={n - 10}-", n - 10, n - 1),
    "suffix": lambda n: ("bytes=-10", n - 10, n - 1),
    "last-byte": lambda n: ("bytes=-1", n - 1, n - 1),
    "suffix-longer-than-file": lambda n: (f"bytes=-{n * 3}", 0, n - 1),
    "end-past-size": lambda n: (f"bytes={n - 5}-{n * 10}", n - 5, n - 1),
    "whole": lambda n: ("bytes=0-", 0, n - 1),
    "spaces": lambda n: ("bytes= 2-4", 2, 4),
}


@pytest.mark.parametrize("path", [TXT, BIN])
@pytest.mark.parametrize("case", sorted(SINGLE_RANGES))
def test_single_range(std_site, path, case):
    content = std_site.files[path].content
    size = len(content)
    spec, first, last = SINGLE_RANGES[case](size)
    resp = std_site.get(path, headers={"Range": spec})
    assert resp.status_code == 206, (spec, resp.status_code)
    assert resp.headers["content-range"] == f"bytes {first}-{last}/{size}"
    assert int(resp.headers["content-length"]) == last - first + 1
    assert resp.content == content[first : last + 1]
    assert resp.headers["etag"]


def test_big_range_from_file(std_site):
    content = std_site.files[BIN].content
    resp = std_site.get(BIN, headers={"Range": "bytes=100000-299999"})
    assert resp.status_code == 206
    assert resp.content == content[100000:300000]


@pytest.mark.parametrize("path", [TXT, BIN])
@pytest.mark.parametrize("offset", [0, 1, 5000])
def test_range_beyond_end_is_416(std_site, path, offset):
    size = len(std_site.files[path].content)
    resp = std_site.get(path, headers={"Range": f"bytes={size + offset}-"})
    assert resp.status_code == 416
    assert resp.headers["content-range"] == f"bytes */{size}"
    assert std_site.files[path].content[:50] not in resp.content


@pytest.mark.parametrize("spec", ["bytes=0-1,5-6", "bytes=0-1, 10-"])
def test_multiple_ranges_get_full_body(std_site, spec):
    resp = std_site.get(TXT, headers={"Range": spec})
    assert resp.status_code == 200
    assert resp.content == std_site.files[TXT].content
    assert "content-range" not in resp.headers


@pytest.mark.parametrize("spec", ["bytes=abc", "items=0-5", "bytes=9-3", "bytes 0-5", "bytes=--5"])
def test_malformed_range_is_ignored(std_site, spec):
    resp = std_site.get(TXT, headers={"Range": spec})
    assert resp.status_code == 200
    assert resp.content == std_site.files[TXT].content


@pytest.mark.parametrize("spec", ["bytes=\xb2-5", "bytes=0-\xb9", "bytes=-\xb3"])
def test_range_with_non_ascii_digits_is_ignored(std_site, spec):
    # Latin-1 superscript digits are not HTTP DIGITs: the header is malformed and must be ignored
    resp = raw_request(std_site.port, "GET", TXT, std_site.host, {"Range": spec})
    assert resp.status == 200, resp.status
    assert resp.body == std_site.files[TXT].content


def test_range_suffix_zero_is_416(std_site):
    resp = std_site.get(TXT, headers={"Range": "bytes=-0"})
    assert resp.status_code == 416
    assert resp.headers["content-range"] == "bytes */1000"


def test_range_on_head(std_site):
    resp = raw_request(std_site.port, "HEAD", TXT, std_site.host, {"Range": "bytes=0-9"})
    assert resp.status == 206
    assert resp.body == b""
    assert resp.header("content-range") == "bytes 0-9/1000"


def test_if_range_matching_etag_gives_206(std_site):
    etag, _ = _validators(std_site, TXT)
    resp = std_site.get(TXT, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert resp.status_code == 206
    assert resp.content == std_site.files[TXT].content[:10]


def test_if_range_other_etag_gives_full_200(std_site):
    resp = std_site.get(TXT, headers={"Range": "bytes=0-9", "If-Range": '"0123456789abcdef"'})
    assert resp.status_code == 200
    assert resp.content == std_site.files[TXT].content


def test_if_range_weak_etag_gives_full_200(std_site):
    etag, _ = _validators(std_site, TXT)
    resp = std_site.get(TXT, headers={"Range": "bytes=0-9", "If-Range": "W/" + etag})
    assert resp.status_code == 200
    assert resp.content == std_site.files[TXT].content


def test_if_range_date(std_site):
    _, lm = _validators(std_site, TXT)
    resp = std_site.get(TXT, headers={"Range": "bytes=0-9", "If-Range": lm})
    assert resp.status_code == 206
    resp = std_site.get(TXT, headers={"Range": "bytes=0-9", "If-Range": _shift(lm, -86400)})
    assert resp.status_code == 200
    assert resp.content == std_site.files[TXT].content


def test_range_ignores_accept_encoding(std_site):
    # whatever compression is available, a range is over the identity bytes
    std_site.wait_encoded("/big.txt", "br")
    with std_site.client() as c:
        req = c.build_request("GET", "/big.txt", headers={"Range": "bytes=100-199", "Accept-Encoding": "br, gzip"})
        r = c.send(req, stream=True)
        raw = b"".join(r.iter_raw())
        r.close()
    assert r.status_code == 206
    assert "content-encoding" not in r.headers
    assert raw == std_site.files["/big.txt"].content[100:200]


@pytest.mark.parametrize("spec, status, content_range", [
    ("bytes=0-" + "9" * 5000, 206, "bytes 0-999/1000"),  # past int()'s 4300-digit limit: to the end
    ("bytes=" + "9" * 5000 + "-", 416, "bytes */1000"),  # starts past the end
    ("bytes=-" + "9" * 5000, 206, "bytes 0-999/1000"),  # a suffix longer than the file: all of it
])
def test_a_range_with_thousands_of_digits_is_answered(std_site, spec, status, content_range):
    resp = raw_request(std_site.port, "GET", TXT, std_site.host, {"Range": spec})
    assert (resp.status, resp.header("content-range")) == (status, content_range)
    if status == 206:
        assert len(resp.body) == 1000
