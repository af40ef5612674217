"""The HTTP front against hostile clients: one connection, or a few hundred, must not be able to
exhaust the server. Each test makes the attack on raw sockets (127.0.0.1 only, every loop bounded
in time and bytes), asserts that its effect did not happen (memory grew by less than a stated
bound, the connection was closed within its timeout, one answer and one log line, no traceback),
and that meanwhile another client is still served."""

from __future__ import annotations

import base64
import json
import os
import re
import selectors
import socket
import threading
import time
from collections.abc import Callable

import psutil
import pytest
from edgekit import raw_request
from frontkit import (
    BODY_TIMEOUT_S,
    HEADER_TIMEOUT_S,
    KEEPALIVE_TIMEOUT_S,
    MAX_BODY_BYTES,
    MAX_CONNECTIONS,
    MAX_HEADER_BYTES,
    MAX_REQUEST_LINE,
    SEND_TIMEOUT_S,
    answer_bytes,
)
from helpers import assert_error, create_service, uniq
from securitykit import Console

MiB = 1024 * 1024
# How late past its timeout a connection may be closed (timer, scheduling, a busy machine).
SLACK_S = 1.5
# RSS of the server may move this much from allocator noise alone; every attack below would cost
# at least several times more without its bound.
MEMORY_BOUND = 16 * MiB
# What one connection may hold of an answer being sent: a piece of it (httpparts.FILE_CHUNK) and
# the transport's buffer (--write-buffer-bytes, left at its default by the security suite).
ANSWER_PIECE = 1 * MiB
WRITE_BUFFER = 64 * 1024


# --------------------------------------------------------------------------------------- helpers


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def _auth(server) -> str:
    return "Basic " + base64.b64encode(f"{server.account_sid}:{server.auth_token}".encode()).decode()


def _api_get(server) -> bytes:
    return (f"GET /v1/Services HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Authorization: {_auth(server)}\r\n\r\n").encode()


def _read_until_closed(sock: socket.socket, within: float) -> tuple[bytes, float | None]:
    """What the server sends until it closes the connection, and after how many seconds (None
    when it was still open after `within`)."""
    start = time.monotonic()
    data = b""
    while (left := within - (time.monotonic() - start)) > 0:
        sock.settimeout(min(left, 0.2))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionError:
            return data, time.monotonic() - start
        if not chunk:
            return data, time.monotonic() - start
        data += chunk
    return data, None


def _complete_responses(data: bytes) -> list[tuple[int, bytes]]:
    """The complete Content-Length-framed responses at the start of `data`."""
    out = []
    while True:
        head, sep, rest = data.partition(b"\r\n\r\n")
        match = re.search(rb"\r\ncontent-length: *(\d+)", head, re.IGNORECASE)
        length = int(match.group(1)) if match else 0
        if not sep or len(rest) < length:
            return out
        out.append((int(head.split(b" ", 2)[1]), rest[:length]))
        data = rest[length:]


def _read_responses(sock: socket.socket, count: int, within: float = 10.0) -> list[tuple[int, bytes]]:
    """The next `count` responses on `sock`, read as they come (for at most `within` seconds)."""
    data = b""
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        if len(answers := _complete_responses(data)) >= count:
            return answers
        sock.settimeout(left)
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        data += chunk
    raise AssertionError(f"not {count} responses within {within} s: {data[:300]!r}")


def _responses(data: bytes) -> list[tuple[int, bytes]]:
    """The Content-Length-framed responses in `data`, in order."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            raise AssertionError(f"bytes that are no response: {data[:120]!r}")
        status = int(head.split(b" ", 2)[1])
        match = re.search(rb"\r\ncontent-length: *(\d+)", head, re.IGNORECASE)
        length = int(match.group(1)) if match else 0
        out.append((status, rest[:length]))
        data = rest[length:]
    return out


def _assert_served(site) -> None:
    """Another client gets its file, promptly."""
    start = time.monotonic()
    resp = raw_request(site.port, "GET", "/hello.txt", site.host)
    assert (resp.status, resp.body) == (200, b"hello edge\n")
    assert time.monotonic() - start < 2.0, "another client waited"


def _server_holds(server, sock: socket.socket) -> bool:
    """Whether the server process still has its end of this client's connection."""
    port = sock.getsockname()[1]
    return any(c.raddr and c.raddr.port == port for c in psutil.Process(server.pid).net_connections("tcp"))


def _held(server, socks: list[socket.socket]) -> int:
    """How many of these clients' connections the server process still has its end of."""
    ports = {sock.getsockname()[1] for sock in socks}
    return sum(1 for c in psutil.Process(server.pid).net_connections("tcp") if c.raddr and c.raddr.port in ports)


def _all_dropped_within(server, socks: list[socket.socket], seconds: float) -> int:
    """How many of `socks` the server still holds after waiting at most `seconds` for none to be."""
    deadline = time.monotonic() + seconds
    while (held := _held(server, socks)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return held


def _dropped_within(server, sock: socket.socket, seconds: float) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if not _server_holds(server, sock):
            return time.monotonic() - start
        time.sleep(0.05)
    return None


def _temporary_files(server) -> list[str]:
    """The files under the server's scratch folder that it has open, unlinked ones included."""
    return [target for _, target in _open_temporary_files(server)]


def _open_temporary_files(server) -> set[tuple[str, str]]:
    """(descriptor, file) of each: an unlinked file is named by its inode, which a later file may
    reuse, but not on the same descriptor while both are open."""
    tmp = os.path.realpath(f"{server.data_dir}/scratch") + "/"
    fds = f"/proc/{server.pid}/fd"
    found = set()
    for fd in os.listdir(fds):
        try:
            target = os.readlink(f"{fds}/{fd}")
        except FileNotFoundError:
            continue  # closed meanwhile
        if target.startswith(tmp):
            found.add((fd, target))
    return found


def _own_rss(server) -> int:
    """RSS of the server process alone: function workers are bounded by their own sandbox limits
    (tests/security/test_sandbox.py); what the front holds for its clients is in this process."""
    return psutil.Process(server.pid).memory_info().rss


class _Peak(threading.Thread):
    """The highest RSS of the server (and its children, unless `own`) while an attack runs."""

    def __init__(self, server, own: bool = False):
        super().__init__(daemon=True)
        self.rss = (lambda: _own_rss(server)) if own else server.rss
        self.baseline = self.rss()
        self.peak = self.baseline
        self._stop_evt = threading.Event()

    def run(self):
        while not self._stop_evt.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.02)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self._stop_evt.set()
        self.join(timeout=5)
        self.peak = max(self.peak, self.rss())

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


