"""Helpers for the black-box edge suite: deploy small sites through the API of the shared
`server` (tests/conftest.py) and fetch them back by Host header from the same port."""

from __future__ import annotations

import http.client
import secrets
import struct
import time
import zlib
from dataclasses import dataclass, field

import httpx
from helpers import completed_build, create_asset, create_environment, create_service, deploy, uniq, upload
from twilio.request_validator import RequestValidator

COMPRESS_TIMEOUT_S = 5.0
PRIVATE_MARKER = b"PRIVATE-" + secrets.token_hex(16).encode()
PROTECTED_MARKER = b"PROTECTED-" + secrets.token_hex(16).encode()


# ------------------------------------------------------------------------------------------ content


def png_bytes(width: int = 4, height: int = 4) -> bytes:
    """A small but valid PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"".join(bytes([(x * 40) % 256, (y * 40) % 256, 128]) for x in range(width))
                   for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def mp3_bytes() -> bytes:
    """An ID3-tagged 'mp3': highly compressible on purpose (it must still never be compressed)."""
    header = b"ID3\x03\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10
    frame = b"\xff\xfb\x90\x64" + b"\x00" * 413
    return header + frame * 10


def text_blob(label: str, size: int = 4000) -> bytes:
    line = f"{label}: the quick brown fox jumps over the lazy dog 0123456789\n".encode()
    return (line * (size // len(line) + 1))[:size]


# ------------------------------------------------------------------------------------------ signing


class MultiDict(dict):
    """What RequestValidator.get_values needs for repeated form keys (it calls getlist)."""

    def __init__(self, pairs):
        super().__init__()
        self._pairs = list(pairs)
        for k, _ in self._pairs:
            self[k] = None

    def getlist(self, name):
        return [v for k, v in self._pairs if k == name]


def twilio_signature(token: str, url: str, pairs=()) -> str:
    """The X-Twilio-Signature twilio-python computes (the oracle)."""
    pairs = list(pairs)
    return RequestValidator(token).compute_signature(url, MultiDict(pairs) if pairs else {})


# ------------------------------------------------------------------------------------------ raw HTTP


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def comparable_headers(self) -> list[tuple[str, str]]:
        return sorted((k.lower(), v) for k, v in self.headers if k.lower() not in ("date", "server"))


def raw_request(port: int, method: str, path: str, host: str, headers: dict | None = None,
                body: bytes | None = None) -> RawResponse:
    """Send `path` byte-for-byte (no client-side normalisation) over a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        return send_raw(conn, method, path, host, headers, body)
    finally:
        conn.close()


def send_raw(conn: http.client.HTTPConnection, method: str, path: str, host: str, headers: dict | None = None,
             body: bytes | None = None) -> RawResponse:
    """One request on an open connection, the path and Host exactly as given."""
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", host)
    for k, v in (headers or {}).items():
        conn.putheader(k, v)
    if body is not None:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    resp = conn.getresponse()
    return RawResponse(resp.status, resp.getheaders(), resp.read())


# ------------------------------------------------------------------------------------------ sites


@dataclass
class FileSpec:
    path: str
    content: bytes
    visibility: str = "public"
    filename: str | None = None
    mime: str | None = None


