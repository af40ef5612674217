"""The Responder, in process: what the edge answers, decided over a snapshot loaded from a real
SQLite store in a temporary folder, with no server and no socket."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator
from worldkit import ACCOUNT_SID, AUTH_TOKEN, deploy, make_context

from assethost.edge.httpparts import http_date
from assethost.edge.responder import NOT_FOUND, Reply, Responder
from assethost.edge.snapshot import EdgeOptions, Snapshot, SnapshotLoader

SMALL = b"ahoy\n" * 20  # 100 bytes: from memory
LARGE = bytes(range(256)) * 8  # 2048 bytes: over the limit below, from its blob file
MEMORY_LIMIT = 1024


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    ctx = make_context(tmp_path_factory.mktemp("responder"))
    site = deploy(ctx, "shop", {
        "/small.txt": (SMALL, "public"),
        "/large.bin": (LARGE, "public"),
        "/secret.txt": (b"secret", "protected"),
        "/private.txt": (b"private", "private"),
        "/assets/index.html": (b"<p>home</p>", "public"),
    })
    snapshot = SnapshotLoader(ctx, EdgeOptions(memory_file_limit=MEMORY_LIMIT)).load(Snapshot())
    counted: list[str] = []
    responder = Responder(lambda: snapshot, counted.append)
    return responder, site, snapshot, counted


def _get(world, path, method="GET", body=None, **headers) -> Reply:
    responder, site, _, _ = world
    wire = {b"host": f"{site.domain}:8080".encode()}
    wire.update({name.replace("_", "-").encode(): value.encode() for name, value in headers.items()})
    return responder.answer(method, "http", path, "", wire, body)


def _header(reply: Reply, name: bytes) -> bytes | None:
    return dict(reply.headers).get(name)


def test_a_small_file_is_answered_from_memory_with_its_precomputed_head(world):
    _, site, snapshot, counted = world
    reply = _get(world, "/small.txt")
    entry = snapshot.sites[site.domain].build.served["/small.txt"]
    assert (reply.status, reply.body, reply.file) == (200, SMALL, None)
    assert reply.raw_head is entry.ok_head
    assert _header(reply, b"content-length") == b"100"
    assert _header(reply, b"content-type") == b"text/plain; charset=utf-8"
    assert _header(reply, b"access-control-allow-origin") == b"*"
    assert counted[-1] == ACCOUNT_SID


def test_a_large_file_is_named_not_read(world):
    _, site, snapshot, _ = world
    reply = _get(world, "/large.bin")
    entry = snapshot.sites[site.domain].build.served["/large.bin"]
    assert (reply.status, reply.body, reply.file, reply.offset, reply.length) == (200, b"", entry.file, 0, 2048)
    with reply.open_file() as f:
        assert f.read() == LARGE


def test_a_range_of_a_large_file_names_only_its_bytes(world):
    reply = _get(world, "/large.bin", range="bytes=1000-1099")
    assert (reply.status, reply.offset, reply.length) == (206, 1000, 100)
    assert _header(reply, b"content-range") == b"bytes 1000-1099/2048"
    assert _header(reply, b"content-length") == b"100"


def test_a_range_of_a_small_file_is_a_slice(world):
    reply = _get(world, "/small.txt", range="bytes=-5")
    assert (reply.status, reply.body) == (206, b"ahoy\n")
    assert _header(reply, b"content-range") == b"bytes 95-99/100"


def test_a_range_past_the_end_is_416(world):
    reply = _get(world, "/large.bin", range="bytes=2048-")
    assert reply.status == 416
    assert _header(reply, b"content-range") == b"bytes */2048"
    assert reply.file is None


def test_conditional_get_is_304_with_the_validators_and_no_body(world):
    first = _get(world, "/large.bin")
    etag, modified = _header(first, b"etag").decode(), _header(first, b"last-modified").decode()
    for headers in ({"if_none_match": etag}, {"if_modified_since": modified}):
        reply = _get(world, "/large.bin", **headers)
        assert (reply.status, reply.body, reply.file) == (304, b"", None)
        assert _header(reply, b"etag") == etag.encode()
        assert _header(reply, b"content-length") is None
    stale = http_date(0)
    assert _get(world, "/large.bin", if_modified_since=stale).status == 200


def test_head_has_the_headers_and_no_body(world):
    reply = _get(world, "/large.bin", method="HEAD")
    assert (reply.status, reply.body, reply.file) == (200, b"", None)
    assert _header(reply, b"content-length") == b"2048"


def test_protected_needs_the_signature_and_private_is_not_there(world):
    _, site, _, _ = world
    assert _get(world, "/secret.txt").status == 403
    url = f"http://{site.domain}:8080/secret.txt"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, {})
    reply = _get(world, "/secret.txt", x_twilio_signature=signature)
    assert (reply.status, reply.body) == (200, b"secret")
    assert _header(reply, b"cache-control") == b"private, no-cache"
    private, missing = _get(world, "/private.txt"), _get(world, "/nothing.txt")
    assert (private.status, private.body) == (404, NOT_FOUND.encode())
    assert (private.status, private.headers, private.body) == (missing.status, missing.headers, missing.body)


def test_root_methods_and_unknown_hosts(world):
    responder, _, _, _ = world
    assert _get(world, "/").body == b"<p>home</p>"
    assert _get(world, "/small.txt", method="OPTIONS").status == 204
    refused = _get(world, "/small.txt", method="DELETE")
    assert refused.status == 405
    assert _header(refused, b"allow") == b"GET, HEAD, POST, OPTIONS"
    unknown = responder.answer("GET", "http", "/small.txt", "", {b"host": b"nobody.localhost"}, None)
    assert (unknown.status, unknown.body) == (404, b"Not Found: no environment has the domain nobody.localhost\n")