class _Log:
    """The lines a server logs from now on."""

    def __init__(self, server):
        self.path = server.log_path
        self.start = self.path.stat().st_size

    def lines(self, settle: float = 0.3) -> list[str]:
        time.sleep(settle)
        text = self.path.read_bytes()[self.start:].decode(errors="replace")
        return [line for line in text.splitlines() if line.strip()]


# ------------------------------------------------------------------- write backpressure (pipelining)


def _pipeline_without_reading(server, site, sock: socket.socket, request: bytes) -> tuple[int | None, int]:
    """Send `request` again and again on `sock`, reading nothing, for at most 4 s or 64 MiB, while
    another client is served. Returns how many bytes went out before the server stopped taking
    them (None if it never did), and how much its RSS grew meanwhile."""
    sock.setblocking(False)
    sent, blocked_since = 0, None
    with _Peak(server) as peak:
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline and sent < 64 * MiB:
            try:
                sent += sock.send(request)
                blocked_since = None
            except BlockingIOError:
                blocked_since = blocked_since or time.monotonic()
                if time.monotonic() - blocked_since > 0.5:
                    break  # the server has stopped reading us
                time.sleep(0.01)
        _assert_served(site)
    return (sent if blocked_since is not None else None), peak.growth


@pytest.mark.parametrize("path", ["/memory.bin", "/disk.bin"])
def test_pipelining_client_that_never_reads_costs_bounded_memory(front, site, path):
    """Pipelined GETs of a 200 KiB file (from memory) or a 2 MiB one (from disk) by a client
    that reads nothing (it used to cost 1.8 GiB in 20 s): the server stops reading that connection
    once its unsent answers pass the write buffer, so memory stays flat, and it drops the client
    after --send-timeout."""
    sock = _connect(site.port)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    request = f"GET {path} HTTP/1.1\r\nHost: {site.host}\r\n\r\n".encode()
    taken, growth = _pipeline_without_reading(front, site, sock, request * 64)
    assert taken is not None, "the server read every request it could not answer"
    assert growth < MEMORY_BOUND, f"RSS grew by {growth / MiB:.1f} MiB"
    took = _dropped_within(front, sock, SEND_TIMEOUT_S + SLACK_S)
    sock.close()
    assert took is not None, f"a client that reads nothing still held after {SEND_TIMEOUT_S + SLACK_S} s"


def test_pipelining_on_an_api_connection_that_never_reads_costs_bounded_memory(front, site):
    """The same on a connection handed to the API (uvicorn's protocol, with the front's bounds),
    whose later requests ask for the 200 KiB file (served there by the edge's ASGI app)."""
    sock = _connect(front.port)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.sendall(_api_get(front))
    request = f"GET /memory.bin HTTP/1.1\r\nHost: {site.host}\r\n\r\n".encode()
    taken, growth = _pipeline_without_reading(front, site, sock, request * 64)
    assert taken is not None, "the server read every request it could not answer"
    assert growth < MEMORY_BOUND, f"RSS grew by {growth / MiB:.1f} MiB"
    took = _dropped_within(front, sock, SEND_TIMEOUT_S + SLACK_S)
    sock.close()
    assert took is not None, "an API client that reads nothing is still held"


def test_pipelined_answers_still_come_in_order_when_read_slowly(front, site):
    """The backpressure loses nothing: 40 pipelined requests read slowly all come back, in order."""
    paths = ["/memory.bin", "/hello.txt", "/disk.bin", "/nope.txt"] * 10
    data = b"".join(f"GET {p} HTTP/1.1\r\nHost: {site.host}\r\n\r\n".encode() for p in paths)
    with _connect(site.port) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        sock.sendall(data + f"GET /hello.txt HTTP/1.1\r\nHost: {site.host}\r\nConnection: close\r\n\r\n".encode())
        got = b""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            chunk = sock.recv(16 * 1024)
            if not chunk:
                break
            got += chunk
            time.sleep(0.001)
    answers = _responses(got)
    expect = {"/memory.bin": 200, "/hello.txt": 200, "/disk.bin": 200, "/nope.txt": 404}
    assert [status for status, _ in answers] == [expect[p] for p in paths] + [200]
    assert all(body == site.files[p].content for p, (_, body) in zip(paths, answers, strict=False)
               if p != "/nope.txt")


# --------------------------------------------------------------------- answers the client never reads


def _never_reading(port: int, first: bytes, request: bytes, count: int,
                   after_each: Callable[[], None] = lambda: None) -> list[socket.socket]:
    """`count` connections that send `first` and read all of its answer, then send `request` and
    read nothing more, once its answer has begun to arrive. Each has a receive buffer of 4 KiB and
    segments of 536 bytes, set before it connects: the kernel sizes the server's send buffer by
    the segment size, so it takes a few dozen KiB of the answer, not the MiB or so it would on
    loopback, and the rest stays with the server process, where it must not stay for good."""
    socks = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
        sock.settimeout(5)
        sock.connect(("127.0.0.1", port))
        if first:
            sock.sendall(first)
            _read_responses(sock, 1)
        sock.sendall(request)
        sock.recv(1, socket.MSG_PEEK)  # the server has taken the connection and is answering
        socks.append(sock)
        after_each()
    return socks


