"""Two real `assethost serve` nodes sharing only a PostgreSQL database and an S3 bucket (moto's
server): what is uploaded through one is served by the other, which never saw the upload and
fetches the bytes from the bucket, for a public asset, a large one sent from its file, and a
private asset that a function reads."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
from fnkit import deploy_project
from s3kit import socket_closed
from servers import Backend, ServerProcess

BIG = bytes(range(256)) * 4096  # 1 MiB: over --memory-file-limit, sent from the cached file
READER = "exports.handler = (context, event, callback) => callback(null, Runtime.getAssets()['/secret.txt'].open());\n"


@pytest.fixture
def nodes(object_store, tmp_path):
    bucket = object_store.bucket("nodes")
    backend = Backend("postgres")
    backend.check()
    first, second = ServerProcess(backend, tmp_path / "one"), ServerProcess(backend, tmp_path / "two")
    backend.drop_database(second._dbname)  # the second node shares the first one's database
    second.db_url, second._dbname = first.db_url, None
    second.account_sid, second.auth_token = first.account_sid, first.auth_token
    try:
        for node in (first, second):
            node.blob_args, node.extra_env = ["--blob-url", f"s3://{bucket}/blobs"], object_store.env()
            node.start()
        yield bucket, first, second
    finally:
        for node in reversed([first, second]):
            node.stop()


def test_a_file_uploaded_through_one_node_is_served_by_the_other(nodes, object_store):
    bucket, first, second = nodes
    with first.http_client() as http:
        deployed = deploy_project(first, http, {
            "assets/hello.txt": "hello from the bucket\n",
            "assets/big.bin": BIG,
            "assets/secret.private.txt": "private bytes\n",
            "functions/reader.js": READER,
        }, dependencies="")
    keys = object_store.keys(bucket)
    assert len(keys) == 4 and all(k.startswith("blobs/") for k in keys)

    host = {"Host": f"{deployed.site.domain}:{second.port}"}
    with httpx.Client(base_url=second.base_url, headers=host, timeout=30, trust_env=False) as edge:
        for _ in range(50):  # the second node notices the deployment within its poll interval (0.5 s)
            answer = edge.get("/hello.txt")
            if answer.status_code == 200:
                break
            time.sleep(0.1)
        assert (answer.status_code, answer.text) == (200, "hello from the bucket\n")
        big = edge.get("/big.bin")
        assert (big.status_code, big.content) == (200, BIG)
        assert edge.get("/secret.txt").status_code == 404
        function = edge.get("/reader")
        assert (function.status_code, function.text) == (200, "private bytes\n")
    cache = second.workdir / "data" / "blobs"
    assert sorted(p.name for p in cache.rglob("*") if p.is_file() and p.parent.parent.parent == cache) == sorted(
        k.removeprefix("blobs/") for k in keys)



def test_an_upload_when_the_bucket_is_gone_is_refused_with_503_and_stores_nothing(object_store, tmp_path):
    bucket = object_store.bucket("gone")
    node = ServerProcess(Backend("sqlite"), tmp_path)
    node.blob_args, node.extra_env = ["--blob-url", f"s3://{bucket}/blobs"], object_store.env()
    try:
        node.start()
        object_store.client().delete_bucket(Bucket=bucket)  # the object store loses it under a running node
        with node.http_client() as http:
            service = http.post("/v1/Services", data={"UniqueName": "gone", "FriendlyName": "Gone"}).json()
            asset = http.post(f"/v1/Services/{service['sid']}/Assets", data={"FriendlyName": "a"}).json()
            answer = http.post(f"/v1/Services/{service['sid']}/Assets/{asset['sid']}/Versions",
                               data={"Path": "/a.txt", "Visibility": "public"},
                               files={"Content": ("a.txt", b"bytes", "text/plain")})
            versions = http.get(f"/v1/Services/{service['sid']}/Assets/{asset['sid']}/Versions").json()
    finally:
        node.stop()
    assert answer.status_code == 503
    assert answer.json() == {
        "code": 20503, "status": 503, "more_info": "https://www.twilio.com/docs/errors/20503",
        "message": "The server cannot store uploads right now: the upload was not stored. Try again later",
    }
    assert "testing" not in answer.text
    assert versions["asset_versions"] == []


@pytest.mark.parametrize("case", ["no such bucket", "unreachable"])
def test_serve_without_its_bucket_says_so_in_one_line_and_creates_nothing(object_store, tmp_path, case):
    env = {**os.environ, **object_store.env(), "TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "t" * 32}
    with socket_closed() as port:
        if case == "unreachable":
            env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
        data = tmp_path / "data"
        done = subprocess.run([sys.executable, "-m", "assethost", "serve", "--port", "0", "--data", str(data),
                               "--blob-url", "s3://missing-bucket-for-test/x"], env=env, capture_output=True,
                              text=True, timeout=120, check=False)
    reason = "object store: 404" if case == "no such bucket" else "object store unreachable"
    assert (done.returncode, done.stderr) == (
        6, f"assethost: cannot use the blob store s3://missing-bucket-for-test/x: could not reach the bucket ({reason})\n")
    assert not data.exists()
