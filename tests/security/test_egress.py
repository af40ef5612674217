"""The egress proxy (functions/egress.py), the only way out of a sandbox: it tunnels to public
addresses and refuses the host's loopback and own addresses, private networks and link-local
(cloud metadata), resolving names itself. Run in-process against real sockets; that npm reaches
the registry through it is shown by tests/security/test_sandbox.py."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import time

import pytest

from assethost.functions import egress

REGISTRY = ("registry.npmjs.org", 443)  # reachable from every development and CI machine


@pytest.fixture(scope="module")
def proxy_path():
    return str(egress.EgressProxy("test").socket_path())


def ask(path: str, request: bytes, timeout: float = 15.0) -> bytes:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(path)
        try:
            s.sendall(request)
        except BrokenPipeError:
            pass  # refused before the request was read (over a limit): the answer is still there to read
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data


def _own_address() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # any routed destination: the source is one of ours
        return probe.getsockname()[0]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.1.2.3", "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0",
                                  "10.0.0.1", "172.16.5.5", "192.168.1.1", "169.254.169.254", "100.64.0.1",
                                  "224.0.0.1", "[fe80::1]", "[fd00::1]", "own"])
def test_internal_addresses_are_refused_and_nothing_connects(proxy_path, listener, host):
    port, accepted = listener
    if host == "own":
        host = _own_address()
    answer = ask(proxy_path, f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 403 Forbidden\r\n"), answer
    assert b"is not a public address" in answer
    if host == "localhost":
        assert b"127.0.0.1" not in answer, "the resolved address is not told"
    assert accepted == [], "a connection reached the address"


def test_a_public_address_is_tunnelled(proxy_path):
    host, port = REGISTRY
    answer = ask(proxy_path, f"CONNECT {host}:{port} HTTP/1.1\r\n\r\n".encode())
    assert answer == b"HTTP/1.1 200 Connection established\r\n\r\n"


@pytest.mark.parametrize("request_head, status", [
    (b"GET http://registry.npmjs.org/ HTTP/1.1\r\nHost: registry.npmjs.org\r\n\r\n", b"405"),
    (b"CONNECT registry.npmjs.org HTTP/1.1\r\n\r\n", b"400"),
    (b"CONNECT registry.npmjs.org:99999 HTTP/1.1\r\n\r\n", b"400"),
    (b"CONNECT :443 HTTP/1.1\r\n\r\n", b"400"),
])
def test_what_is_not_a_tunnel_to_a_host_port_is_refused(proxy_path, request_head, status):
    assert ask(proxy_path, request_head).startswith(b"HTTP/1.1 " + status)


def test_an_oversized_request_head_is_cut_off(proxy_path):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(proxy_path)
        try:
            s.sendall(b"CONNECT " + b"a" * (egress.HEAD_LIMIT * 4))
        except OSError:
            pass  # already closed by the proxy: what we want
        assert s.recv(100) == b""


def test_public_is_false_for_every_blocked_range():
    for address in ("127.0.0.1", "::1", "10.1.1.1", "169.254.169.254", "::ffff:10.0.0.1", "fe80::1%eth0", "x"):
        assert not egress.public(address), address
    assert egress.public("8.8.8.8")


def test_one_sandbox_cannot_hold_every_tunnel(proxy_path):
    """Tunnels at once are bounded per peer UID, so one tenant cannot starve the others' (and
    npm's) way out; the test process is one peer."""
    host, port = REGISTRY
    held = []
    try:
        for _ in range(egress.MAX_TUNNELS_PER_SANDBOX):
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(15)
            s.connect(proxy_path)
            s.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\n\r\n".encode())
            assert s.recv(100) == b"HTTP/1.1 200 Connection established\r\n\r\n"
            held.append(s)
        assert ask(proxy_path, f"CONNECT {host}:{port} HTTP/1.1\r\n\r\n".encode()).startswith(
            b"HTTP/1.1 503 Service Unavailable\r\n")
    finally:
        for s in held:
            s.close()
    time.sleep(0.2)  # the proxy notices the closed tunnels
    assert ask(proxy_path, f"CONNECT {host}:{port} HTTP/1.1\r\n\r\n".encode()).startswith(b"HTTP/1.1 200 ")


class _Sink:
    """What `_pipe` writes to, recording it."""

    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        return None

    def can_write_eof(self) -> bool:
        return False


def test_a_tunnel_busy_one_way_is_not_idle(monkeypatch):
    """A download whose client sends nothing is not cut: idleness counts both directions."""
    monkeypatch.setattr(egress, "IDLE_TIMEOUT", 0.5)

    async def scenario() -> tuple[float, bytes]:
        loop = asyncio.get_running_loop()
        quiet, busy = asyncio.StreamReader(), asyncio.StreamReader()
        to_upstream, to_client = _Sink(), _Sink()

        async def download() -> None:
            for _ in range(6):  # 1.2 s of bytes, one every 0.2 s
                busy.feed_data(b"x")
                await asyncio.sleep(0.2)
            busy.feed_eof()

        started = loop.time()
        feeder = loop.create_task(download())
        activity = [started]
        with pytest.raises(TimeoutError):
            await asyncio.gather(egress._pipe(quiet, to_upstream, activity), egress._pipe(busy, to_client, activity))
        await feeder
        return loop.time() - started, to_client.data

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # a loop of its own (see test_catch_all)
        elapsed, downloaded = pool.submit(asyncio.run, scenario()).result()
    assert downloaded == b"x" * 6
    assert 1.4 <= elapsed < 3.0, elapsed  # cut 0.5 s after the last byte (at 1.0 s), not after the first