def _last_answer_cases(front, site, fn_site) -> dict[str, tuple[bytes, bytes]]:
    """name: (a request answered first, then one whose answer ends the connection)."""
    return {
        "edge Connection: close": (b"", f"GET /memory.bin HTTP/1.1\r\nHost: {site.host}\r\nConnection: close\r\n\r\n"
                                        .encode()),
        "edge HTTP/1.0": (b"", f"GET /memory.bin HTTP/1.0\r\nHost: {site.host}\r\n\r\n".encode()),
        "function Connection: close": (b"", f"GET /answer?size={900 * 1024} HTTP/1.1\r\nHost: {fn_site.host}\r\n"
                                            "Connection: close\r\n\r\n".encode()),
        "API connection, Connection: close": (_api_get(front), f"GET /memory.bin HTTP/1.1\r\nHost: {site.host}\r\n"
                                                               "Connection: close\r\n\r\n".encode()),
    }


@pytest.mark.parametrize("case", ["edge Connection: close", "edge HTTP/1.0", "function Connection: close",
                                  "API connection, Connection: close"])
def test_a_client_that_never_reads_the_answer_a_connection_ends_with_is_dropped(front, site, fn_site, case):
    """30 clients each ask for an answer after which the connection is to close (Connection: close,
    HTTP/1.0; a 200 KiB file, a 900 KiB function answer, a file on a connection handed to the API)
    and read none of it. Closing waits for the answer to drain, which never happens: the server
    used to hold every such connection and its unsent bytes for good (10 of 10 after 12 s, +240 MiB
    for 12 MiB answers). Now each is dropped --send-timeout after the client stopped reading, and
    what it held is given back: a later wave of such clients costs no more memory (the allocator
    keeps freed memory for reuse, so RSS need not fall). Three waves, the last one measured: glibc
    raises its mmap threshold the first time it frees a large block, so which wave's answers come
    from mmap (given back when freed) and which from the heap (kept for reuse) depends on what the
    process freed before; from the second wave on, the heap's freed blocks are reused."""
    count = 30
    waves = 3
    first, request = _last_answer_cases(front, site, fn_site)[case]
    log = _Log(front)
    for _ in range(waves):
        before = _own_rss(front)
        socks = _never_reading(front.port, first, request, count)
        try:
            still = _all_dropped_within(front, socks, SEND_TIMEOUT_S + SLACK_S)
        finally:
            for sock in socks:
                sock.close()
        assert still == 0, f"{still} of {count} clients that read nothing still held after {SEND_TIMEOUT_S + SLACK_S} s"
    growth = _own_rss(front) - before
    assert growth < MEMORY_BOUND, f"the last wave cost {growth / MiB:.1f} MiB more: the earlier ones' was not given back"
    _assert_served(site)
    assert len([line for line in log.lines() if "read none of its answer" in line]) == waves * count


BIG_ANSWER = 8 * MiB
# What the server holds of the answers being made, however many clients wait: the one each of the
# build's two Node workers is sending (read into a buffer, then copied out of it).
ANSWERS_IN_FLIGHT = 2 * 2 * BIG_ANSWER


@pytest.mark.parametrize("via", ["front", "api-connection"])
def test_clients_that_never_read_a_large_function_answer_cost_bounded_memory(front, fn_site, via):
    """40 clients ask for an 8 MiB function answer and read none of it (60 such cost 588 MiB: each
    answer was handed to the transport whole). An answer over 1 MiB now waits in a temporary file
    and goes out 1 MiB at a time as the client takes it, on a connection of the front's or one
    handed to the API alike: each connection holds at most that piece and its write buffer, so the
    server's RSS grows by less than 40 x (1 MiB + 64 KiB), the answers being made and 16 MiB, not
    by 40 x 8 MiB; the clients are dropped at --send-timeout and their temporary files with them."""
    count = 40
    assert fn_site.get(f"/answer?size={BIG_ANSWER}").status_code == 200  # the workers are up
    first = _api_get(front) if via == "api-connection" else b""
    request = f"GET /answer?size={BIG_ANSWER} HTTP/1.1\r\nHost: {fn_site.host}\r\n\r\n".encode()
    # Counted as each client is set up: under load, setting up 40 takes about as long as
    # --send-timeout, so the first may be dropped (and their files gone) before the last is there.
    seen: set[tuple[str, str]] = set()
    with _Peak(front, own=True) as peak:
        socks = _never_reading(front.port, first, request, count, lambda: seen.update(_open_temporary_files(front)))
        try:
            waiting = len(seen)
            still = _all_dropped_within(front, socks, SEND_TIMEOUT_S + SLACK_S)
        finally:
            for sock in socks:
                sock.close()
    bound = count * (ANSWER_PIECE + WRITE_BUFFER) + ANSWERS_IN_FLIGHT + MEMORY_BOUND
    assert peak.growth < bound, f"RSS grew by {peak.growth / MiB:.1f} MiB (bound {bound / MiB:.1f} MiB)"
    assert waiting == count, f"{waiting} of {count} answers waited in a temporary file"
    assert still == 0, f"{still} of {count} clients that read nothing still held"
    assert _temporary_files(front) == [], "temporary files kept after their clients were dropped"


