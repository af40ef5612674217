"""HTTP/1.1 on the wire: keep-alive framing, HEAD, pipelining, request bodies, odd headers."""

from __future__ import annotations

import http.client
import socket
import time
from urllib.parse import urlencode

import pytest
from edgekit import PRIVATE_MARKER, raw_request, send_raw, twilio_signature


def _conn(site) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", site.port, timeout=10)


def _send(conn, method, path, host, headers=None, body=None):
    resp = send_raw(conn, method, path, host, headers, body)
    return resp.status, {k.lower(): v for k, v in resp.headers}, resp.body


HEAD_CASES = {
    "200": ("/hello.txt", {}),
    "404-missing": ("/nope.txt", {}),
    "404-private": ("/secret/private.txt", {}),
    "403-protected": ("/secret/protected.txt", {}),
    "416-range": ("/range.txt", {"Range": "bytes=5000-"}),
    "206-range": ("/range.txt", {"Range": "bytes=0-3"}),
    "304": ("/hello.txt", {"If-None-Match": "*"}),
    "200-file": ("/blob.bin", {}),
}


def _head_then_get(port: int, host: str, path: str, hdrs: dict) -> bytes:
    """HEAD then GET /hello.txt on one connection (pipelined); the raw bytes of both answers.
    (http.client would hide stray bytes after a HEAD response: it drops its read buffer.)"""
    extra = "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
    req = (f"HEAD {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n"
           f"GET /hello.txt HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").encode()
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(req)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


@pytest.mark.parametrize("case", sorted(HEAD_CASES))
def test_head_sends_no_body_on_keepalive_connection(std_site, case):
    """A response to HEAD never has content (RFC 9110 §9.3.2): any bytes after its header block
    would be read as the start of the next response on the connection."""
    path, hdrs = HEAD_CASES[case]
    data = _head_then_get(std_site.port, std_site.host, path, hdrs)
    first_head, _, rest = data.partition(b"\r\n\r\n")
    assert first_head.startswith(b"HTTP/1.1 "), data[:200]
    assert rest.startswith(b"HTTP/1.1 200"), f"{case}: bytes after the HEAD response: {rest[:80]!r}"
    assert rest.endswith(b"\r\n\r\nhello edge\n")


def test_head_on_unknown_host_has_no_body(server):
    data = _head_then_get(server.port, f"nosuch-0000.localhost:{server.port}", "/x", {})
    first_head, _, rest = data.partition(b"\r\n\r\n")
    assert first_head.startswith(b"HTTP/1.1 404")
    assert rest.startswith(b"HTTP/1.1 404"), f"bytes after the HEAD response: {rest[:80]!r}"


def test_keepalive_many_requests_one_connection(std_site):
    conn = _conn(std_site)
    try:
        for i in range(30):
            path = ["/hello.txt", "/nope.txt", "/secret/protected.txt", "/blob.bin", "/range.txt"][i % 5]
            status, headers, body = _send(conn, "GET", path, std_site.host)
            if path == "/hello.txt":
                assert (status, body) == (200, b"hello edge\n")
            elif path == "/blob.bin":
                assert status == 200 and body == std_site.files["/blob.bin"].content
            elif path == "/range.txt":
                assert status == 200 and body == std_site.files["/range.txt"].content
            elif path == "/nope.txt":
                assert status == 404
            else:
                assert status == 403  # protected, and the request is not signed
            assert int(headers["content-length"]) == len(body)
    finally:
        conn.close()


def _read_responses(sock: socket.socket, count: int, timeout: float = 10.0) -> list[tuple[int, bytes]]:
    """Parse `count` Content-Length-framed responses from a socket."""
    sock.settimeout(timeout)
    buf = b""
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < count and time.monotonic() < deadline:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                return out
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
        while len(buf) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
        out.append((status, buf[:length]))
        buf = buf[length:]
    return out


