"""A signature covers what it claims to: a URL-only X-Twilio-Signature replayed as a POST with a
JSON body is refused on protected assets and functions (the function never sees the attacker's
JSON); a body is accepted only when the signed URL names its SHA-256 (`bodySHA256`), as Twilio
signs it and twilio-python's RequestValidator checks it."""

from __future__ import annotations

import hashlib
import http.client
import json
import secrets

import pytest
from edgekit import raw_request, send_raw
from fnkit import deploy_project
from twilio.request_validator import RequestValidator

SECRET = "PROTECTED-" + secrets.token_hex(12)
WHOAMI = """exports.handler = (context, event, callback) => {
  const { request, ...params } = event;
  console.log('event ' + JSON.stringify(params));
  callback(null, params);
};
"""


@pytest.fixture(scope="module")
def deployed(server):
    with server.http_client() as http:
        yield deploy_project(server, http, {
            "assets/secret.protected.txt": SECRET + "\n",
            "functions/whoami.protected.js": WHOAMI,
        })


def _sign(server, url: str) -> str:
    return RequestValidator(server.auth_token).compute_signature(url, {})


def _post_json(site, path: str, signature: str, body: bytes):
    return raw_request(site.port, "POST", path, site.host,
                       {"X-Twilio-Signature": signature, "Content-Type": "application/json"}, body)


def _assert_refused(resp, *absent: str):
    assert resp.status == 403, (resp.status, resp.body[:300])
    assert b"signature" in resp.body.lower()
    for text in absent:
        assert text.encode() not in resp.body


def _logged_events(deployed, server) -> list[str]:
    """Every event the function has logged so far: a legitimate call is made last and waited for,
    so whatever ran before it has been flushed to the Logs too."""
    site = deployed.site
    fence = "fence-" + secrets.token_hex(6)
    path = f"/whoami?fence={fence}"
    resp = raw_request(site.port, "GET", path, site.host, {"X-Twilio-Signature": _sign(server, site.url(path))})
    assert resp.status == 200, resp.body
    with server.http_client() as http:
        deployed.wait_log(http, fence)
        return [entry["message"] for entry in deployed.logs(http)]


def test_url_signature_replayed_with_json_on_protected_asset(deployed, server):
    site = deployed.site
    signature = _sign(server, site.url("/secret.txt"))
    assert raw_request(site.port, "GET", "/secret.txt", site.host,
                       {"X-Twilio-Signature": signature}).body == (SECRET + "\n").encode()
    _assert_refused(_post_json(site, "/secret.txt", signature, b'{"any": "thing"}'), SECRET)


def test_url_signature_replayed_with_json_on_protected_function(deployed, server):
    site = deployed.site
    path = "/whoami?To=%2B15550001111&Amount=10"
    signature = _sign(server, site.url(path))
    resp = raw_request(site.port, "GET", path, site.host, {"X-Twilio-Signature": signature})
    assert resp.status == 200, resp.body
    assert json.loads(resp.body) == {"To": "+15550001111", "Amount": "10"}

    marker = "attacker-" + secrets.token_hex(8)
    attack = json.dumps({"Amount": "1000000", "To": "+19990000000", "marker": marker}).encode()
    _assert_refused(_post_json(site, path, signature, attack), marker, "1000000")
    # also through uvicorn's protocol (an edge request on a connection opened for the API)
    conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=20)
    try:
        assert send_raw(conn, "GET", "/v1/Services", f"127.0.0.1:{site.port}").status == 401
        _assert_refused(send_raw(conn, "POST", path, site.host, {"X-Twilio-Signature": signature,
                                                                 "Content-Type": "application/json"}, attack),
                        marker)
    finally:
        conn.close()
    events = _logged_events(deployed, server)
    assert any("Amount" in e and '"10"' in e for e in events), events  # the signed call ran
    assert not any(marker in e or "1000000" in e for e in events), events  # the replays never did


def test_json_signed_with_body_sha256_reaches_the_function(deployed, server):
    site = deployed.site
    body = json.dumps({"From": "+15550002222", "nested": {"k": [1, 2]}}).encode()
    path = "/whoami?bodySHA256=" + hashlib.sha256(body).hexdigest()
    signature = _sign(server, site.url(path))
    resp = _post_json(site, path, signature, body)
    assert resp.status == 200, resp.body
    event = json.loads(resp.body)
    assert event["From"] == "+15550002222" and event["nested"] == {"k": [1, 2]}

    tampered = body.replace(b"2222", b"6666")
    _assert_refused(_post_json(site, path, signature, tampered), "6666")
    assert "6666" not in "".join(_logged_events(deployed, server))


def test_body_sha256_must_be_lower_case_hex_of_the_body(deployed, server):
    site = deployed.site
    body = b'{"a": "b"}'
    digest = hashlib.sha256(body).hexdigest()
    for claimed in (digest.upper(), hashlib.sha256(b"other").hexdigest(), ""):
        path = "/secret.txt?bodySHA256=" + claimed
        _assert_refused(_post_json(site, path, _sign(server, site.url(path)), body), SECRET)
    path = "/secret.txt?bodySHA256=" + digest
    resp = _post_json(site, path, _sign(server, site.url(path)), body)
    assert resp.status == 200 and resp.body == (SECRET + "\n").encode()


def test_post_without_body_keeps_a_url_signature(deployed, server):
    site = deployed.site
    resp = _post_json(site, "/secret.txt", _sign(server, site.url("/secret.txt")), b"")
    assert resp.status == 200 and resp.body == (SECRET + "\n").encode()


@pytest.mark.parametrize("padding", [(" ", ""), ("", "  "), ("\t", " ")])
def test_spaces_around_the_signature_header_are_tolerated(deployed, server, padding):
    site = deployed.site
    before, after = padding
    signature = before + _sign(server, site.url("/secret.txt")) + after
    resp = raw_request(site.port, "GET", "/secret.txt", site.host, {"X-Twilio-Signature": signature})
    assert resp.status == 200 and resp.body == (SECRET + "\n").encode()
    path = "/whoami?bodySHA256=" + hashlib.sha256(b'{"x": "1"}').hexdigest()
    resp = _post_json(site, path, before + _sign(server, site.url(path)) + after, b'{"x": "1"}')
    assert resp.status == 200 and json.loads(resp.body)["x"] == "1"