@pytest.mark.parametrize("via", ["front", "api-connection"])
def test_a_large_function_answer_comes_whole_and_the_connection_goes_on(front, fn_site, via):
    """What the pieces add up to: a client reading slowly gets a 5 MiB function answer byte for
    byte, then the answer to the request it sent next on the same connection."""
    size = 5 * MiB + 7
    first = _api_get(front) if via == "api-connection" else b""
    with _connect(front.port) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        if first:
            sock.sendall(first)
            assert _read_responses(sock, 1)[0][0] == 200
        sock.sendall(f"GET /answer?size={size} HTTP/1.1\r\nHost: {fn_site.host}\r\n\r\n"
                     f"GET /answer?size=10 HTTP/1.1\r\nHost: {fn_site.host}\r\n\r\n".encode())
        answers = _read_responses(sock, 2, within=30)
    assert answers[0] == (200, answer_bytes(size))
    assert answers[1] == (200, answer_bytes(10))


# ------------------------------------------------------------------------------ request head size


def _header_flood(server, host: str, socks: int, per_socket: int, prefix: bytes = b"") -> list[tuple[bytes, bool]]:
    """`socks` connections each send `prefix`, then a header line that never ends, round-robin
    64 KiB at a time until the server closes them or `per_socket` bytes went out; returns what each
    one got back and whether the server closed it."""
    conns = [_connect(server.port) for _ in range(socks)]
    head = prefix + f"GET /hello.txt HTTP/1.1\r\nHost: {host}\r\nX-Long: ".encode()
    for sock in conns:
        sock.sendall(head)
        sock.setblocking(False)
    sent = [0] * socks
    closed = [False] * socks
    received = [b""] * socks
    chunk = b"a" * 65536
    deadline = time.monotonic() + 8.0
    while time.monotonic() < deadline and not all(closed[i] or sent[i] >= per_socket for i in range(socks)):
        for i, sock in enumerate(conns):
            if closed[i]:
                continue
            try:
                data = sock.recv(65536)
                if not data:
                    closed[i] = True
                    continue
                received[i] += data
            except BlockingIOError:
                pass
            except ConnectionError:
                closed[i] = True
                continue
            if sent[i] < per_socket:
                try:
                    sent[i] += sock.send(chunk)
                except BlockingIOError:
                    pass
                except OSError:
                    closed[i] = True
        time.sleep(0.001)
    out = []
    for i, sock in enumerate(conns):
        if not closed[i]:
            rest, took = _read_until_closed(sock, 1.0)
            received[i] += rest
            closed[i] = took is not None
        sock.close()
        out.append((received[i], closed[i]))
    return out


@pytest.mark.parametrize("target", ["edge", "api"])
def test_unfinished_header_lines_are_cut_at_the_bound(front, site, target):
    """20 connections × 4 MiB of a header line that never ends: each is answered 431 and closed
    after about --max-header-bytes, and the memory is not spent (it used to be kept, and kept)."""
    host = site.host if target == "edge" else f"127.0.0.1:{front.port}"
    with _Peak(front) as peak:
        results = _header_flood(front, host, socks=20, per_socket=4 * MiB)
        _assert_served(site)
    for got, closed in results:
        assert closed, "a connection sending an endless header is still open"
        assert got.startswith(b"HTTP/1.1 431 "), got[:100]
    assert peak.growth < MEMORY_BOUND, f"RSS grew by {peak.growth / MiB:.1f} MiB"


def test_unfinished_header_line_after_the_hand_over_is_cut(front, site):
    """The second request of an API connection is read by uvicorn's protocol: bounded the same way."""
    with _Peak(front) as peak:
        results = _header_flood(front, f"127.0.0.1:{front.port}", socks=10, per_socket=4 * MiB,
                                prefix=_api_get(front))
        _assert_served(site)
    for got, closed in results:
        assert closed
        answers = got.split(b"HTTP/1.1 ")
        assert [a[:3] for a in answers[1:]] == [b"200", b"431"], got[:300]
    assert peak.growth < MEMORY_BOUND, f"RSS grew by {peak.growth / MiB:.1f} MiB"


