"""Blob storage: content-addressed de-duplication and no leftovers after rejected uploads."""

import contextlib
import hashlib
import os
import secrets
import threading
import time
from pathlib import Path

import httpx
import pytest
from helpers import (
    assert_error,
    blob_files,
    create_asset,
    create_function,
    create_service,
    data_files_outside_tmp,
    sha256_hex,
    upload,
    upload_asset_version,
    upload_function_version,
)

MiB = 1024 * 1024


def test_same_bytes_twice_store_one_blob(http, server):
    svc = create_service(http)
    a1 = create_asset(http, svc["sid"])
    a2 = create_asset(http, svc["sid"])
    content = os.urandom(4096)
    digest = sha256_hex(content)

    before = blob_files(server.data_dir)
    v1 = upload_asset_version(http, svc["sid"], a1["sid"], "/one.bin", content, "public")
    after_first = blob_files(server.data_dir)
    v2 = upload_asset_version(http, svc["sid"], a2["sid"], "/two.bin", content, "private")
    v3 = upload_asset_version(http, svc["sid"], a1["sid"], "/one-again.bin", content, "protected")
    after_third = blob_files(server.data_dir)

    assert len({v1["sid"], v2["sid"], v3["sid"]}) == 3
    new = after_first - before
    matching = [p for p in new if digest in str(p.relative_to(server.data_dir))]
    assert len(matching) == 1, f"expected one new blob named after sha256 {digest}, new files: {sorted(new)}"
    assert after_third == after_first, f"re-uploading identical bytes created files: {after_third - after_first}"
    assert matching[0].stat().st_size > 0


def test_different_bytes_store_different_blobs(http, server):
    svc = create_service(http)
    asset = create_asset(http, svc["sid"])
    c1, c2 = os.urandom(1000), os.urandom(1000)
    before = blob_files(server.data_dir)
    upload_asset_version(http, svc["sid"], asset["sid"], "/x.bin", c1)
    upload_asset_version(http, svc["sid"], asset["sid"], "/x.bin", c2)
    new = {str(p.relative_to(server.data_dir)) for p in blob_files(server.data_dir) - before}
    for digest in (sha256_hex(c1), sha256_hex(c2)):
        assert sum(digest in p for p in new) == 1, (digest, new)


def test_function_versions_share_blob_and_return_content(http, server):
    svc = create_service(http)
    fn = create_function(http, svc["sid"])
    code = f"// {secrets.token_hex(8)}\nexports.handler = (c, e, cb) => cb(null, 1);\n"
    before = blob_files(server.data_dir)
    v1 = upload_function_version(http, svc["sid"], fn["sid"], "/f", code)
    mid = blob_files(server.data_dir)
    v2 = upload_function_version(http, svc["sid"], fn["sid"], "/f", code)
    assert blob_files(server.data_dir) == mid
    assert any(sha256_hex(code.encode()) in str(p) for p in mid - before)
    for v in (v1, v2):
        body = http.get(f"/v1/Services/{svc['sid']}/Functions/{fn['sid']}/Versions/{v['sid']}/Content").json()
        assert body["content"] == code


def test_rejected_upload_leaves_no_file_and_no_version(limited_server):
    with limited_server.http_client() as h:
        svc = create_service(h)
        asset = create_asset(h, svc["sid"])
        ok = upload_asset_version(h, svc["sid"], asset["sid"], "/ok.bin", os.urandom(100))
        blobs_before = blob_files(limited_server.data_dir)
        files_before = data_files_outside_tmp(limited_server.data_dir)
        big = os.urandom(5000)
        resp = upload(h, svc["sid"], "Assets", asset["sid"], "/big-file.bin", big, "public",
                      filename="big-file.bin", mime="application/octet-stream")
        assert_error(resp, 413, 20413)
        resp = upload(h, svc["sid"], "Assets", asset["sid"], "/big-private.bin", big[:600], "private",
                      filename="big-private.bin", mime="application/octet-stream")
        assert_error(resp, 413, 20413)
        assert blob_files(limited_server.data_dir) == blobs_before
        leftovers = data_files_outside_tmp(limited_server.data_dir) - files_before
        assert not leftovers, f"partial files left behind: {leftovers}"
        assert not any(sha256_hex(big) in str(p) for p in data_files_outside_tmp(limited_server.data_dir))
        versions = h.get(f"/v1/Services/{svc['sid']}/Assets/{asset['sid']}/Versions").json()["asset_versions"]
        assert [v["sid"] for v in versions] == [ok["sid"]]


# -------------------------------------------------------------------------------- 30 MiB streamed upload

def _streamed_multipart(path: str, visibility: str, size: int, filename: str, chunk: int = 256 * 1024):
    boundary = "assethost-" + secrets.token_hex(12)
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="Path"\r\n\r\n{path}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="Visibility"\r\n\r\n{visibility}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="Content"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    block = os.urandom(chunk)

    def gen():
        yield head
        sent = 0
        while sent < size:
            n = min(chunk, size - sent)
            yield block[:n]
            sent += n
        yield tail

    return f"multipart/form-data; boundary={boundary}", len(head) + size + len(tail), gen()


