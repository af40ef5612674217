"""The one way out of a sandbox: an HTTP CONNECT proxy on a Unix socket, for npm installs (and
functions when `--function-network public`).

A sandbox has no network of its own (functions/sandbox.py). This proxy's socket is mounted into
it at /run/egress.sock, and a relay inside (harness/relay.js, or the harness itself) listens on
the sandbox's own loopback and forwards each connection there; npm and HTTP clients are pointed at
that relay as their proxy. The proxy resolves the name itself and connects only to public
addresses: never the host's loopback or its own addresses (the database, Redis, our API), private
networks, link-local (169.254.169.254) or multicast. So a package whose dependencies name
`http://127.0.0.1:5432/…`, or a function that asks for an internal host, gets a 403 from here and
no byte reaches the address.

Only CONNECT is served (HTTPS, or any TCP through a tunnel); every wait has a timeout and every
tunnel's buffers are bounded by the streams' flow control.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import ipaddress
import logging
import os
import socket
import struct
import tempfile
import threading
from pathlib import Path

log = logging.getLogger("assethost.functions")

HEAD_LIMIT = 8 * 1024
HEAD_TIMEOUT = 10.0
RESOLVE_TIMEOUT = 10.0
CONNECT_TIMEOUT = 10.0
IDLE_TIMEOUT = 120.0  # a tunnel through which nothing passed, either way, for this long is closed
MAX_TUNNELS = 256  # at once, in all
MAX_TUNNELS_PER_SANDBOX = 32  # at once, per peer UID (each sandbox's own, when run as root)
CHUNK = 64 * 1024
SANDBOX_SOCKET = "/run/egress.sock"  # where a sandbox finds the proxy

# Not the public internet: the host's loopback, private and shared address space, link-local
# (cloud metadata), multicast and other special-purpose ranges of RFC 6890 that route nowhere.
# Not `ipaddress.is_global`: that also refuses the documentation ranges (192.0.2/24, 198.51.100/24,
# 203.0.113/24), which some networks do route (the package registries of our own CI machines).
_BLOCKED = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
    "::/128", "::1/128", "64:ff9b::/96", "fc00::/7", "fe80::/10", "ff00::/8",
)]


def public(address: str) -> bool:
    """Whether connecting to `address` leaves this machine for the public internet."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in net for net in _BLOCKED if net.version == ip.version):
        return False
    return not _own(str(ip), ip.version)


def _own(address: str, version: int) -> bool:
    """One of this host's own addresses? The kernel's route to it says: a connected UDP socket
    (no packet is sent) gets that very address as its source when the destination is local."""
    family = socket.AF_INET6 if version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((address, 9))
            return probe.getsockname()[0] == address
    except OSError:
        return True  # no route: nothing would be reached anyway, and nothing is tried


