"""A node's bounded cache of the bucket's blobs (`--cache-size`), against a real S3-compatible
server (moto's): the bound holds however much is uploaded, least recently used files go first,
a fill that does not hash to its name is never kept, worker processes filling the same blobs at
once are safe, and a served file evicted under the edge is fetched again and served whole."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fnkit import deploy_project
from servers import Backend, ServerProcess

from assethost.core.ports import StorageError
from assethost.store.blobs import open_blob_store
from assethost.store.blobs.s3 import S3BlobStore


@pytest.fixture
def aws_env(object_store, monkeypatch):
    for key, value in object_store.env().items():
        monkeypatch.setenv(key, value)


def _store(folder: Path, bucket: str, cache_size: int) -> S3BlobStore:
    store = open_blob_store(folder, f"s3://{bucket}/blobs", cache_size)
    assert isinstance(store, S3BlobStore)
    return store


def _cached(folder: Path) -> dict[str, int]:
    """The cache's files (blobs and variants, not tmp/) and their sizes."""
    return {p.name: p.stat().st_size for p in folder.glob("??/??/*")}


def test_the_bound_holds_under_uploads_of_more_than_it(aws_env, object_store, tmp_path):
    bucket = object_store.bucket("bound")
    store = _store(tmp_path / "cache", bucket, 100_000)
    blobs = [os.urandom(20_000) for _ in range(20)]
    for data in blobs:
        store.put(data)
        assert sum(_cached(tmp_path / "cache").values()) <= 100_000
    assert len(object_store.keys(bucket)) == 20  # the bucket keeps everything
    first = hashlib.sha256(blobs[0]).hexdigest()
    assert first not in _cached(tmp_path / "cache")  # the oldest went first
    assert store.read(first) == blobs[0]  # fetched again when asked for
    assert sum(_cached(tmp_path / "cache").values()) <= 100_000
    assert os.listdir(tmp_path / "cache" / "tmp") == []


def test_least_recently_used_files_are_evicted_first(aws_env, object_store, tmp_path):
    store = _store(tmp_path / "cache", object_store.bucket("lru"), 100_000)
    a, b, c, d = (os.urandom(30_000) for _ in range(4))
    paths = {}
    now = time.time()
    for age, data in zip((300, 200, 100), (a, b, c), strict=True):
        digest, _ = store.put(data)
        paths[data] = store.local_path(digest)
        os.utime(paths[data], (now - age, now - age))
    store.cache.touch_every = 0
    store.used(str(paths[a]))  # served just now: the newest of the three
    assert paths[a].stat().st_mtime >= now - 1
    store.put(d)  # over the bound: the least recently used goes (b), then the total is under 90 %
    assert sorted(_cached(tmp_path / "cache")) == sorted(hashlib.sha256(x).hexdigest() for x in (a, c, d))

    store.cache.touch_every = 60.0  # within this, serving a file again moves its clock no more
    os.utime(paths[c], (now - 100, now - 100))
    store.used(str(paths[c]))
    first_touch = paths[c].stat().st_mtime
    os.utime(paths[c], (now - 50, now - 50))
    store.used(str(paths[c]))
    assert first_touch >= now - 1 and paths[c].stat().st_mtime == now - 50


def test_a_fill_that_does_not_hash_to_its_name_is_never_kept(aws_env, object_store, tmp_path):
    bucket = object_store.bucket("corrupt")
    data = os.urandom(50_000)
    digest, _ = _store(tmp_path / "one", bucket, 1 << 20).put(data)
    # The object's bytes change in the bucket (bit rot, a bad copy, someone else's writes).
    object_store.client().put_object(Bucket=bucket, Key=f"blobs/{digest}", Body=data[:-1] + b"\x00")
    other = _store(tmp_path / "two", bucket, 1 << 20)
    with pytest.raises(StorageError) as caught:
        other.local_path(digest)
    assert str(caught.value) == "could not fetch a blob (its bytes do not match its name)"
    assert _cached(tmp_path / "two") == {}
    assert os.listdir(tmp_path / "two" / "tmp") == []


FILLER = """
import sys, time
from pathlib import Path
from assethost.store.blobs import open_blob_store
folder, url, start, digests = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4:]
store = open_blob_store(Path(folder), url, 1 << 30)
time.sleep(max(0.0, start - time.time()))
for digest in digests:
    assert store.local_path(digest).is_file()
print(len(digests))
"""


