"""Private assets are never served, however the path is spelt: the same 404 as a missing path."""

from __future__ import annotations

import http.client

import pytest
from edgekit import PRIVATE_MARKER, raw_request

PRIVATE = "/secret/private.txt"

TRICKS = [
    PRIVATE,
    "/secret/%70rivate.txt",
    "/secret/private%2Etxt",
    "/%73ecret/private.txt",
    "/secret%2Fprivate.txt",
    "/secret%2fprivate.txt",
    "/secret%252Fprivate.txt",
    "/secret%252fprivate.txt",
    "/%2Fsecret/private.txt",
    "/secret/../secret/private.txt",
    "/secret/./private.txt",
    "/./secret/private.txt",
    "/../secret/private.txt",
    "/secret/public.txt/../private.txt",
    "/secret/public.txt/../../secret/private.txt",
    "/secret/%2e%2e/secret/private.txt",
    "/secret/%2E%2E/secret/private.txt",
    "/%2e%2e/secret/private.txt",
    "/secret/%2e/private.txt",
    "/secret/public.txt%2F..%2Fprivate.txt",
    "/secret/public.txt%2f%2e%2e%2fprivate.txt",
    "/secret/%252e%252e/secret/private.txt",
    "//secret/private.txt",
    "/secret//private.txt",
    "///secret///private.txt",
    "/SECRET/PRIVATE.TXT",
    "/Secret/Private.txt",
    "/secret/PRIVATE.txt",
    "/secret/private.TXT",
    "/secret/private.txt/",
    "/secret/private.txt/.",
    "/secret/private.txt%2F",
    "/secret/private.txt%00",
    "/secret/private.txt%20",
    "/secret/private.txt;",
    "/secret/private.txt;a=b",
    "/secret/private.txt?download=1",
    "/secret/private.txt#frag",
    "/secret\\private.txt",
    "/secret%5Cprivate.txt",
    "/assets/../secret/private.txt",
    "/assets/%2e%2e/secret/private.txt",
    "/secret/private.txt%3F",
    "/%EF%BC%8Fsecret/private.txt",  # fullwidth solidus
    "http://127.0.0.1/secret/private.txt",  # absolute-form request target
]

METHODS = ["GET", "HEAD", "POST", "OPTIONS", "PUT", "DELETE"]


def _absolute(path: str, site) -> str:
    return path.replace("http://127.0.0.1", f"http://{site.host}")


EXTRAS = [{}, {"Accept-Encoding": "br, gzip"}, {"Range": "bytes=0-20"}]


@pytest.mark.parametrize("method", METHODS)
def test_private_asset_never_served(std_site, not_found_reference, method):
    """Every spelling gets the answer of a missing file. Each must be answered: a request the edge
    refused at the connection would have checked nothing, so it counts as a failure too."""
    expected_body = b"" if method == "HEAD" else not_found_reference.body
    checked, failures = 0, []
    for path in TRICKS:
        target = _absolute(path, std_site)
        for extra in EXTRAS:
            body = b"a=b" if method in ("POST", "PUT") else None
            hdrs = dict(extra)
            if body is not None:
                hdrs["Content-Type"] = "application/x-www-form-urlencoded"
            case = f"{method} {path} {extra}"
            try:
                resp = raw_request(std_site.port, method, target, std_site.host, hdrs, body)
            except (OSError, http.client.HTTPException) as exc:
                failures.append(f"{case}: no answer ({exc!r})")
                continue
            checked += 1
            if PRIVATE_MARKER in resp.body:
                failures.append(f"{case}: body contains the private bytes ({resp.status})")
            if (resp.status, resp.body) != (404, expected_body):
                failures.append(f"{case}: {resp.status} {resp.body[:80]!r}, not the 404 of a missing file")
            if resp.header("content-range"):
                failures.append(f"{case}: range answered")
    assert not failures, "\n".join(failures)
    assert checked == len(TRICKS) * len(EXTRAS)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("accept", [None, "br, gzip", "gzip", "identity"])
def test_private_404_is_identical_to_missing(std_site, method, accept):
    hdrs = {"Accept-Encoding": accept} if accept else {}
    missing = raw_request(std_site.port, method, "/secret/missing.txt", std_site.host, hdrs)
    private = raw_request(std_site.port, method, PRIVATE, std_site.host, hdrs)
    assert private.status == 404
    assert missing.status == 404
    assert private.body == missing.body
    assert private.comparable_headers() == missing.comparable_headers()


def test_private_404_same_as_reference(std_site, not_found_reference):
    private = raw_request(std_site.port, "GET", PRIVATE, std_site.host)
    assert (private.status, private.body) == (not_found_reference.status, not_found_reference.body)
    assert private.comparable_headers() == not_found_reference.comparable_headers()


def test_private_with_signature_still_404(std_site, not_found_reference):
    from edgekit import twilio_signature

    sig = twilio_signature(std_site.server.auth_token, std_site.url(PRIVATE))
    resp = raw_request(std_site.port, "GET", PRIVATE, std_site.host, {"X-Twilio-Signature": sig})
    assert resp.status == 404
    assert resp.body == not_found_reference.body


def test_public_neighbour_still_served(std_site):
    resp = raw_request(std_site.port, "GET", "/secret/public.txt", std_site.host)
    assert resp.status == 200
    assert resp.body == b"public neighbour\n"
    # a tricky spelling of the public neighbour must not give the private file either
    for path in ("/secret/public.txt/../private.txt", "/secret/./public.txt", "/secret//public.txt"):
        resp = raw_request(std_site.port, "GET", path, std_site.host)
        assert PRIVATE_MARKER not in resp.body


def test_private_asset_with_same_path_in_other_service_is_not_leaked(deployer, std_site):
    # another service publishing the same path does not make this one's private asset public
    from edgekit import FileSpec

    other = deployer.site([FileSpec(PRIVATE, b"someone else's public file")])
    assert other.get(PRIVATE).content == b"someone else's public file"
    resp = raw_request(std_site.port, "GET", PRIVATE, std_site.host)
    assert resp.status == 404
    assert PRIVATE_MARKER not in resp.body
