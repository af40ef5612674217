"""Shared helpers for the black-box API tests (imported by conftest and the test modules)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import secrets
import time
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

T = TypeVar("T")
SID_RE = {prefix: re.compile(rf"^{prefix}[0-9a-f]{{32}}$") for prefix in
          ("AC", "ZS", "ZH", "ZN", "ZB", "ZE", "ZD", "ZV", "SK")}
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

BUILD_TIMEOUT_S = 20.0

# Limits used by the dedicated small-limits server (conftest `limited_server`).
SMALL_LIMITS = {
    "max_public_bytes": 1000,
    "max_private_bytes": 500,
    "max_public_versions": 3,
    "max_private_versions": 2,
    "max_function_versions": 2,
}


def uniq(prefix: str = "t") -> str:
    """A unique, valid Service UniqueName / name (letters, digits, hyphens)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def fake_sid(prefix: str) -> str:
    """A well-formed SID that (almost surely) does not exist."""
    return prefix + secrets.token_hex(16)


def assert_sid(value, prefix: str) -> None:
    assert isinstance(value, str) and SID_RE[prefix].match(value), f"not a {prefix} SID: {value!r}"


def assert_date(value) -> None:
    assert isinstance(value, str) and DATE_RE.match(value), f"bad timestamp format: {value!r}"


def assert_error(resp: httpx.Response, status: int, code: int | None = None, *mentions: str) -> dict:
    """Assert a Twilio-style JSON error body: {code, message, more_info, status}."""
    assert resp.status_code == status, f"expected HTTP {status}, got {resp.status_code}: {resp.text[:600]}"
    try:
        body = resp.json()
    except ValueError:
        pytest.fail(f"error body is not JSON (HTTP {resp.status_code}): {resp.text[:300]!r}")
    for key in ("code", "message", "more_info", "status"):
        assert key in body, f"error body lacks {key!r}: {body}"
    assert body["status"] == status, body
    if code is not None:
        assert body["code"] == code, f"expected code {code}, got {body}"
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{body['code']}", body
    # twilio-python would turn {type,title,status,code} into a different exception class
    assert not ("type" in body and "title" in body), body
    assert isinstance(body["message"], str) and body["message"], body
    for word in mentions:
        assert word.lower() in body["message"].lower(), f"{word!r} not mentioned in error message: {body}"
    return body


def expect_twilio_error(status: int, code: int, fn, *args, **kwargs) -> TwilioRestException:
    """Call fn and assert it raises TwilioRestException with the given HTTP status and Twilio code."""
    with pytest.raises(TwilioRestException) as excinfo:
        fn(*args, **kwargs)
    exc = excinfo.value
    assert (exc.status, exc.code) == (status, code), f"expected {status}/{code}, got {exc.status}/{exc.code}: {exc.msg}"
    return exc


# --------------------------------------------------------------------------- resource helpers (httpx)

def create_service(http: httpx.Client, unique_name: str | None = None, friendly_name: str | None = None,
                   **extra) -> dict:
    unique_name = unique_name or uniq("svc")
    data = {"UniqueName": unique_name, "FriendlyName": friendly_name or f"Service {unique_name}", **extra}
    resp = http.post("/v1/Services", data=data)
    assert resp.status_code == 201, resp.text
    return resp.json()


def create_asset(http: httpx.Client, service_sid: str, friendly_name: str | None = None) -> dict:
    resp = http.post(f"/v1/Services/{service_sid}/Assets", data={"FriendlyName": friendly_name or uniq("asset")})
    assert resp.status_code == 201, resp.text
    return resp.json()


def create_function(http: httpx.Client, service_sid: str, friendly_name: str | None = None) -> dict:
    resp = http.post(f"/v1/Services/{service_sid}/Functions",
                     data={"FriendlyName": friendly_name or "/" + uniq("fn")})
    assert resp.status_code == 201, resp.text
    return resp.json()


def upload(http: httpx.Client, service_sid: str, kind: str, resource_sid: str, path: str | None,
           content: bytes | str | None, visibility: str | None = "public", filename: str = "file.txt",
           mime: str = "text/plain") -> httpx.Response:
    """Raw multipart upload to …/{Assets|Functions}/{ZH}/Versions. None leaves the part out."""
    data = {}
    if path is not None:
        data["Path"] = path
    if visibility is not None:
        data["Visibility"] = visibility
    files = None
    if content is not None:
        if isinstance(content, str):
            content = content.encode()
        files = {"Content": (filename, content, mime)}
    if files is None:
        # force a multipart body even without a file part
        files = {"Dummy": ("dummy.txt", b"x", "text/plain")}
    return http.post(f"/v1/Services/{service_sid}/{kind}/{resource_sid}/Versions", data=data, files=files)


def upload_asset_version(http, service_sid, asset_sid, path="/file.txt", content=b"hello",
                         visibility="public", **kw) -> dict:
    resp = upload(http, service_sid, "Assets", asset_sid, path, content, visibility, **kw)
    assert resp.status_code == 201, resp.text
    return resp.json()