class EgressProxy:
    """Started once per server process, on a thread of its own with its own event loop (npm
    installs run in worker threads, functions on the server's loop)."""

    def __init__(self, name: str) -> None:
        self.name = name  # which sandboxes use it: one proxy's tunnels never starve another's
        self.path: Path | None = None
        self._lock = threading.Lock()
        self._tunnels = 0
        self._by_peer: dict[int, int] = {}
        self._refusals = 0
        self._refusals_logged = float("-inf")

    def socket_path(self) -> Path:
        """The proxy's socket, started on first use."""
        with self._lock:
            if self.path is None:
                self.path = self._start()
            return self.path

    def _start(self) -> Path:
        if os.geteuid() == 0:
            folder = Path("/run/assethost")
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        else:
            folder = Path(tempfile.mkdtemp(prefix="assethost-egress-"))
        _remove_stale(folder)
        path = folder / f"egress-{os.getpid()}-{self.name}.sock"
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        atexit.register(_unlink, path)
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        threading.Thread(target=self._run, args=(path, started), name="assethost-egress", daemon=True).start()
        started.result(timeout=10)
        return path

    def _run(self, path: Path, started: concurrent.futures.Future[None]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            server = loop.run_until_complete(asyncio.start_unix_server(self._client, path, limit=HEAD_LIMIT))
            os.chmod(path, 0o666)  # sandboxes run as other UIDs; the folder keeps everyone else out
        except OSError as exc:
            started.set_exception(exc)
            return
        started.set_result(None)
        loop.run_until_complete(server.serve_forever())

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _peer_uid(writer)
        try:
            if self._tunnels >= MAX_TUNNELS or self._by_peer.get(peer, 0) >= MAX_TUNNELS_PER_SANDBOX:
                await _answer(writer, 503, "too many connections through the egress proxy")
                return
            self._tunnels += 1
            self._by_peer[peer] = self._by_peer.get(peer, 0) + 1
            try:
                await self._tunnel(reader, writer)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, TimeoutError):
                pass
            finally:
                self._tunnels -= 1
                self._by_peer[peer] -= 1
                if not self._by_peer[peer]:
                    del self._by_peer[peer]
        finally:
            writer.close()

    async def _tunnel(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
        method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
        target = rest.rsplit(" ", 1)[0]
        if method != "CONNECT":
            await _answer(writer, 405, "only CONNECT is served: use HTTPS, or a client that tunnels")
            return
        host, port = _authority(target)
        if host is None:
            await _answer(writer, 400, f"not a host:port: {target[:100]}")
            return
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT)
        except (OSError, TimeoutError):
            await _answer(writer, 502, f"cannot resolve {host}")
            return
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        allowed = [a for a in addresses if public(a)]
        if not allowed:
            # Not the addresses: a tenant could map the internal network's names with them.
            self._refusals += 1
            now = loop.time()
            if now - self._refusals_logged > 60:  # one line a minute: tenants choose how many
                log.warning("egress %s: refused %d tunnels to non-public addresses (latest: %s:%d, %s)",
                            self.name, self._refusals, host, port, ", ".join(addresses))
                self._refusals, self._refusals_logged = 0, now
            await _answer(writer, 403, f"{host} is not a public address")
            return
        for address in allowed:  # in the resolver's order, e.g. IPv6 first where it is not routed
            try:
                up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(address, port),
                                                              CONNECT_TIMEOUT)
                break
            except (OSError, TimeoutError):
                continue
        else:
            await _answer(writer, 502, f"cannot connect to {host}:{port}")
            return
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        activity = [loop.time()]
        try:
            await asyncio.gather(_pipe(reader, up_writer, activity), _pipe(up_reader, writer, activity))
        finally:
            up_writer.close()


def _remove_stale(folder: Path) -> None:
    """Sockets of server processes that are gone (one that crashed could not remove its own)."""
    for path in folder.glob("egress-*.sock"):
        pid = path.name.split("-")[1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            _unlink(path)


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _authority(target: str) -> tuple[str | None, int]:
    host, sep, port_text = target.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536 or not host:
        return None, 0
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port_text)


def _peer_uid(writer: asyncio.StreamWriter) -> int:
    sock = writer.get_extra_info("socket")
    try:
        _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    except (OSError, AttributeError):
        return -1
    return int(uid)


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, activity: list[float]) -> None:
    """One direction of a tunnel; `activity` holds when bytes last passed either way, so a
    download is not cut because its client sends nothing."""
    loop = asyncio.get_running_loop()
    try:
        while True:
            try:
                data = await asyncio.wait_for(src.read(CHUNK), activity[0] + IDLE_TIMEOUT - loop.time())
            except TimeoutError:
                if loop.time() - activity[0] < IDLE_TIMEOUT:
                    continue  # the other direction was busy meanwhile
                raise
            if not data:
                break
            activity[0] = loop.time()
            dst.write(data)
            await dst.drain()
    finally:
        with contextlib.suppress(OSError):
            if dst.can_write_eof():
                dst.write_eof()


async def _answer(writer: asyncio.StreamWriter, status: int, text: str) -> None:
    body = f"assethost egress: {text}\n".encode()
    writer.write(b"HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
                 % (status, {400: b"Bad Request", 403: b"Forbidden", 405: b"Method Not Allowed",
                             502: b"Bad Gateway", 503: b"Service Unavailable"}[status], len(body), body))
    with contextlib.suppress(OSError):
        await asyncio.wait_for(writer.drain(), HEAD_TIMEOUT)