def test_two_processes_filling_the_same_blobs_at_once(aws_env, object_store, tmp_path):
    bucket = object_store.bucket("fill")
    uploader = _store(tmp_path / "uploader", bucket, 1 << 30)
    blobs = {uploader.put(os.urandom(200_000))[0]: None for _ in range(30)}
    digests = list(blobs)
    cache = tmp_path / "node"
    start = time.time() + 3  # both processes have started by then (boto3 takes a second to import)
    fillers = [subprocess.Popen([sys.executable, "-c", FILLER, str(cache), f"s3://{bucket}/blobs", str(start),
                                 *digests], stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    for filler in fillers:
        out, err = filler.communicate(timeout=120)
        assert (filler.returncode, out.strip()) == (0, b"30"), err.decode()[-2000:]
    for digest in digests:
        path = cache / digest[:2] / digest[2:4] / digest
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert os.listdir(cache / "tmp") == []


def test_a_served_file_evicted_under_the_edge_is_fetched_again(object_store, tmp_path):
    bucket = object_store.bucket("edge")
    node = ServerProcess(Backend("sqlite"), tmp_path, ["--cache-size", "200KiB", "--memory-file-limit", "0"])
    node.blob_args, node.extra_env = ["--blob-url", f"s3://{bucket}/blobs"], object_store.env()
    files = {f"assets/f{i}.bin": os.urandom(64 * 1024) for i in range(4)}  # 256 KiB: more than the cache
    cache = node.workdir / "data" / "blobs"
    try:
        node.start()
        with node.http_client() as http:
            deployed = deploy_project(node, http, files, dependencies="")
        assert sum(_cached(cache).values()) <= 200 * 1024
        host = {"Host": f"{deployed.site.domain}:{node.port}"}
        with httpx.Client(base_url=node.base_url, headers=host, timeout=30, trust_env=False) as edge:
            for name, data in files.items():  # those the uploads pushed out are fetched again
                answer = edge.get("/" + name.removeprefix("assets/"))
                assert (answer.status_code, answer.content) == (200, data)
            assert sum(_cached(cache).values()) <= 200 * 1024
            # Another worker's eviction, right under this one: the next request still gets it all.
            digest = hashlib.sha256(files["assets/f3.bin"]).hexdigest()
            (cache / digest[:2] / digest[2:4] / digest).unlink(missing_ok=True)
            for _ in range(3):
                answer = edge.get("/f3.bin")
                assert (answer.status_code, answer.content) == (200, files["assets/f3.bin"])
            assert digest in _cached(cache)
    finally:
        node.stop()


def test_a_node_that_never_saw_the_upload_fetches_the_whole_build_before_it_serves_it(object_store, tmp_path):
    """Warming is part of loading the deployment, off the request path: by the time the second
    node serves any file of the build, every file and variant of it is in its cache."""
    bucket = object_store.bucket("warm")
    backend = Backend("postgres")
    backend.check()
    first, second = ServerProcess(backend, tmp_path / "one"), ServerProcess(backend, tmp_path / "two")
    backend.drop_database(second._dbname)  # the second node shares the first one's database
    second.db_url, second._dbname = first.db_url, None
    second.account_sid, second.auth_token = first.account_sid, first.auth_token
    style = b"body { color: red; }\n" * 200
    files = {f"assets/f{i}.bin": os.urandom(300 * 1024) for i in range(6)} | {"assets/style.css": style}
    try:
        for node in (first, second):
            node.blob_args, node.extra_env = ["--blob-url", f"s3://{bucket}/blobs"], object_store.env()
            node.start()
        with first.http_client() as http:
            deployed = deploy_project(first, http, files, dependencies="")
        host = {"Host": f"{deployed.site.domain}:{second.port}"}
        with httpx.Client(base_url=second.base_url, headers=host, timeout=30, trust_env=False) as edge:
            for _ in range(50):  # within the poll interval (0.5 s) and the fetching
                answer = edge.get("/f0.bin")
                if answer.status_code == 200:
                    break
                time.sleep(0.1)
            assert (answer.status_code, answer.content) == (200, files["assets/f0.bin"])
            digest = hashlib.sha256(style).hexdigest()
            cached = _cached(second.workdir / "data" / "blobs")
            assert sorted(cached) == sorted([hashlib.sha256(d).hexdigest() for d in files.values()]
                                            + [f"{digest}.br", f"{digest}.gz"])
            compressed = edge.get("/style.css", headers={"Accept-Encoding": "br"})
            assert (compressed.headers["content-encoding"], compressed.content) == ("br", style)
    finally:
        for node in reversed([first, second]):
            node.stop()
