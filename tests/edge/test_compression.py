"""Content-Encoding: br / gzip for text-like assets (computed in the background after deploy)."""

from __future__ import annotations

import gzip

import brotli
import pytest
from edgekit import raw_request

COMPRESSIBLE = ["/big.txt", "/data.json", "/app.js", "/style.css", "/assets/index.html"]
NEVER = ["/logo.png", "/photo.jpg", "/ahoy.mp3", "/icon.svg", "/blob.bin"]


def _decode(encoding: str, data: bytes) -> bytes:
    return brotli.decompress(data) if encoding == "br" else gzip.decompress(data)


@pytest.mark.parametrize("path", COMPRESSIBLE)
def test_brotli_when_accepted(std_site, path):
    resp = std_site.wait_encoded(path, "br")
    assert resp.headers.get("content-encoding") == "br", f"{path} was not brotli-compressed within the timeout"
    original = std_site.files[path].content
    assert _decode("br", resp.raw_body) == original
    assert int(resp.headers["content-length"]) == len(resp.raw_body) < len(original)
    assert "accept-encoding" in resp.headers.get("vary", "").lower()
    assert resp.headers["etag"]


@pytest.mark.parametrize("path", COMPRESSIBLE)
def test_gzip_when_only_gzip_accepted(std_site, path):
    std_site.wait_encoded(path, "br")
    resp = std_site.raw_get(path, "gzip")
    assert resp.headers.get("content-encoding") == "gzip"
    assert _decode("gzip", resp.raw_body) == std_site.files[path].content
    assert int(resp.headers["content-length"]) == len(resp.raw_body)


@pytest.mark.parametrize(("accept", "expected"), [
    ("br, gzip", "br"),
    ("gzip, deflate, br", "br"),
    ("gzip, br;q=0", "gzip"),
    ("br;q=0, gzip;q=0.5", "gzip"),
    ("GZIP", "gzip"),
    ("*", "br"),
    ("identity", None),
    ("deflate", None),
    ("br;q=0, gzip;q=0", None),
    ("*;q=0", None),
    ("", None),
])
def test_accept_encoding_negotiation(std_site, accept, expected):
    std_site.wait_encoded("/big.txt", "br")
    resp = std_site.raw_get("/big.txt", accept)
    assert resp.status_code == 200
    assert resp.headers.get("content-encoding") == expected
    body = resp.raw_body if expected is None else _decode(expected, resp.raw_body)
    assert body == std_site.files["/big.txt"].content


@pytest.mark.parametrize("path", NEVER)
def test_media_is_never_compressed(std_site, path):
    std_site.wait_encoded("/big.txt", "br")  # the compressor has had its chance
    std_site.wait_encoded("/assets/index.html", "br")
    for accept in ("br, gzip", "gzip", "*"):
        resp = std_site.raw_get(path, accept)
        assert resp.status_code == 200
        assert "content-encoding" not in resp.headers, (path, accept)
        assert resp.raw_body == std_site.files[path].content


def test_tiny_text_is_not_compressed(std_site):
    std_site.wait_encoded("/big.txt", "br")
    resp = std_site.raw_get("/hello.txt", "br, gzip")
    assert "content-encoding" not in resp.headers
    assert resp.raw_body == b"hello edge\n"


def test_head_with_compression(std_site):
    get = std_site.wait_encoded("/big.txt", "br")
    head = raw_request(std_site.port, "HEAD", "/big.txt", std_site.host, {"Accept-Encoding": "br"})
    assert head.status == 200
    assert head.body == b""
    assert head.header("content-encoding") == "br"
    assert head.header("content-length") == get.headers["content-length"]


def test_conditional_with_compression(std_site):
    resp = std_site.wait_encoded("/big.txt", "br")
    etag = resp.headers["etag"]
    again = std_site.get("/big.txt", headers={"Accept-Encoding": "br", "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    # The 304 is the compressed representation's: its weak ETag, as the 200 that cached it had.
    assert again.headers["etag"] == etag and etag.startswith('W/"')
    assert sorted(again.headers) == ["cache-control", "date", "etag", "vary"]
    identity = raw_request(std_site.port, "GET", "/big.txt", std_site.host, {"If-None-Match": etag})
    assert (identity.status, identity.header("etag")) == (304, etag.removeprefix("W/"))


def test_compressed_after_redeploy_is_the_new_content(deployer):
    from edgekit import FileSpec, text_blob

    site = deployer.site([FileSpec("/doc.txt", text_blob("first"))])
    resp = site.wait_encoded("/doc.txt", "br")
    assert _decode("br", resp.raw_body) == text_blob("first")
    new = deployer.build(site.service_sid, [FileSpec("/doc.txt", text_blob("second"))])
    deployer.deploy(site.service_sid, site.env_sid, new)
    # right away: whatever the encoding, it decodes to the new bytes
    for accept in ("br", "gzip", "identity"):
        r = site.raw_get("/doc.txt", accept)
        enc = r.headers.get("content-encoding")
        assert (r.raw_body if enc is None else _decode(enc, r.raw_body)) == text_blob("second")
    resp = site.wait_encoded("/doc.txt", "br")
    assert resp.headers.get("content-encoding") == "br"
    assert _decode("br", resp.raw_body) == text_blob("second")