def test_many_header_fields_are_cut_at_the_bound(front, site):
    """Many short fields add up the same as one long one."""
    fields = b"".join(b"X-F%d: %s\r\n" % (i, b"v" * 40) for i in range(2 * MAX_HEADER_BYTES // 40))
    with _connect(front.port) as sock:
        sock.sendall(f"GET /hello.txt HTTP/1.1\r\nHost: {site.host}\r\n".encode() + fields + b"\r\n")
        got, took = _read_until_closed(sock, 2.0)
    assert took is not None and got.startswith(b"HTTP/1.1 431 "), got[:100]
    # a header just under the bound is served
    fields = b"".join(b"X-F%d: %s\r\n" % (i, b"v" * 40) for i in range(MAX_HEADER_BYTES // 2 // 40))
    resp = raw_request(site.port, "GET", "/hello.txt", site.host,
                       dict(line.split(": ", 1) for line in fields.decode().splitlines()))
    assert resp.status == 200


# -------------------------------------------------------------------------------------- body size


@pytest.mark.parametrize("via", ["front", "api-connection"])
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_edge_body_over_the_bound_by_content_length_is_refused_before_it_is_sent(front, site, method, via):
    """A 400 MB Content-Length gets 413 at once: the server does not wait for, or keep, the body
    (it used to keep it all). The same when the edge request comes on a connection handed to the
    API, where uvicorn runs the edge's ASGI app."""
    first = _api_get(front) if via == "api-connection" else b""
    with _connect(front.port) as sock:
        sock.sendall(first + f"{method} /hello.txt HTTP/1.1\r\nHost: {site.host}\r\nContent-Length: {400_000_000}\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\n\r\n".encode())
        got, took = _read_until_closed(sock, 2.0)
    assert took is not None and took < 1.0, "no answer before the body"
    assert [status for status, _ in _responses(got)] == ([200] if first else []) + [413]
    _assert_served(site)


def test_chunked_edge_body_is_cut_off_when_it_passes_the_bound(front, site):
    """A chunked body of up to 64 MiB: 413 and closed once --max-body-bytes have come; memory stays
    flat (the whole body used to be kept twice, once in the replay buffer of the hand-over)."""
    piece = b"a" * (16 * 1024)
    chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
    sock = _connect(front.port)
    sock.sendall(f"POST /hello.txt HTTP/1.1\r\nHost: {site.host}\r\nTransfer-Encoding: chunked\r\n"
                 "Content-Type: application/x-www-form-urlencoded\r\n\r\n".encode())
    sock.setblocking(False)
    sent, got, closed = 0, b"", False
    with _Peak(front) as peak:
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and sent < 64 * MiB and not closed:
            try:
                sent += sock.send(chunk)
            except BlockingIOError:
                time.sleep(0.005)
            except OSError:
                closed = True
            try:
                data = sock.recv(65536)
                got += data
                closed = closed or not data
            except BlockingIOError:
                pass
            except OSError:
                closed = True
        _assert_served(site)
    if not closed:
        rest, took = _read_until_closed(sock, 1.0)
        got, closed = got + rest, took is not None
    sock.close()
    assert closed, f"still reading a chunked body after {sent} bytes"
    assert sent < 16 * MiB, f"the server read {sent} bytes of a body bounded at {MAX_BODY_BYTES}"
    assert got.startswith(b"HTTP/1.1 413 "), got[:100]
    assert peak.growth < MEMORY_BOUND, f"RSS grew by {peak.growth / MiB:.1f} MiB"


def test_edge_body_under_the_bound_is_still_served(front, site):
    body = b"a=" + b"x" * (MAX_BODY_BYTES - 10)
    resp = raw_request(site.port, "POST", "/hello.txt", site.host,
                       {"Content-Type": "application/x-www-form-urlencoded"}, body)
    assert (resp.status, resp.body) == (200, b"hello edge\n")


# ---------------------------------------------------------------------------------- API form bodies

MAX_FORM_BYTES = 4 * MiB  # --max-form-bytes, left at its default
FORM_TOO_LARGE = {"code": 20413, "message": f"The request body is over {MAX_FORM_BYTES} bytes, the most a form may be "
                                            "(file uploads have limits of their own)",
                  "more_info": "https://www.twilio.com/docs/errors/20413", "status": 413}


def _form_head(front, target: str, console, framing: str) -> bytes:
    """The head of a form POST to the API (authenticated) or to the console (signed in, with the
    CSRF header its own JavaScript sends), its body framed by `framing`."""
    if target == "api":
        path, auth = "/v1/Services", f"Authorization: {_auth(front)}\r\n"
    else:
        cookies = "; ".join(f"{k}={v}" for k, v in console.cookies.items())
        path = "/console/services"
        auth = (f"Cookie: {cookies}\r\nX-CSRF-Token: {console.csrf('/console/services')}\r\n"
                "X-Requested-With: assethost-console\r\n")
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{front.port}\r\n{auth}"
            f"Content-Type: application/x-www-form-urlencoded\r\n{framing}\r\n\r\nUniqueName=big&Pad=").encode()


@pytest.fixture
def console(front):
    with Console(front) as signed_in:
        yield signed_in.sign_in()


def _expected_form_refusal(target: str) -> dict:
    # The console's own JavaScript is answered as the console answers it: {"message": ...}.
    return FORM_TOO_LARGE if target == "api" else {"message": FORM_TOO_LARGE["message"]}


@pytest.mark.parametrize("target", ["api", "console"])
def test_a_form_body_over_the_bound_by_content_length_is_refused_before_it_is_sent(front, site, console, target):
    """An authenticated API (or console) form POST announcing 300 MB gets Twilio's 413 at once,
    before its body: the whole body used to be read into memory first (292 MiB sent, +291 MiB,
    then a 400)."""
    with _Peak(front) as peak, _connect(front.port) as sock:
        sock.sendall(_form_head(front, target, console, "Content-Length: 300000000") + b"a" * 65536)
        answers = _read_responses(sock, 1, within=3.0)
    assert answers[0][0] == 413
    assert json.loads(answers[0][1]) == _expected_form_refusal(target)
    assert peak.growth < MEMORY_BOUND, f"RSS grew by {peak.growth / MiB:.1f} MiB"
    _assert_served(site)


@pytest.mark.parametrize("target", ["api", "console"])
def test_a_chunked_form_body_is_refused_when_it_passes_the_bound(front, site, console, target):
    """A chunked form body (no Content-Length to go by) of up to 64 MiB, in fields of 16 KiB (a
    field is cut at 1 MiB anyway): 413 once --max-form-bytes have come, with Twilio's JSON body,
    and memory stays flat (the whole body used to be read)."""
    piece = b"&f=" + b"a" * (16 * 1024 - 3)
    chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
    sock = _connect(front.port)
    sock.sendall(_form_head(front, target, console, "Transfer-Encoding: chunked").replace(b"UniqueName=big&Pad=", b""))
    sock.setblocking(False)
    sent, got, rest = 0, b"", memoryview(b"")
    with _Peak(front) as peak:
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and sent < 64 * MiB and not _complete_responses(got):
            rest = rest or memoryview(chunk)
            try:
                taken = sock.send(rest)  # what a send does not take goes first next time: the framing holds
                sent, rest = sent + taken, rest[taken:]
            except BlockingIOError:
                time.sleep(0.002)
            try:
                got += sock.recv(65536)
            except BlockingIOError:
                pass
        _assert_served(site)
    sock.close()
    answers = _complete_responses(got)
    assert answers, f"no answer after {sent} bytes of a form bounded at {MAX_FORM_BYTES}"
    assert sent < MAX_FORM_BYTES + 8 * MiB, f"answered only after {sent} bytes"
    assert answers[0][0] == 413
    assert json.loads(answers[0][1]) == _expected_form_refusal(target)
    assert peak.growth < MEMORY_BOUND, f"RSS grew by {peak.growth / MiB:.1f} MiB"


def test_a_form_under_the_bound_is_still_served(front):
    """A build of 2100 versions (the most one may have: ~105 KB of form) is read whole and
    refused for what it names, not for its size; a form just under the bound is taken."""
    with front.http_client() as http:
        service = create_service(http)["sid"]
        sids = [f"ZN{i:032x}" for i in range(2100)]
        resp = http.post(f"/v1/Services/{service}/Builds", content="&".join(f"AssetVersions={sid}" for sid in sids),
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert_error(resp, 404, 20404, sids[0])  # read whole: the first of the versions is not found
        pads = "&".join(f"Pad{i}={'a' * (1000 * 1024)}" for i in range(4))  # a field may be at most 1 MiB
        assert MAX_FORM_BYTES - 200 * 1024 < len(pads) < MAX_FORM_BYTES - 1024
        resp = http.post("/v1/Services", content=f"UniqueName={uniq('pad')}&FriendlyName=padded&{pads}",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert resp.status_code == 201, resp.text


# ------------------------------------------------------------------------------------------ waits


def _stall_cases(front, site) -> dict[str, tuple[bytes, bytes, float, bool]]:
    """name: (a request answered first, then bytes after which nothing more is sent; the timeout
    that must end it; whether a 408 is owed)."""
    api = f"127.0.0.1:{front.port}"
    auth = _auth(front)
    edge_get = f"GET /hello.txt HTTP/1.1\r\nHost: {site.host}\r\n\r\n".encode()
    return {
        "edge-header": (b"", f"GET /hello.txt HTTP/1.1\r\nHost: {site.host}\r\nX-A: b".encode(), HEADER_TIMEOUT_S,
                        True),
        "edge-body": (b"", f"POST /hello.txt HTTP/1.1\r\nHost: {site.host}\r\nContent-Length: 100\r\n\r\nabc".encode(),
                      BODY_TIMEOUT_S, True),
        "edge-idle": (b"", b"", KEEPALIVE_TIMEOUT_S, False),
        "edge-second-header": (edge_get, b"GET /hello.txt HTTP/1.1\r\n", HEADER_TIMEOUT_S, True),
        "edge-idle-after-answer": (edge_get, b"", KEEPALIVE_TIMEOUT_S, False),
        "api-header": (b"", f"GET /v1/Services HTTP/1.1\r\nHost: {api}\r\n".encode(), HEADER_TIMEOUT_S, True),
        "api-body": (b"", f"POST /v1/Services HTTP/1.1\r\nHost: {api}\r\nAuthorization: {auth}\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nUnique".encode(),
                     BODY_TIMEOUT_S, True),
        "api-second-header": (_api_get(front), f"GET /v1/Services HTTP/1.1\r\nHost: {api}\r\n".encode(),
                              HEADER_TIMEOUT_S, True),
        "api-second-body": (_api_get(front), f"POST /v1/Services HTTP/1.1\r\nHost: {api}\r\nAuthorization: {auth}\r\n"
                            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nUnique".encode(),
                            BODY_TIMEOUT_S, True),
        "api-idle-after-answer": (_api_get(front), b"", KEEPALIVE_TIMEOUT_S, False),
    }


@pytest.mark.parametrize("case", ["edge-header", "edge-body", "edge-idle", "edge-second-header",
                                  "edge-idle-after-answer", "api-header", "api-body", "api-second-header",
                                  "api-second-body", "api-idle-after-answer"])
def test_a_stalled_request_is_closed_within_its_timeout(front, site, case):
    """A request begun and never finished, a body that stops coming, a connection left idle: each
    is closed within its timeout (408 when a request was begun), on edge and API connections
    alike, on their first request or after an answer (uvicorn never closed those)."""
    first, stall, timeout, owes_408 = _stall_cases(front, site)[case]
    with _connect(front.port) as sock:
        if first:
            sock.sendall(first)
            got = b""
            while not got.endswith(b"}") and b"hello edge" not in got:  # the whole answer, then the stall
                got += sock.recv(65536)
        sock.sendall(stall)
        got, took = _read_until_closed(sock, timeout + SLACK_S + 1)
    assert took is not None, f"{case}: still open {timeout + SLACK_S + 1} s later"
    assert timeout * 0.8 <= took <= timeout + SLACK_S, f"{case}: closed after {took:.2f} s, timeout {timeout} s"
    statuses = [status for status, _ in _responses(got)]
    if owes_408:
        assert statuses == [408], f"{case}: {got[-200:]!r}"
    else:
        assert statuses == [], got[-200:]
    _assert_served(site)


def test_a_body_still_coming_long_after_its_answer_is_cut_off(front, site):
    """The API answers a form longer than --max-form-bytes at once, by its Content-Length (413);
    the client goes on sending. The server drops the rest for --body-timeout, then closes
    (uvicorn would read it to its end, however long: nginx's lingering_time)."""
    sock = _connect(front.port)
    sock.sendall(f"POST /v1/Services HTTP/1.1\r\nHost: 127.0.0.1:{front.port}\r\nAuthorization: {_auth(front)}\r\n"
                 f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {10**12}\r\n\r\n"
                 "UniqueName=".encode())
    sock.setblocking(False)
    chunk = b"a" * 65536
    got, answered, closed = b"", None, None
    start = time.monotonic()
    while time.monotonic() - start < BODY_TIMEOUT_S + SLACK_S + 3 and closed is None:
        try:
            sock.send(chunk)
        except BlockingIOError:
            time.sleep(0.001)
        except OSError:
            closed = time.monotonic()
        try:
            data = sock.recv(65536)
            got += data
            if not data:
                closed = time.monotonic()
        except BlockingIOError:
            pass
        except OSError:
            closed = time.monotonic()
        if answered is None and got:
            answered = time.monotonic()
    sock.close()
    assert answered is not None, "no answer"
    assert closed is not None, "the server is still reading a body it has answered"
    assert closed - answered <= BODY_TIMEOUT_S + SLACK_S
    assert [status for status, _ in _responses(got)] == [413], got[:200]
    _assert_served(site)


def test_slowloris_connections_are_all_closed_by_the_header_timeout(front, site):
    """200 connections trickling a header one byte every 0.2 s (a read never waits longer than
    that, so only a timeout on the whole header ends them), while another client is served."""
    conns = [_connect(front.port) for _ in range(200)]
    start = time.monotonic()
    for sock in conns:
        sock.sendall(f"GET /hello.txt HTTP/1.1\r\nHost: {site.host}\r\nX-Slow: ".encode())
        sock.setblocking(False)
    selector = selectors.DefaultSelector()
    for sock in conns:
        selector.register(sock, selectors.EVENT_READ)
    closed_after: dict[socket.socket, float] = {}
    got: dict[socket.socket, bytes] = {sock: b"" for sock in conns}
    next_trickle, served = start, False
    while len(closed_after) < len(conns) and time.monotonic() - start < HEADER_TIMEOUT_S + SLACK_S + 2:
        for key, _ in selector.select(timeout=0.05):
            sock = key.fileobj
            try:
                data = sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except ConnectionError:
                data = b""
            if data:
                got[sock] += data
            else:
                closed_after[sock] = time.monotonic() - start
                selector.unregister(sock)
        if time.monotonic() >= next_trickle:
            next_trickle += 0.2
            for sock in conns:
                if sock not in closed_after:
                    try:
                        sock.send(b"x")
                    except OSError:
                        pass
        if not served and time.monotonic() - start > HEADER_TIMEOUT_S / 2:
            _assert_served(site)
            served = True
    for sock in conns:
        sock.close()
    assert len(closed_after) == len(conns), f"{len(conns) - len(closed_after)} slow connections still open"
    assert max(closed_after.values()) <= HEADER_TIMEOUT_S + SLACK_S, max(closed_after.values())
    assert all(data.startswith(b"HTTP/1.1 408 ") for data in got.values())
    assert served


# ---------------------------------------------------------------- refusals: Twilio's body for the API


def _refusal_cases(front, site, target: str) -> dict[str, tuple[bytes, bytes, int, str]]:
    """name: (a request answered first, then the one refused; its status and message)."""
    host = f"127.0.0.1:{front.port}" if target == "api" else site.host
    path = "/v1/Services" if target == "api" else "/hello.txt"
    auth = f"Authorization: {_auth(front)}\r\n" if target == "api" else ""
    first = _api_get(front) if target == "api" else f"GET /hello.txt HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    long_target = f"GET {path}?{'a' * (MAX_REQUEST_LINE + 100)} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    # past the bound by more than the 4 KiB of a request's first slice, which is not counted
    long_header = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nX-Long: {'a' * (MAX_HEADER_BYTES + 8192)}\r\n\r\n".encode()
    connect = f"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    stalled_head = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nX-A: b".encode()
    stalled_body = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/x-www-form-urlencoded"
                    "\r\nContent-Length: 100\r\n\r\nUnique").encode()
    uri = (414, f"URI Too Long: the request target is over {MAX_REQUEST_LINE} bytes")
    header = (431, (f"Request Header Fields Too Large: the request line and header fields are over "
                    f"{MAX_HEADER_BYTES} bytes"))
    head_408 = (408, f"Request Timeout: the request header was not complete within {HEADER_TIMEOUT_S:g} s")
    body_408 = (408, (f"Request Timeout: the request body stopped arriving (nothing for {BODY_TIMEOUT_S:g} s); "
                      "nothing of it was kept"))
    return {
        "414": (b"", long_target, *uri),
        "414 after an answer": (first, long_target, *uri),
        "431": (b"", long_header, *header),
        "431 after an answer": (first, long_header, *header),
        "400 CONNECT": (b"", connect, 400, "Bad Request: CONNECT is not served here"),
        "400 CONNECT after an answer": (first, connect, 400, "Bad Request: CONNECT is not served here"),
        "400 target": (b"", f"GET http:// HTTP/1.1\r\nHost: {host}\r\n\r\n".encode(), 400,
                       "Bad Request: malformed request target"),
        "408 header": (b"", stalled_head, *head_408),
        "408 header after an answer": (first, stalled_head, *head_408),
        "408 body": (b"", stalled_body, *body_408),
        "408 body after an answer": (first, stalled_body, *body_408),
    }


@pytest.mark.parametrize("target", ["api", "edge"])
@pytest.mark.parametrize("case", ["414", "414 after an answer", "431", "431 after an answer", "400 CONNECT",
                                  "400 CONNECT after an answer", "400 target", "408 header",
                                  "408 header after an answer", "408 body", "408 body after an answer"])
def test_refusals_are_twilio_errors_for_the_api_and_a_line_of_text_for_the_edge(front, site, case, target):
    """What the front refuses (on a connection's first request, or on one handed to the API) is
    answered as the client expects it: Twilio's JSON error body on the API's host (it used to be
    the edge's line of text there too), the line of text on an environment's domain."""
    first, refused, status, message = _refusal_cases(front, site, target)[case]
    with _connect(front.port) as sock:
        if first:
            sock.sendall(first)
            _read_responses(sock, 1)
        sock.sendall(refused)
        got, took = _read_until_closed(sock, max(HEADER_TIMEOUT_S, BODY_TIMEOUT_S) + SLACK_S + 1)
    assert took is not None, "not closed"
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status), got[:300]
    content_type = re.search(rb"\r\ncontent-type: *([^\r]+)", head, re.IGNORECASE).group(1)
    if target == "api":
        assert content_type == b"application/json"
        code = 20001 if status == 400 else 20000 + status
        assert json.loads(body) == {"code": code, "message": message,
                                    "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
    else:
        assert content_type == b"text/plain; charset=utf-8"
        assert body == message.encode() + b"\n"


# ------------------------------------------------------------------------ malformed requests, upgrades


MALFORMED = {
    "absolute-form without host": (b"GET http:// HTTP/1.1\r\nHost: {host}\r\n\r\n", 400),
    "CONNECT": (b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: {host}\r\n\r\n", 400),
    "over-long URI": (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: {host}\r\n\r\n", 414),
    "not HTTP": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64, 400),
}


@pytest.mark.parametrize("target", ["edge", "api"])
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_request_gets_one_answer_and_one_log_line(front, site, case, target):
    """Targets httptools cannot take apart used to give 500 and a traceback per request; now each
    gets its 400 or 414, once, and one line in the log, whether for the edge or the API."""
    raw, status = MALFORMED[case]
    host = site.host if target == "edge" else f"127.0.0.1:{front.port}"
    log = _Log(front)
    with _connect(front.port) as sock:
        sock.sendall(raw.replace(b"{host}", host.encode()))
        got, took = _read_until_closed(sock, 3.0)
    assert took is not None, "not closed"
    assert [s for s, _ in _responses(got)] == [status]
    lines = log.lines()
    assert not any("Traceback" in line for line in lines), "\n".join(lines)
    assert len(lines) == 1 and str(status) in lines[0], lines
    _assert_served(site)


def test_request_target_is_bounded_at_the_request_line_limit(front, site):
    """--max-request-line is where 414 begins: a target just under it is looked up as usual."""
    near = "/" + "a" * (MAX_REQUEST_LINE - 100)
    assert raw_request(site.port, "GET", near, site.host).status == 404
    resp = raw_request(site.port, "GET", near + "a" * 200, site.host)
    assert resp.status == 414


@pytest.mark.parametrize("target", ["edge", "api"])
@pytest.mark.parametrize("upgrade", ["websocket", "h2c"])
def test_an_upgrade_request_gets_exactly_one_answer(front, site, target, upgrade):
    """Upgrades are declined: the request is answered as HTTP/1.1, once, and the connection ends
    (the bytes after it are not HTTP/1.1 any more), even with another request pipelined behind."""
    if target == "edge":
        request = f"GET /hello.txt HTTP/1.1\r\nHost: {site.host}\r\n"
        follow = f"GET /hello.txt HTTP/1.1\r\nHost: {site.host}\r\n\r\n"
    else:
        request = f"GET /v1/Services HTTP/1.1\r\nHost: 127.0.0.1:{front.port}\r\nAuthorization: {_auth(front)}\r\n"
        follow = _api_get(front).decode()
    request += (f"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: {upgrade}\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    log = _Log(front)
    with _connect(front.port) as sock:
        sock.sendall((request + follow).encode())
        got, took = _read_until_closed(sock, 3.0)
    assert took is not None, "not closed after the upgrade request"
    answers = _responses(got)
    assert [status for status, _ in answers] == [200], got[:300]
    if target == "edge":
        assert answers[0][1] == b"hello edge\n"
    assert not any("Traceback" in line for line in log.lines())
    _assert_served(site)


# --------------------------------------------------------------------------------- connection cap


def test_connections_past_the_cap_are_refused_at_once(capped):
    """With --max-connections 10 taken, 50 more clients get 503 and are closed at once, costing
    nothing that stays and one log line in all (not one each); when one of the ten goes, a new
    client is served again."""
    def api_status() -> int:
        with _connect(capped.port) as sock:
            sock.sendall(_api_get(capped).replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1))
            got, took = _read_until_closed(sock, 3.0)
        assert took is not None
        return _responses(got)[0][0]

    assert api_status() == 200
    log = _Log(capped)
    held = [_connect(capped.port) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.3)  # all accepted
        with _Peak(capped) as peak:
            for _ in range(50):
                with _connect(capped.port) as sock:
                    got, took = _read_until_closed(sock, 2.0)
                assert took is not None and took < 1.0, "a refused client was kept waiting"
                assert [status for status, _ in _responses(got)] == [503]
        assert peak.growth < 8 * MiB
        assert len([line for line in log.lines() if "refusing connections" in line]) == 1
        held.pop().close()
        time.sleep(0.3)
        assert api_status() == 200
    finally:
        for sock in held:
            sock.close()



@pytest.mark.parametrize("closing", [False, True])
def test_a_slow_but_steady_reader_gets_the_whole_file(front, site, closing):
    """--send-timeout bounds the time between two of the client's reads, not the time to drain a
    1 MiB chunk: a client taking 4 KiB every 10 ms (about 400 KB/s: a 1 MiB chunk takes it 2.6 s,
    more than the 2 s send timeout) is not dropped. (A small receive buffer and segment size keep
    the kernel from taking the chunk off the server's hands.)"""
    expected = site.files["/disk.bin"].content
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", front.port))
    extra = "Connection: close\r\n" if closing else ""
    sock.sendall(f"GET /disk.bin HTTP/1.1\r\nHost: {site.host}\r\n{extra}\r\n".encode())
    data, deadline = b"", time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
            if not closing and data.endswith(expected):
                break
            time.sleep(0.01)
    finally:
        sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head[:200]
    assert body == expected, f"{len(body)} of {len(expected)} bytes"
    assert front.proc.poll() is None
