"""Uploads that must leave nothing behind: a multipart body cut short (before its closing
boundary), an over-long boundary, a client that stops sending, a full or read-only blob folder.
Each answers Twilio's JSON error body and stores no version row, no blob and no temporary file;
temporary files that crashed uploads leave are swept while the server runs, never a live one's."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest
from helpers import blob_files, create_asset, create_service
from securitykit import Console
from servers import ServerProcess

TIMEOUT_S = 1  # --body-timeout of the servers that test stalled uploads
TMPFS_BYTES = 256 * 1024


def _error(status: int, code: int, message: str) -> dict:
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}


def _multipart(boundary: str, content: bytes, path: str = "/up.bin") -> bytes:
    return (f'--{boundary}\r\nContent-Disposition: form-data; name="Path"\r\n\r\n{path}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="Visibility"\r\n\r\npublic\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="Content"; filename="up.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()


class Target:
    """An asset to upload versions of, and what the server holds for it."""

    def __init__(self, server: ServerProcess, root: str = ""):
        self.server = server
        self.root = root  # where the server's files are seen from here (its mount namespace)
        with server.http_client() as http:
            self.service = create_service(http)["sid"]
            self.asset = create_asset(http, self.service)["sid"]
        self.url = f"/v1/Services/{self.service}/Assets/{self.asset}/Versions"

    @property
    def data(self) -> str:
        return self.root + self.server.data_dir

    def post(self, body: bytes, boundary: str) -> httpx.Response:
        with self.server.http_client() as http:
            return http.post(self.url, content=body,
                             headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})

    def versions(self) -> list[dict]:
        with self.server.http_client() as http:
            resp = http.get(self.url)
            assert resp.status_code == 200, resp.text
            return resp.json()["asset_versions"]

    def tmp_files(self) -> list[str]:
        return sorted(os.listdir(Path(self.data) / "blobs" / "tmp"))

    def assert_nothing_stored(self, content: bytes) -> None:
        assert self.versions() == []
        digest = hashlib.sha256(content).hexdigest()
        assert not any(digest in p.name for p in blob_files(self.data))
        assert self.tmp_files() == []

    def raw_headers(self, length: int, boundary: str) -> bytes:
        import base64

        auth = base64.b64encode(f"{self.server.account_sid}:{self.server.auth_token}".encode()).decode()
        return (f"POST {self.url} HTTP/1.1\r\nHost: 127.0.0.1:{self.server.port}\r\n"
                f"Authorization: Basic {auth}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
                f"Content-Length: {length}\r\n\r\n").encode()


@pytest.fixture
def target(server):
    return Target(server)


# ------------------------------------------------------------------------------------ truncation

def _cuts(body: bytes, boundary: str) -> dict[str, bytes]:
    tail = f"\r\n--{boundary}--\r\n".encode()
    whole = body[: -len(tail)]
    return {
        "in the file": whole[: len(whole) - 100],
        "right after the file": whole,
        "in the closing boundary": whole + tail[:6],
        "a delimiter, not the close": whole + f"\r\n--{boundary}\r\n".encode(),
        "before the file": body[: body.index(b'name="Content"')],
    }


@pytest.mark.parametrize("where", ["in the file", "right after the file", "in the closing boundary",
                                   "a delimiter, not the close", "before the file"])
def test_body_cut_before_its_closing_boundary_is_refused(target, where):
    boundary = "b" + secrets.token_hex(8)
    content = os.urandom(40_000)
    cut = _cuts(_multipart(boundary, content), boundary)[where]
    resp = target.post(cut, boundary)
    assert resp.json() == _error(400, 20001, f"The multipart body ended before its closing boundary (--{boundary}--): "
                                             "the upload is incomplete and was not stored"), resp.text
    target.assert_nothing_stored(content)
    for part in (content[:39_900], content):  # neither the cut part nor the whole file
        assert not any(hashlib.sha256(part).hexdigest() in p.name for p in blob_files(target.data))
    # the complete body is taken, byte for byte
    resp = target.post(_multipart(boundary, content), boundary)
    assert resp.status_code == 201, resp.text
    with target.server.http_client() as http:
        versions = http.get(f"/assethost/v1/Services/{target.service}/Versions").json()["versions"]
    assert [v["sha256"] for v in versions] == [hashlib.sha256(content).hexdigest()]


@pytest.mark.parametrize("length", [71, 200, 300])
def test_boundary_over_70_characters_is_400(target, length):
    boundary = "x" * length
    content = b"long boundary " + secrets.token_bytes(8)
    resp = target.post(_multipart(boundary, content), boundary)
    assert resp.json() == _error(400, 20001, "The multipart boundary must be 1 to 70 letters, digits or "
                                             f"'()+_,-./:=? (RFC 2046); this one has {length} characters")
    target.assert_nothing_stored(content)


def test_boundary_of_70_characters_and_rfc_punctuation_is_fine(target):
    for boundary in ("y" * 70, "'()+_,-./:=? x", "----WebKitFormBoundary7MA4YWxkTrZu0gW"):
        resp = target.post(_multipart(boundary, b"ok"), boundary)
        assert resp.status_code == 201, (boundary, resp.text)


# ------------------------------------------------------------------------------------ stalled bodies

@pytest.fixture
def impatient(server_factory):
    return Target(server_factory("--body-timeout", str(TIMEOUT_S)))


def _read_all(sock: socket.socket, deadline: float) -> bytes:
    data = b""
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            return data  # the server closed the connection
        data += chunk
    raise AssertionError(f"the connection was still open after the answer: {data[:300]!r}")


def test_client_that_stops_sending_gets_408_and_leaves_nothing(impatient):
    """The front's --body-timeout ends a stalled upload (the upload had a timer of its own,
    --upload-timeout, which the front's beat, so its client got a line of text): Twilio's JSON
    408, and the part of the file already written is removed."""
    boundary = "s" + secrets.token_hex(8)
    content = os.urandom(300_000)
    body = _multipart(boundary, content)
    with socket.create_connection(("127.0.0.1", impatient.server.port), timeout=0.5) as sock:
        sock.sendall(impatient.raw_headers(len(body), boundary) + body[:200_000])
        deadline = time.monotonic() + 5
        while not impatient.tmp_files():  # the upload is being written...
            assert time.monotonic() < deadline, "the upload never reached the blob store"
            time.sleep(0.01)
        started = time.monotonic()
        answer = _read_all(sock, started + TIMEOUT_S + 5)
        took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:300]
    assert took < TIMEOUT_S + 3, took
    head, _, json_body = answer.partition(b"\r\n\r\n")
    assert b"connection: close" in head.lower()
    import json

    assert json.loads(json_body) == _error(408, 20408, f"Request Timeout: the request body stopped arriving (nothing "
                                                       f"for {TIMEOUT_S} s); nothing of it was kept")
    deadline = time.monotonic() + 2  # the upload learns its client is gone as the 408 goes out
    while impatient.tmp_files() and time.monotonic() < deadline:
        time.sleep(0.01)
    impatient.assert_nothing_stored(content)  # ...and then is gone


def test_headers_only_then_silence_is_408(impatient):
    boundary = "h" + secrets.token_hex(8)
    with socket.create_connection(("127.0.0.1", impatient.server.port), timeout=0.5) as sock:
        sock.sendall(impatient.raw_headers(10_000, boundary))
        answer = _read_all(sock, time.monotonic() + TIMEOUT_S + 5)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:300]
    assert impatient.versions() == [] and impatient.tmp_files() == []


def test_a_slow_but_steady_upload_is_not_cut(impatient):
    boundary = "t" + secrets.token_hex(8)
    content = os.urandom(3000)
    body = _multipart(boundary, content)
    with socket.create_connection(("127.0.0.1", impatient.server.port), timeout=10) as sock:
        sock.sendall(impatient.raw_headers(len(body), boundary))
        pieces = [body[i:i + len(body) // 6 + 1] for i in range(0, len(body), len(body) // 6 + 1)]
        for piece in pieces:  # about 2.5 × the timeout in all, never silent for a whole one
            sock.sendall(piece)
            time.sleep(TIMEOUT_S * 0.4)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 201 "), answer[:300]
    assert len(impatient.versions()) == 1


# ------------------------------------------------------------------------------------ disk errors

def _tmpfs_server(backend, workdir: Path) -> tuple[ServerProcess, str]:
    """A server whose blob folder is a small tmpfs in a mount namespace of its own: the test can
    fill it and make it read-only without touching this machine's mounts."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("nsenter"):
        pytest.skip("needs root with unshare and nsenter to give the server a disk of its own")
    blobs = workdir / "data" / "blobs"
    blobs.mkdir(parents=True)
    launcher = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                f'mount -t tmpfs -o size={TMPFS_BYTES} assethost-test-blobs "{blobs}" && exec "$@"', "sh"]
    srv = ServerProcess(backend, workdir, launcher=launcher)
    try:
        srv.start()
    except BaseException:
        srv.stop()
        raise
    return srv, f"/proc/{srv.pid}/root"


