"""FileBody, the one file sender of both fronts, in process: by sendfile on a real socket (with the
bytes already written to the transport first, and only the range asked for), through ASGI by
`http.response.pathsend` when the server offers it, and in pieces otherwise."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest
import uvloop
from helpers import run_coroutine

from assethost.edge.httpparts import FILE_CHUNK
from assethost.edge.responder import Reply
from assethost.edge.sender import PATHSEND, FileBody

SIZE = 3 * FILE_CHUNK + 12345


@pytest.fixture
def blob(tmp_path):
    data = os.urandom(SIZE)
    path = tmp_path / "blob"
    path.write_bytes(data)
    return str(path), data


class _Conn:
    """What FileBody needs of the front's connection, with the send clock's calls counted."""

    def __init__(self, loop, transport):
        self.loop = loop
        self.transport = transport
        self.paused = 0
        self.resumed = 0

    def _writes_paused(self):
        self.paused += 1

    def _resumed(self):
        self.resumed += 1

    async def drained(self):
        pass


def _serve_once(loop_factory, path, offset, length, head=b"HEAD\r\n\r\n"):
    """Send head + the file's range to one client reading slowly; return what it got, whether
    the sender said all went, and how often it had to wait on the client."""

    async def main():
        loop = asyncio.get_running_loop()
        done: asyncio.Future = loop.create_future()

        class Proto(asyncio.Protocol):
            def connection_made(self, transport):
                conn = _Conn(loop, transport)
                # A small send queue, so that the sender has to wait on the client.
                transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * 1024)

                async def send():
                    transport.write(head)
                    with FileBody(Reply(200, [], file=path, offset=offset, length=length)) as body:
                        ok = await body.to_connection(conn)
                    transport.close()
                    done.set_result((ok, conn.paused, conn.resumed))

                loop.create_task(send())

        server = await loop.create_server(Proto, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        client.setblocking(False)
        await loop.sock_connect(client, ("127.0.0.1", port))
        got = bytearray()
        while True:
            chunk = await loop.sock_recv(client, 256 * 1024)
            if not chunk:
                break
            got += chunk
            if len(got) < 2 * FILE_CHUNK:
                await asyncio.sleep(0.001)  # slow at first: the kernel's queue fills
        client.close()
        result = await asyncio.wait_for(done, 10)
        server.close()
        await server.wait_closed()
        return bytes(got), result

    return run_coroutine(main(), loop_factory)


@pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"])
@pytest.mark.parametrize(("offset", "length"), [(0, SIZE), (FILE_CHUNK - 7, FILE_CHUNK + 100), (SIZE - 1, 1)])
def test_sendfile_sends_the_head_then_exactly_the_range(blob, loop_factory, offset, length):
    path, data = blob
    got, (ok, paused, resumed) = _serve_once(loop_factory, path, offset, length)
    assert ok is True
    assert got == b"HEAD\r\n\r\n" + data[offset : offset + length]
    # Every wait on the client ran the send clock and stopped it again.
    assert paused == resumed
    if length > FILE_CHUNK:
        assert paused >= 1


def test_a_file_shorter_than_promised_is_not_sent_as_complete(blob):
    path, data = blob
    got, (ok, _, _) = _serve_once(asyncio.new_event_loop, path, SIZE - 10, 20)
    assert ok is False
    assert got == b"HEAD\r\n\r\n" + data[-10:]


def _asgi(reply: Reply, extensions: dict) -> list[dict]:
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def main():
        with FileBody(reply) as body:
            await body.to_asgi({"type": "http", "extensions": extensions}, send)

    run_coroutine(main())
    return sent


def test_asgi_whole_file_goes_by_pathsend_when_the_server_offers_it(blob):
    path, _ = blob
    assert _asgi(Reply(200, [], file=path, length=SIZE), {PATHSEND: {}}) == [{"type": PATHSEND, "path": path}]


def test_asgi_range_goes_in_pieces_even_with_pathsend(blob):
    path, data = blob
    sent = _asgi(Reply(206, [], file=path, offset=10, length=FILE_CHUNK + 5), {PATHSEND: {}})
    assert [m["type"] for m in sent] == ["http.response.body"] * 2
    assert b"".join(m["body"] for m in sent) == data[10 : 10 + FILE_CHUNK + 5]
    assert [m["more_body"] for m in sent] == [True, False]


def test_asgi_without_pathsend_sends_pieces_and_ends_a_short_file_early(blob, tmp_path):
    path, data = blob
    sent = _asgi(Reply(200, [], file=path, length=SIZE), {})
    assert b"".join(m["body"] for m in sent) == data
    assert len(sent) == 4 and sent[-1]["more_body"] is False
    short = _asgi(Reply(206, [], file=path, offset=SIZE - 3, length=10), {})
    assert short == [{"type": "http.response.body", "body": data[-3:], "more_body": True},
                     {"type": "http.response.body", "body": b""}]


def test_a_temporary_file_is_never_sent_by_path(tmp_path):
    spill = open(tmp_path / "spill", "w+b", buffering=0)  # noqa: SIM115 (closed by FileBody)
    spill.write(b"x" * 100)
    sent = _asgi(Reply(200, [], file=spill, length=100), {PATHSEND: {}})
    assert sent == [{"type": "http.response.body", "body": b"x" * 100, "more_body": False}]


def _open(kind: str) -> set[str]:
    """This process's open descriptors of sockets (`kind` "socket:") or of files under a folder."""
    fds = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith(kind):
                fds.add(fd)
        except FileNotFoundError:  # the listing's own descriptor
            pass
    return fds