def upload_function_version(http, service_sid, function_sid, path="/hello",
                            content="exports.handler = (c, e, cb) => cb(null, 'hi');",
                            visibility="public") -> dict:
    resp = upload(http, service_sid, "Functions", function_sid, path, content, visibility,
                  filename="hello", mime="application/javascript")
    assert resp.status_code == 201, resp.text
    return resp.json()


def asset_with_version(http, service_sid, path=None, content=None, visibility="public") -> tuple[dict, dict]:
    asset = create_asset(http, service_sid)
    version = upload_asset_version(http, service_sid, asset["sid"], path or "/" + uniq("f") + ".txt",
                                   content if content is not None else os.urandom(32), visibility)
    return asset, version


def create_build(http: httpx.Client, service_sid: str, asset_versions=(), function_versions=(),
                 dependencies: str | None = None, runtime: str | None = None) -> httpx.Response:
    data: dict = {}
    if asset_versions:
        data["AssetVersions"] = list(asset_versions)
    if function_versions:
        data["FunctionVersions"] = list(function_versions)
    if dependencies is not None:
        data["Dependencies"] = dependencies
    if runtime is not None:
        data["Runtime"] = runtime
    if not data:
        return http.post(f"/v1/Services/{service_sid}/Builds", content=b"",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    # repeated keys: AssetVersions=ZN..&AssetVersions=ZN..
    return http.post(f"/v1/Services/{service_sid}/Builds", data=data)


def wait_build(http: httpx.Client, service_sid: str, build_sid: str, timeout: float = BUILD_TIMEOUT_S) -> str:
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        resp = http.get(f"/v1/Services/{service_sid}/Builds/{build_sid}/Status")
        assert resp.status_code == 200, resp.text
        status = resp.json()["status"]
        if status in ("completed", "failed"):
            return status
        time.sleep(0.2)
    pytest.fail(f"build {build_sid} still {status!r} after {timeout}s")


def completed_build(http, service_sid, asset_versions=(), function_versions=()) -> dict:
    resp = create_build(http, service_sid, asset_versions, function_versions)
    assert resp.status_code == 201, resp.text
    build = resp.json()
    assert wait_build(http, service_sid, build["sid"]) == "completed"
    return build


def create_environment(http, service_sid, unique_name=None, domain_suffix=None) -> dict:
    data = {"UniqueName": unique_name or uniq("env")}
    if domain_suffix is not None:
        data["DomainSuffix"] = domain_suffix
    resp = http.post(f"/v1/Services/{service_sid}/Environments", data=data)
    assert resp.status_code == 201, resp.text
    return resp.json()


def deploy(http, service_sid, env_sid, build_sid) -> httpx.Response:
    return http.post(f"/v1/Services/{service_sid}/Environments/{env_sid}/Deployments",
                     data={"BuildSid": build_sid})


def list_all(http: httpx.Client, url: str, key: str, max_pages: int = 50) -> list[dict]:
    """Follow meta.next_page_url verbatim (absolute URLs) and return all records."""
    items = []
    for _ in range(max_pages):
        resp = http.get(url)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["meta"]["key"] == key
        items += body[key]
        url = body["meta"]["next_page_url"]
        if not url:
            return items
    pytest.fail(f"more than {max_pages} pages at {url}")


# --------------------------------------------------------------------------- storage helpers

def blob_files(data_dir: str | Path) -> set[Path]:
    """Regular files under DATA/blobs, excluding anything inside a directory named 'tmp'."""
    root = Path(data_dir) / "blobs"
    if not root.exists():
        return set()
    out = set()
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if "tmp" in rel.parts[:-1] or (p.is_dir()):
            continue
        if p.is_file() and not p.is_symlink():
            out.add(p)
    return out


def data_files_outside_tmp(data_dir: str | Path) -> set[Path]:
    """All regular files under DATA excluding blobs tmp areas and SQLite journal/WAL side files."""
    root = Path(data_dir)
    out = set()
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if "tmp" in rel.parts[:-1] or not p.is_file():
            continue
        if re.search(r"\.(db|sqlite3?)(-wal|-shm|-journal)?$", p.name) or p.suffix in (".log", ".lock"):
            continue
        out.add(p)
    return out


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def doc_block(document: Path, name: str) -> str:
    """The fenced code block right after the marker `<!-- tested: name … -->` in a README or doc:
    the tests that run the documents' examples take them from there, as a reader would."""
    found = re.search(rf"<!-- tested: {re.escape(name)}\b[^>]*-->\n```[a-z]*\n(.*?)\n```", document.read_text(),
                      re.DOTALL)
    assert found, f"{document.name} has no block marked <!-- tested: {name} -->"
    return found.group(1)

def run_coroutine(coroutine: Coroutine[Any, Any, T],
                  loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop) -> T:
    """Run on an event loop of its own, in a thread of its own: the main thread may already have a
    running loop (the console suite's Playwright keeps one for the whole session), and
    asyncio.run() refuses to start another there."""

    def run() -> T:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(coroutine)

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result(timeout=60)