@pytest.fixture
def small_disk(backend, tmp_path):
    srv, root = _tmpfs_server(backend, tmp_path)
    yield Target(srv, root)
    srv.stop()


def _remount(target: Target, mode: str) -> None:
    subprocess.run(["nsenter", "-t", str(target.server.pid), "-m", "mount", "-o", f"remount,{mode}",
                    f"{target.server.data_dir}/blobs"], check=True)


FULL = _error(507, 20507, "The server's storage is full: the upload was not stored. Try again later")
READ_ONLY = _error(503, 20503, "The server cannot store uploads right now: the upload was not stored. Try again later")


def test_full_disk_is_507_and_frees_what_was_written(small_disk):
    boundary = "f" + secrets.token_hex(8)
    content = os.urandom(TMPFS_BYTES + 100_000)
    resp = small_disk.post(_multipart(boundary, content), boundary)
    assert resp.json() == FULL, resp.text
    assert small_disk.server.data_dir not in resp.text and "blobs" not in resp.text
    small_disk.assert_nothing_stored(content)
    assert "No space left on device" in small_disk.server.log_tail()  # the operator is told why
    # the space is back: a file that fits is stored
    fits = os.urandom(TMPFS_BYTES // 4)
    resp = small_disk.post(_multipart(boundary, fits), boundary)
    assert resp.status_code == 201, resp.text
    assert resp.json()["sid"] == small_disk.versions()[0]["sid"]


def test_read_only_blob_folder_is_503(small_disk):
    boundary = "r" + secrets.token_hex(8)
    content = os.urandom(5000)
    _remount(small_disk, "ro")
    try:
        resp = small_disk.post(_multipart(boundary, content), boundary)
        assert resp.json() == READ_ONLY, resp.text
        small_disk.assert_nothing_stored(content)
        assert "Read-only file system" in small_disk.server.log_tail()
    finally:
        _remount(small_disk, "rw")
    resp = small_disk.post(_multipart(boundary, content), boundary)
    assert resp.status_code == 201, resp.text


# ------------------------------------------------------------------------------------ sweeping tmp/

def _open_tmp_files(pid: int, tmp_dir: str) -> list[str]:
    try:
        files = psutil.Process(pid).open_files()
    except psutil.Error:
        return []
    return [f.path for f in files if f.path.startswith(tmp_dir)]


def _worker_of(sock: socket.socket, workers: list[psutil.Process]) -> psutil.Process:
    port = sock.getsockname()[1]
    for w in workers:
        if any(c.raddr and c.raddr.port == port for c in w.net_connections("tcp")):
            return w
    raise AssertionError("no worker holds the connection")


def test_crashed_uploads_are_swept_while_the_server_runs_but_live_ones_are_not(server_factory):
    srv = server_factory("--workers", "2")
    target = Target(srv)
    tmp_dir = str(Path(srv.data_dir).resolve() / "blobs" / "tmp")
    workers = psutil.Process(srv.pid).children()
    assert len(workers) == 2

    # half an upload in each worker (the kernel spreads connections: open them until both have one)
    uploads: dict[int, tuple[socket.socket, bytes, int]] = {}
    for _ in range(40):
        content = os.urandom(400_000)
        boundary = "w" + secrets.token_hex(8)
        body = _multipart(boundary, content)
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        sock.sendall(target.raw_headers(len(body), boundary) + body[:200_000])
        time.sleep(0.2)
        worker = _worker_of(sock, workers)
        if worker.pid in uploads:
            sock.close()
            continue
        uploads[worker.pid] = (sock, body, hashlib.sha256(content).hexdigest())
        if len(uploads) == 2:
            break
    assert len(uploads) == 2, "could not get an upload into each worker"
    time.sleep(0.3)
    (crash_pid, (crash_sock, _, _)), (live_pid, (live_sock, live_body, live_hash)) = uploads.items()
    crashed_file, = _open_tmp_files(crash_pid, tmp_dir)
    live_file, = _open_tmp_files(live_pid, tmp_dir)
    os.kill(crash_pid, 9)  # the worker dies mid-upload; the supervisor starts another
    crash_sock.close()
    old = time.time() - 3600
    for path in (crashed_file, live_file):  # both look long abandoned; only one is
        os.utime(path, (old, old))
    assert sorted(os.listdir(tmp_dir)) == sorted(os.path.basename(p) for p in (crashed_file, live_file))

    # every worker sweeps every 10 s; the live upload waits (within --body-timeout) meanwhile
    deadline = time.monotonic() + 15
    while os.path.exists(crashed_file) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not os.path.exists(crashed_file), "the crashed upload's temporary file was not swept"
    assert os.path.exists(live_file), "the live upload's temporary file was swept"
    assert "temporary file(s)" in srv.log_tail(20000)

    live_sock.sendall(live_body[200_000:])  # the live upload finishes and is stored whole
    answer = live_sock.recv(65536)
    live_sock.close()
    assert answer.startswith(b"HTTP/1.1 201 "), answer[:300]
    with srv.http_client() as http:
        facts = http.get(f"/assethost/v1/Services/{target.service}/Versions").json()["versions"]
    assert [f["sha256"] for f in facts] == [live_hash]
    assert os.listdir(tmp_dir) == []


# ------------------------------------------------------------------------------------ the console

def test_console_uploads_refuse_cut_bodies_and_full_disks(small_disk):
    boundary = "c" + secrets.token_hex(8)
    content = os.urandom(30_000)
    whole = _multipart(boundary, content, path="/cut.bin")
    cut = whole[: len(whole) - len(f"\r\n--{boundary}--\r\n")]
    too_big = _multipart(boundary, os.urandom(TMPFS_BYTES + 50_000), path="/big.bin")
    legacy = whole.replace(b"/cut.bin", b"cut.bin")
    with small_disk.server.http_client() as http:  # made by the API: editable in the console only when said so
        assert http.post(f"/v1/Services/{small_disk.service}", data={"UiEditable": "true"}).status_code == 200
    with Console(small_disk.server) as console:
        console.sign_in()
        pane = f"/console/services/{small_disk.service}/upload"
        resp = console.upload(pane, cut, boundary)
        assert (resp.status_code, resp.json()) == (400, {"message": f"The multipart body ended before its closing "
                                                                    f"boundary (--{boundary}--): the upload is "
                                                                    "incomplete and was not stored"})
        resp = console.upload(pane, too_big, boundary)
        assert (resp.status_code, resp.json()) == (507, {"message": FULL["message"]})
        resp = console.upload("/console/legacy/upload", legacy[: len(legacy) - 9], boundary)
        assert resp.status_code == 400 and "closing boundary" in resp.json()["message"], resp.text
        resp = console.upload("/console/legacy/upload", too_big.replace(b"/big.bin", b"big.bin"), boundary)
        assert (resp.status_code, resp.json()) == (507, {"message": FULL["message"]})
        assert small_disk.tmp_files() == [] and blob_files(small_disk.data) == set()
        with small_disk.server.http_client() as http:  # no version anywhere, legacy files included
            assert http.get(f"/assethost/v1/Services/{small_disk.service}/Versions").json()["versions"] == []
        assert "cut.bin" not in console.get("/console/legacy").text
        resp = console.upload(pane, whole, boundary)  # and the console still uploads
        assert resp.status_code == 201, resp.text