def test_a_send_cancelled_when_its_connection_is_lost_lets_go_of_the_socket(blob):
    """The front cancels the send of a client it drops: the sender's own descriptor of the socket
    is closed with it, so the socket really closes (the client sees the end) and nothing leaks."""
    path, _ = blob

    async def main():
        loop = asyncio.get_running_loop()
        started: asyncio.Future = loop.create_future()

        class Proto(asyncio.Protocol):
            def connection_made(self, transport):
                transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * 1024)
                conn = _Conn(loop, transport)

                async def send():
                    with FileBody(Reply(200, [], file=path, length=SIZE)) as body:
                        await body.to_connection(conn)

                started.set_result((transport, loop.create_task(send()), conn))

        before = _open("socket:"), _open(path)
        server = await loop.create_server(Proto, "127.0.0.1", 0)
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        client.setblocking(False)
        await loop.sock_connect(client, ("127.0.0.1", server.sockets[0].getsockname()[1]))
        transport, task, conn = await asyncio.wait_for(started, 5)
        while conn.paused == 0:  # the client reads nothing: the sender waits on it
            await asyncio.sleep(0.01)
        transport.abort()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        server.close()
        await server.wait_closed()
        await asyncio.sleep(0.05)
        ended = False
        try:
            while await asyncio.wait_for(loop.sock_recv(client, 1 << 20), 2):
                pass
            ended = True
        except ConnectionResetError:
            ended = True
        client.close()
        return ended, before, (_open("socket:"), _open(path))

    ended, before, after = run_coroutine(main(), uvloop.new_event_loop)
    assert ended
    assert after == before


class _TlsTransport:
    """A transport the kernel cannot send a file on (TLS): only what FileBody asks of it."""

    def __init__(self):
        self.written = bytearray()

    def get_extra_info(self, name):
        return object() if name == "sslcontext" else None

    def write(self, data):
        self.written += data

    def is_closing(self):
        return False


def test_on_tls_the_range_goes_through_the_transport_in_pieces(blob):
    path, data = blob
    transport = _TlsTransport()

    async def main():
        conn = _Conn(asyncio.get_running_loop(), transport)
        with FileBody(Reply(206, [], file=path, offset=5, length=2 * FILE_CHUNK)) as body:
            return await body.to_connection(conn)

    assert run_coroutine(main()) is True
    assert bytes(transport.written) == data[5 : 5 + 2 * FILE_CHUNK]
