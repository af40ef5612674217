"""Protected assets: X-Twilio-Signature as twilio-python's RequestValidator computes it."""

from __future__ import annotations

import hashlib
from urllib.parse import urlencode

import pytest
from edgekit import PROTECTED_MARKER, raw_request, twilio_signature

PATH = "/secret/protected.txt"


def _assert_forbidden(resp):
    assert resp.status_code == 403, resp.status_code
    assert PROTECTED_MARKER not in resp.content
    assert len(resp.content) < 200
    assert resp.headers.get("content-type", "").startswith("text/plain")


def test_missing_signature_is_403(std_site):
    _assert_forbidden(std_site.get(PATH))


def test_empty_and_garbage_signatures_are_403(std_site):
    for sig in ("", "x", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "not base64 at all!!", "é"):
        _assert_forbidden(std_site.get(PATH, headers={"X-Twilio-Signature": sig.encode("utf-8")}))


def test_valid_signature_with_port(std_site):
    resp = std_site.signed("GET", PATH)
    assert resp.status_code == 200
    assert resp.content == std_site.files[PATH].content
    assert resp.headers["cache-control"] == "private, no-cache"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["etag"]


def test_valid_signature_without_port(std_site):
    resp = std_site.signed("GET", PATH, with_port=False)
    assert resp.status_code == 200
    assert resp.content == std_site.files[PATH].content


def test_signature_over_another_port_is_403(std_site):
    sig = twilio_signature(std_site.server.auth_token, f"http://{std_site.domain}:1{std_site.port}{PATH}")
    _assert_forbidden(std_site.get(PATH, headers={"X-Twilio-Signature": sig}))


def test_signature_over_https_url_is_403(std_site):
    # the request arrived over plain http; the URL signed must be the one requested
    sig = twilio_signature(std_site.server.auth_token, f"https://{std_site.host}{PATH}")
    _assert_forbidden(std_site.get(PATH, headers={"X-Twilio-Signature": sig}))


def test_signature_for_another_path_is_403(std_site):
    sig = twilio_signature(std_site.server.auth_token, std_site.url("/secret/public.txt"))
    _assert_forbidden(std_site.get(PATH, headers={"X-Twilio-Signature": sig}))


def test_signature_for_another_domain_is_403(std_site):
    sig = twilio_signature(std_site.server.auth_token, f"http://other-1234.localhost:{std_site.port}{PATH}")
    _assert_forbidden(std_site.get(PATH, headers={"X-Twilio-Signature": sig}))


def test_signature_with_wrong_token_is_403(std_site):
    sig = twilio_signature("0" * 32, std_site.url(PATH))
    _assert_forbidden(std_site.get(PATH, headers={"X-Twilio-Signature": sig}))


def test_signature_with_other_accounts_token_is_403(std_site, other_account):
    _, other_token = other_account
    sig = twilio_signature(other_token, std_site.url(PATH))
    _assert_forbidden(std_site.get(PATH, headers={"X-Twilio-Signature": sig}))


def test_other_account_site_uses_its_own_token(deployer, server, other_account):
    from edgekit import Deployer, FileSpec

    sid, token = other_account
    with server.http_client(sid, token) as c:
        site = Deployer(server, c).site([FileSpec("/p.txt", b"other account protected", "protected")])
    sig_main = twilio_signature(server.auth_token, site.url("/p.txt"))
    assert site.get("/p.txt", headers={"X-Twilio-Signature": sig_main}).status_code == 403
    resp = site.signed("GET", "/p.txt", token=token)
    assert resp.status_code == 200
    assert resp.content == b"other account protected"


def test_query_string_is_part_of_the_signature(std_site):
    path = PATH + "?b=2&a=1"
    resp = std_site.signed("GET", path)
    assert resp.status_code == 200
    assert resp.content == std_site.files[PATH].content
    # signed without the query, requested with it
    sig = twilio_signature(std_site.server.auth_token, std_site.url(PATH))
    _assert_forbidden(std_site.get(path, headers={"X-Twilio-Signature": sig}))
    # query reordered after signing
    sig = twilio_signature(std_site.server.auth_token, std_site.url(PATH + "?a=1&b=2"))
    _assert_forbidden(std_site.get(path, headers={"X-Twilio-Signature": sig}))