def test_pipelined_requests_answered_in_order(std_site):
    host = std_site.host.encode()
    paths = [b"/blob.bin", b"/hello.txt", b"/nope.txt", b"/blob.bin", b"/range.txt"]
    data = b"".join(b"GET " + p + b" HTTP/1.1\r\nHost: " + host + b"\r\n\r\n" for p in paths)
    with socket.create_connection(("127.0.0.1", std_site.port)) as s:
        s.sendall(data)
        got = _read_responses(s, len(paths))
    assert [st for st, _ in got] == [200, 200, 404, 200, 200]
    assert got[0][1] == std_site.files["/blob.bin"].content
    assert got[1][1] == b"hello edge\n"
    assert got[3][1] == std_site.files["/blob.bin"].content
    assert got[4][1] == std_site.files["/range.txt"].content


def test_chunked_form_post_to_protected(std_site):
    path = "/secret/protected.txt"
    form = [("CallSid", "CA" + "2" * 32), ("Digits", "42")]
    sig = twilio_signature(std_site.server.auth_token, std_site.url(path), form)
    body = urlencode(form).encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    req = (f"POST {path} HTTP/1.1\r\nHost: {std_site.host}\r\nX-Twilio-Signature: {sig}\r\n"
           "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n"
           "Connection: close\r\n\r\n").encode() + chunked
    with socket.create_connection(("127.0.0.1", std_site.port)) as s:
        s.sendall(req)
        got = _read_responses(s, 1)
    assert got and got[0][0] == 200
    assert got[0][1] == std_site.files[path].content


def test_expect_100_continue_post(std_site):
    path = "/secret/protected.txt"
    form = [("a", "b")]
    sig = twilio_signature(std_site.server.auth_token, std_site.url(path), form)
    resp = std_site.request("POST", path, {"X-Twilio-Signature": sig, "Expect": "100-continue",
                                           "Content-Type": "application/x-www-form-urlencoded"},
                            content=urlencode(form).encode())
    assert resp.status_code == 200
    assert resp.content == std_site.files[path].content


def test_large_post_body_is_refused_not_served(std_site):
    # Over the edge's 1 MiB body bound: the front refuses on the head's Content-Length and closes.
    # Only the head is sent, since a client still writing the body when the connection closes
    # gets EPIPE or a reset instead of the answer, depending on timing.
    resp = raw_request(std_site.port, "POST", "/secret/private.txt", std_site.host,
                       {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(2 * 1024 * 1024)})
    assert (resp.status, resp.body) == (413, b"Request body too large\n")
    assert resp.header("connection") == "close"
    assert PRIVATE_MARKER not in resp.body


def test_http10_request(std_site):
    with socket.create_connection(("127.0.0.1", std_site.port)) as s:
        s.sendall(f"GET /hello.txt HTTP/1.0\r\nHost: {std_site.host}\r\n\r\n".encode())
        got = _read_responses(s, 1)
    assert got == [(200, b"hello edge\n")]


def test_x_forwarded_host_not_trusted_by_default(std_site):
    resp = raw_request(std_site.port, "GET", "/hello.txt", f"nosuch-0000.localhost:{std_site.port}",
                       {"X-Forwarded-Host": std_site.host})
    assert resp.status == 404
    assert b"hello edge" not in resp.body
    # nor does it change the URL the signature covers
    path = "/secret/protected.txt"
    sig = twilio_signature(std_site.server.auth_token, f"https://evil.example{path}")
    resp = raw_request(std_site.port, "GET", path, std_site.host,
                       {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https", "X-Twilio-Signature": sig})
    assert resp.status == 403


def test_conflicting_host_headers_are_rejected(std_site):
    """RFC 9112 §3.2: a request with more than one Host field line MUST get 400."""
    for hosts in ((std_site.host, f"127.0.0.1:{std_site.port}"), (f"127.0.0.1:{std_site.port}", std_site.host)):
        req = (f"GET /hello.txt HTTP/1.1\r\nHost: {hosts[0]}\r\nHost: {hosts[1]}\r\n"
               "Connection: close\r\n\r\n").encode()
        with socket.create_connection(("127.0.0.1", std_site.port)) as s:
            s.sendall(req)
            got = _read_responses(s, 1)
        assert got and got[0][0] == 400, (hosts, got[:1])
