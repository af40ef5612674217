"""The S3 blob store against a real S3-compatible server (moto's, on 127.0.0.1): bytes reach the
bucket before an upload counts, a node with an empty cache fetches what it serves, and an object
store that refuses or is gone is a StorageError naming no key or credential."""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest
from s3kit import socket_closed

from assethost.config import parse_blob_url
from assethost.core.ports import BlobTooLarge, StorageError
from assethost.store.blobs import open_blob_store
from assethost.store.blobs.s3 import S3BlobStore

DATA = bytes(range(256)) * 100
DIGEST = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def aws_env(object_store, monkeypatch):
    for key, value in object_store.env().items():
        monkeypatch.setenv(key, value)


def _store(object_store, tmp_path, bucket: str, prefix: str = "blobs", cache_size: int = 1 << 30) -> S3BlobStore:
    store = open_blob_store(tmp_path / "cache", f"s3://{bucket}/{prefix}", cache_size)
    assert isinstance(store, S3BlobStore)
    return store


def test_parse_blob_url():
    assert parse_blob_url("s3://b/some/prefix/") == ("b", "some/prefix/")
    assert parse_blob_url("s3://b") == ("b", "")
    with pytest.raises(ValueError, match=r"a blob URL looks like s3://bucket/prefix \(got 'http://b/x'\)"):
        parse_blob_url("http://b/x")


def test_a_committed_blob_is_in_the_bucket_and_read_back_by_a_node_without_it(aws_env, object_store, tmp_path):
    bucket = object_store.bucket("b")
    writer_node = _store(object_store, tmp_path / "one", bucket)
    with writer_node.writer(len(DATA)) as w:
        for start in range(0, len(DATA), 4096):
            w.write(DATA[start:start + 4096])
        assert w.commit() == (DIGEST, len(DATA))
    assert object_store.keys(bucket) == [f"blobs/{DIGEST}"]
    assert writer_node.put(DATA) == (DIGEST, len(DATA))  # stored once
    assert object_store.keys(bucket) == [f"blobs/{DIGEST}"]

    reader_node = _store(object_store, tmp_path / "two", bucket)
    assert not (tmp_path / "two" / "cache").joinpath(DIGEST[:2]).exists()
    assert reader_node.exists(DIGEST) and not reader_node.exists("0" * 64)
    path = reader_node.local_path(DIGEST)
    assert path.read_bytes() == DATA and reader_node.read(DIGEST) == DATA
    assert path.parent.parent.parent == tmp_path / "two" / "cache"


def test_an_upload_over_its_limit_or_aborted_leaves_nothing(aws_env, object_store, tmp_path):
    bucket = object_store.bucket("b")
    store = _store(object_store, tmp_path, bucket)
    with store.writer(10) as w, pytest.raises(BlobTooLarge):
        w.write(DATA)
    with store.writer(len(DATA)) as w:
        w.write(DATA)
    assert object_store.keys(bucket) == []
    assert os.listdir(store.local.tmp_dir) == []


def test_a_missing_bucket_and_a_missing_blob_are_storage_errors_that_name_nothing(aws_env, object_store, tmp_path):
    store = _store(object_store, tmp_path, "no-such-bucket-" + uuid.uuid4().hex[:8])
    with store.writer(len(DATA)) as w:
        w.write(DATA)
        with pytest.raises(StorageError) as caught:
            w.commit()
    assert caught.value.full is False
    assert str(caught.value) == "could not store an upload (object store: NoSuchBucket)"
    # A missing bucket is not a missing blob (over real HTTP a HEAD's 404 is bare for both): a
    # build must not fail for good because the bucket is unreachable for a while.
    with pytest.raises(StorageError) as looked_up:
        store.exists(DIGEST)
    assert str(looked_up.value) == "could not look up a blob (object store: NoSuchBucket)"

    bucket = object_store.bucket("b")
    with pytest.raises(StorageError) as missing:
        _store(object_store, tmp_path / "other", bucket).local_path("1" * 64)
    assert str(missing.value) == "could not fetch a blob (object store: NoSuchKey)"


def test_an_object_store_that_is_gone_is_a_storage_error(monkeypatch, tmp_path):
    with socket_closed() as port:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-never-shown")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        store = open_blob_store(tmp_path, "s3://gone/x")
        with pytest.raises(StorageError) as caught:
            store.put(DATA)
    assert str(caught.value) == "could not store an upload (object store unreachable)"
    assert "secret-never-shown" not in repr(caught.value)



def test_the_readiness_check_asks_the_bucket(aws_env, object_store, tmp_path):
    bucket = object_store.bucket("ready")
    store = _store(object_store, tmp_path, bucket)
    store.check()  # the local folder takes files and the bucket answers
    object_store.client().delete_bucket(Bucket=bucket)
    with pytest.raises(StorageError) as caught:
        store.check()
    assert str(caught.value) == "the bucket does not answer (object store: 404)"