@dataclass
class Site:
    server: object
    service_sid: str
    env_sid: str
    domain: str
    build_sid: str
    files: dict[str, FileSpec] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def host(self) -> str:
        return f"{self.domain}:{self.port}"

    def url(self, path: str, with_port: bool = True) -> str:
        """The URL a client requested, as the signature covers it."""
        return f"http://{self.host if with_port else self.domain}{path}"

    def client(self, **kw) -> httpx.Client:
        headers = {"Host": self.host, "Accept-Encoding": "identity"}
        headers.update(kw.pop("headers", {}))
        return httpx.Client(base_url=self.server.base_url, trust_env=False, timeout=30.0, headers=headers, **kw)

    def request(self, method: str, path: str, headers: dict | None = None, **kw) -> httpx.Response:
        with self.client() as c:
            return c.request(method, path, headers=headers or {}, **kw)

    def get(self, path: str, headers: dict | None = None, **kw) -> httpx.Response:
        return self.request("GET", path, headers, **kw)

    def raw_get(self, path: str, accept_encoding: str) -> httpx.Response:
        """GET without decoding: returns the response with `.raw_body` = bytes as sent."""
        with self.client() as c:
            req = c.build_request("GET", path, headers={"Accept-Encoding": accept_encoding})
            resp = c.send(req, stream=True)
            try:
                resp.raw_body = b"".join(resp.iter_raw())
            finally:
                resp.close()
            return resp

    def signed(self, method: str, path: str, token: str | None = None, data: list | None = None,
               with_port: bool = True, headers: dict | None = None) -> httpx.Response:
        token = token or self.server.auth_token
        sig = twilio_signature(token, self.url(path, with_port), data or ())
        hdrs = {"X-Twilio-Signature": sig, **(headers or {})}
        if data is not None:
            from urllib.parse import urlencode

            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
            return self.request(method, path, hdrs, content=urlencode(data).encode())
        return self.request(method, path, hdrs)

    def wait_encoded(self, path: str, encoding: str, timeout: float = COMPRESS_TIMEOUT_S) -> httpx.Response:
        deadline = time.monotonic() + timeout
        while True:
            resp = self.raw_get(path, encoding)
            assert resp.status_code == 200, resp.status_code
            if resp.headers.get("content-encoding") == encoding or time.monotonic() > deadline:
                return resp
            time.sleep(0.05)


class Deployer:
    """Creates services, uploads versions, builds and deploys through the API."""

    def __init__(self, server, http: httpx.Client):
        self.server = server
        self.http = http

    def service(self, prefix: str = "edge") -> dict:
        return create_service(self.http, uniq(prefix))

    def version(self, service_sid: str, spec: FileSpec) -> str:
        asset = create_asset(self.http, service_sid)
        name = spec.filename or (spec.path.rsplit("/", 1)[-1] or "index.html")
        resp = upload(self.http, service_sid, "Assets", asset["sid"], spec.path, spec.content, spec.visibility,
                      filename=name, mime=spec.mime or "application/octet-stream")
        assert resp.status_code == 201, resp.text
        return resp.json()["sid"]

    def build(self, service_sid: str, specs: list[FileSpec]) -> str:
        versions = [self.version(service_sid, s) for s in specs]
        return completed_build(self.http, service_sid, versions)["sid"]

    def environment(self, service_sid: str, suffix: str | None = "dev") -> dict:
        return create_environment(self.http, service_sid, uniq("env"), suffix)

    def deploy(self, service_sid: str, env_sid: str, build_sid: str) -> dict:
        resp = deploy(self.http, service_sid, env_sid, build_sid)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def site(self, specs: list[FileSpec], suffix: str | None = "dev", prefix: str = "edge") -> Site:
        service = self.service(prefix)
        build_sid = self.build(service["sid"], specs)
        env = self.environment(service["sid"], suffix)
        self.deploy(service["sid"], env["sid"], build_sid)
        return Site(self.server, service["sid"], env["sid"], env["domain_name"], build_sid,
                    {s.path: s for s in specs})


def wait_for_every_worker(srv, host: str, path: str, body: bytes, pids: list[int]) -> float:
    """Seconds until the latest answer of each worker in `pids` is `body`. Every request is on a
    new connection, and the worker that answered it is the one holding the server's end."""
    start = time.monotonic()
    latest: dict[int, tuple[int, bytes]] = {}
    while time.monotonic() - start < 10:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        try:
            resp = send_raw(conn, "GET", path, host)
            worker = srv.worker_holding(conn.sock.getsockname()[1], pids)
        finally:
            conn.close()
        assert worker is not None, f"no worker of {pids} holds the connection"
        latest[worker] = (resp.status, resp.body)  # a 404 from a worker yet to see the first deployment
        if sorted(latest) == sorted(pids) and set(latest.values()) == {(200, body)}:
            return time.monotonic() - start
    raise AssertionError(f"{path}: the workers' latest answers are {latest}, not all (200, {body!r})")