def test_post_form_params_are_signed(std_site):
    data = [("CallSid", "CA" + "1" * 32), ("From", "+14158675309"), ("Body", "héllo wörld & more")]
    resp = std_site.signed("POST", PATH, data=data)
    assert resp.status_code == 200
    assert resp.content == std_site.files[PATH].content


def test_post_repeated_form_params(std_site):
    data = [("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234"), ("Sid", "CA123")]
    resp = std_site.signed("POST", PATH, data=data)
    assert resp.status_code == 200


def test_post_with_tampered_form_is_403(std_site):
    data = [("Amount", "10")]
    sig = twilio_signature(std_site.server.auth_token, std_site.url(PATH), data)
    resp = std_site.request("POST", PATH, {"X-Twilio-Signature": sig,
                                           "Content-Type": "application/x-www-form-urlencoded"},
                            content=urlencode([("Amount", "1000")]).encode())
    _assert_forbidden(resp)


def test_post_form_signed_over_url_only_is_403(std_site):
    sig = twilio_signature(std_site.server.auth_token, std_site.url(PATH))
    resp = std_site.request("POST", PATH, {"X-Twilio-Signature": sig,
                                           "Content-Type": "application/x-www-form-urlencoded"},
                            content=b"Foo=bar")
    _assert_forbidden(resp)


def test_post_json_body_needs_its_hash_in_the_signed_url(std_site):
    # a non-form body is covered by `bodySHA256` in the signed URL, as Twilio signs it
    sig = twilio_signature(std_site.server.auth_token, std_site.url(PATH))
    _assert_forbidden(std_site.request("POST", PATH, {"X-Twilio-Signature": sig, "Content-Type": "application/json"},
                                       content=b'{"a": 1}'))
    path = PATH + "?bodySHA256=" + hashlib.sha256(b'{"a": 1}').hexdigest()
    sig = twilio_signature(std_site.server.auth_token, std_site.url(path))
    resp = std_site.request("POST", path, {"X-Twilio-Signature": sig, "Content-Type": "application/json"},
                            content=b'{"a": 1}')
    assert resp.status_code == 200
    assert resp.content == std_site.files[PATH].content


def test_head_on_protected(std_site):
    head = raw_request(std_site.port, "HEAD", PATH, std_site.host)
    assert head.status == 403
    sig = twilio_signature(std_site.server.auth_token, std_site.url(PATH))
    head = raw_request(std_site.port, "HEAD", PATH, std_site.host, {"X-Twilio-Signature": sig})
    assert head.status == 200
    assert head.body == b""
    assert int(head.header("content-length")) == len(std_site.files[PATH].content)


@pytest.mark.parametrize("extra", [
    {"If-None-Match": "*"},
    {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"},
    {"Range": "bytes=0-5"},
])
def test_unsigned_conditional_or_range_requests_are_403(std_site, extra):
    _assert_forbidden(std_site.get(PATH, headers=extra))


def test_signed_conditional_request_is_304(std_site):
    ok = std_site.signed("GET", PATH)
    etag = ok.headers["etag"]
    resp = std_site.signed("GET", PATH, headers={"If-None-Match": etag})
    assert resp.status_code == 304
    assert resp.content == b""
    assert sorted(resp.headers) == ["cache-control", "date", "etag", "vary"]
    assert (resp.headers["etag"], resp.headers["cache-control"]) == (etag, ok.headers["cache-control"])


def test_signed_range_request(std_site):
    resp = std_site.signed("GET", PATH, headers={"Range": "bytes=0-9"})
    assert resp.status_code == 206
    assert resp.content == std_site.files[PATH].content[:10]


def test_protected_json_compressed_when_signed(std_site):
    # the protected JSON is small; whatever the encoding, a signed request decodes to the bytes
    resp = std_site.signed("GET", "/protected.json", headers={"Accept-Encoding": "gzip, br"})
    assert resp.status_code == 200
    assert resp.content == std_site.files["/protected.json"].content
    assert resp.headers["cache-control"] == "private, no-cache"
    _assert_forbidden(std_site.get("/protected.json", headers={"Accept-Encoding": "gzip, br"}))


def test_options_on_protected_needs_no_signature(std_site):
    resp = std_site.request("OPTIONS", PATH)
    assert resp.status_code == 204
    assert PROTECTED_MARKER not in resp.content