class _RssSampler(threading.Thread):
    def __init__(self, server):
        super().__init__(daemon=True)
        self.server = server
        self.peak = server.rss()
        self._stop_evt = threading.Event()

    def run(self):
        while not self._stop_evt.is_set():
            with contextlib.suppress(Exception):  # process may be between states; keep sampling
                self.peak = max(self.peak, self.server.rss())
            time.sleep(0.01)

    def stop(self):
        self._stop_evt.set()
        self.join(timeout=5)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_30mib_upload_over_default_limit_is_413_without_buffering(http, server, framing):
    svc = create_service(http)
    asset = create_asset(http, svc["sid"])
    ok = upload_asset_version(http, svc["sid"], asset["sid"], "/small.bin", b"small")
    # warm up code paths (multipart parser etc.) so the baseline is realistic
    upload_asset_version(http, svc["sid"], asset["sid"], "/warm.bin", os.urandom(256 * 1024))
    blobs_before = blob_files(server.data_dir)
    files_before = data_files_outside_tmp(server.data_dir)
    versions_before = http.get(f"/v1/Services/{svc['sid']}/Assets/{asset['sid']}/Versions").json()["asset_versions"]

    size = 30 * MiB
    content_type, length, body = _streamed_multipart("/huge.bin", "public", size, "huge.bin")
    headers = {"Content-Type": content_type}
    if framing == "content-length":
        headers["Content-Length"] = str(length)  # like the toolkit (form-data computes it)
    # else: no length known up front -> httpx sends Transfer-Encoding: chunked
    baseline = server.rss()
    sampler = _RssSampler(server)
    sampler.start()
    t0 = time.monotonic()
    try:
        resp = http.post(f"/v1/Services/{svc['sid']}/Assets/{asset['sid']}/Versions", content=body,
                         headers=headers,
                         timeout=httpx.Timeout(60.0))
    except httpx.TransportError as exc:
        sampler.stop()
        raise AssertionError(f"server dropped the connection instead of answering 413: {exc!r}") from exc
    finally:
        sampler.stop()
    elapsed = time.monotonic() - t0

    body = assert_error(resp, 413, 20413)
    assert "huge.bin" in body["message"], body
    assert "26214400" in body["message"] or "25 MiB" in body["message"] or "25MiB" in body["message"] \
        or "25 MB" in body["message"], body
    growth = sampler.peak - baseline
    assert growth < 15 * MiB, f"server RSS grew by {growth / MiB:.1f} MiB during a 30 MiB upload"
    assert elapsed < 60

    assert blob_files(server.data_dir) == blobs_before
    leftovers = data_files_outside_tmp(server.data_dir) - files_before
    assert not leftovers, f"partial files left behind: {leftovers}"
    after = http.get(f"/v1/Services/{svc['sid']}/Assets/{asset['sid']}/Versions").json()["asset_versions"]
    assert after == versions_before
    assert ok["sid"] in [v["sid"] for v in after]
    # server still healthy
    assert http.get(f"/v1/Services/{svc['sid']}").status_code == 200


def test_20mib_upload_is_streamed_to_disk(http, server):
    """A large upload under the limit succeeds, lands as one sha256-named blob, without buffering in RAM."""
    svc = create_service(http)
    asset = create_asset(http, svc["sid"])
    upload_asset_version(http, svc["sid"], asset["sid"], "/warm.bin", os.urandom(256 * 1024))
    size = 20 * MiB
    content_type, length, body = _streamed_multipart("/big.bin", "public", size, "big.bin")
    # hash the content part on the fly (everything between the multipart head and tail)
    hasher = hashlib.sha256()

    def tee():
        first = True
        pending = None
        for chunk in body:
            if first:
                first = False
                yield chunk
                continue
            if pending is not None:
                hasher.update(pending)
                yield pending
            pending = chunk
        yield pending  # the multipart tail, not part of the content

    before = blob_files(server.data_dir)
    baseline = server.rss()
    sampler = _RssSampler(server)
    sampler.start()
    try:
        resp = http.post(f"/v1/Services/{svc['sid']}/Assets/{asset['sid']}/Versions", content=tee(),
                         headers={"Content-Type": content_type, "Content-Length": str(length)},
                         timeout=httpx.Timeout(60.0))
    finally:
        sampler.stop()
    assert resp.status_code == 201, resp.text
    assert resp.json()["path"] == "/big.bin"
    growth = sampler.peak - baseline
    assert growth < 15 * MiB, f"server RSS grew by {growth / MiB:.1f} MiB during a 20 MiB upload"
    new = blob_files(server.data_dir) - before
    digest = hasher.hexdigest()
    matching = [p for p in new if digest in str(p.relative_to(server.data_dir))]
    assert len(matching) == 1, (digest, new)


def test_client_filename_is_not_used_as_storage_path(http, server):
    """The Content part's filename must never decide where bytes are written."""
    svc = create_service(http)
    asset = create_asset(http, svc["sid"])
    workdir = server.workdir
    before_all = {p for p in workdir.rglob("*") if p.is_file()}
    marker = f"evil-{secrets.token_hex(6)}.txt"
    for filename in (f"../../../{marker}", f"/tmp/{marker}", f"..\\..\\{marker}"):
        resp = upload(http, svc["sid"], "Assets", asset["sid"], "/ok.txt", os.urandom(64), "public",
                      filename=filename)
        assert resp.status_code == 201, resp.text  # the part's filename is ignored: Path names the file
    created = {p for p in workdir.rglob("*") if p.is_file()} - before_all
    assert not [p for p in created if marker in p.name], created
    assert not (workdir.parent / marker).exists()
    assert not (Path("/tmp") / marker).exists()
