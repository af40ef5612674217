"""Fixtures for the security suite: every attack runs against real `assethost serve` subprocesses
(tests/servers.py), with the API on SQLite and on PostgreSQL through tests/conftest.py's `backend`,
`server` and `server_factory` fixtures, and servers of its own with the HTTP front's limits made
small so that every bound is reached within a second or two (one of them with a site of files
and one of a function). Helpers come from the edge and functions suites' kits, securitykit.py
and frontkit.py."""

from __future__ import annotations

import os
import socket
import threading

import pytest
from edgekit import Deployer, FileSpec, Site
from fnkit import deploy_project
from frontkit import ANSWER_FUNCTION, FRONT_ARGS, MAX_CONNECTIONS, KiB
from servers import ServerProcess, start_sqlite_server


@pytest.fixture(scope="session")
def front(tmp_path_factory) -> ServerProcess:
    srv = start_sqlite_server(tmp_path_factory.mktemp("front"), *map(str, FRONT_ARGS))
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def site(front) -> Site:
    """An environment on `front` with a small file, one served from memory and one from disk."""
    specs = [
        FileSpec("/hello.txt", b"hello edge\n"),
        FileSpec("/memory.bin", os.urandom(200 * KiB)),  # under --memory-file-limit (256 KiB)
        FileSpec("/disk.bin", os.urandom(2048 * KiB)),
    ]
    with front.http_client() as http:
        return Deployer(front, http).site(specs, suffix="sec", prefix="sec")


@pytest.fixture(scope="session")
def fn_site(front) -> Site:
    """An environment on `front` whose function /answer answers `?size=` bytes (frontkit.ANSWER_FUNCTION)."""
    with front.http_client() as http:
        return deploy_project(front, http, {"functions/answer.js": ANSWER_FUNCTION}).site


@pytest.fixture(scope="session")
def capped(tmp_path_factory) -> ServerProcess:
    """A server that takes MAX_CONNECTIONS connections at once, and keeps idle ones a while."""
    srv = start_sqlite_server(tmp_path_factory.mktemp("capped"), "--max-connections", str(MAX_CONNECTIONS),
                              "--keepalive-timeout", "60")
    yield srv
    srv.stop()


@pytest.fixture
def listener():
    """A port on every address of the host (its loopback included) that counts the connections it
    accepts: what an attack from a sandbox would reach. Yields (port, list of peers accepted)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", 0))
    sock.listen(16)
    sock.settimeout(0.2)
    accepted: list = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, addr = sock.accept()
                accepted.append(addr)
                conn.close()
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield sock.getsockname()[1], accepted
    stop.set()
    thread.join(timeout=2)
    sock.close()
