"""Blobs in an S3-compatible object store (AWS S3, MinIO, Ceph RGW, R2, …), through boto3.

Each blob is the object `{prefix}{sha256}`. A local folder, itself a `LocalBlobStore`, holds what
must be local: uploads while they are written (hashed, counted and fsynced there, never held in
memory) and the blobs the edge sends and function folders link, fetched once on first use. A
blob never changes, so a cached copy is always right; on commit the bytes go to the bucket before
the upload counts, so a version row never names a blob the bucket lacks.

boto3 rather than a lighter client: it is the reference implementation of the protocol, reads the
standard `AWS_*` settings (`AWS_ENDPOINT_URL`, credentials, region) and does multipart uploads of
large files by itself.

Errors of the object store (unreachable, refused, no such bucket) become `StorageError` with the
operation and the S3 error code only: no URL, key or credential reaches a client.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Self

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from assethost.config import parse_blob_url
from assethost.core.ports import BlobWriter, StorageError
from assethost.store.blobs.local import LocalBlobStore, disk_errors

log = logging.getLogger("assethost.blobs")
# Bounded waits: a store that does not answer fails the request instead of holding it.
_CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"})
UPLOAD_THREADS = 8  # blobs of one commit_all sent to the bucket at once
_TRANSFER = TransferConfig(multipart_threshold=16 * 1024 * 1024, max_concurrency=4)


@contextlib.contextmanager
def _store_errors(action: str) -> Iterator[None]:
    try:
        yield
    except (ClientError, Boto3Error) as exc:
        # upload_file wraps the ClientError it met in an S3UploadFailedError.
        cause = exc if isinstance(exc, ClientError) else exc.__context__
        code = _code(cause) if isinstance(cause, ClientError) else "error"
        log.error("object store: could not %s: %s", action, exc)
        raise StorageError(False, f"could not {action} (object store: {code})") from exc
    except BotoCoreError as exc:
        log.error("object store: could not %s: %s", action, exc)
        raise StorageError(False, f"could not {action} (object store unreachable)") from exc


def check_bucket(url: str) -> None:
    """Raises StorageError unless the bucket of `url` answers. For the start-up checks, whose one
    line says it all: nothing is logged."""
    bucket, _ = parse_blob_url(url)
    try:
        boto3.client("s3", config=_CLIENT_CONFIG).head_bucket(Bucket=bucket)
    except ClientError as exc:
        raise StorageError(False, f"could not reach the bucket (object store: {_code(exc)})") from exc
    except BotoCoreError as exc:
        raise StorageError(False, "could not reach the bucket (object store unreachable)") from exc


class _Writer:
    """Writes to the local folder first; commit sends the finished file to the bucket."""

    def __init__(self, store: S3BlobStore, limit: int) -> None:
        self._store = store
        self._local: BlobWriter = store.local.writer(limit)

    @property
    def size(self) -> int:
        return self._local.size

    @property
    def digest(self) -> str:
        return self._local.digest

    def write(self, chunk: bytes) -> None:
        self._local.write(chunk)

    def commit(self) -> tuple[str, int]:
        digest, size = self._local.commit()
        self._store.upload(digest)
        return digest, size

    def abort(self) -> None:
        self._local.abort()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()


class S3BlobStore:
    def __init__(self, url: str, cache_dir: Path, client: Any | None = None) -> None:
        self.bucket, self.prefix = parse_blob_url(url)
        self.local = LocalBlobStore(cache_dir)
        self.client = client or boto3.client("s3", config=_CLIENT_CONFIG)

    def _key(self, digest: str) -> str:
        return self.prefix + digest

    def writer(self, limit: int) -> BlobWriter:
        return _Writer(self, limit)

    def put(self, data: bytes) -> tuple[str, int]:
        with self.writer(len(data)) as w:
            w.write(data)
            return w.commit()

    def commit_all(self, writers: Sequence[BlobWriter]) -> list[tuple[str, int]]:
        """Committed locally as one batch (`LocalBlobStore.commit_all`), then sent to the bucket
        UPLOAD_THREADS at a time."""
        mine = [w for w in writers if isinstance(w, _Writer)]
        if len(mine) != len(writers):
            raise TypeError("commit_all takes this store's writers")
        placed = self.local.commit_all([w._local for w in mine])
        with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
            list(pool.map(self.upload, [digest for digest, _ in placed]))
        return placed

    def upload(self, digest: str) -> None:
        """Send a committed local blob to the bucket, unless the bucket has it already."""
        if self._in_bucket(digest, "store an upload"):
            return
        with _store_errors("store an upload"):
            self.client.upload_file(str(self.local.local_path(digest)), self.bucket, self._key(digest),
                                    Config=_TRANSFER)

    def _in_bucket(self, digest: str, action: str = "look up a blob") -> bool:
        # A ranged GET rather than HEAD: a HEAD's error has no body, so a missing bucket and a
        # missing key are the same bare 404; a GET's says NoSuchKey or NoSuchBucket.
        with _store_errors(action):
            try:
                self.client.get_object(Bucket=self.bucket, Key=self._key(digest), Range="bytes=0-0")["Body"].close()
            except ClientError as exc:
                if _code(exc) == "NoSuchKey":
                    return False
                if _code(exc) == "InvalidRange":  # there, and empty: it has no byte 0
                    return True
                raise
        return True

    def exists(self, digest: str) -> bool:
        return self._in_bucket(digest)

    def read(self, digest: str) -> bytes:
        return self.local_path(digest).read_bytes()

    def local_path(self, digest: str) -> Path:
        """The cached file, fetched from the bucket the first time (and checked against its name:
        a copy that does not hash to it is never kept)."""
        path = self.local.local_path(digest)
        if path.is_file():
            return path
        tmp = self.local.tmp_dir / f"fetch-{secrets.token_hex(8)}"
        try:
            with _store_errors("fetch a blob"), disk_errors("keep a fetched blob"):
                self.client.download_file(self.bucket, self._key(digest), str(tmp), Config=_TRANSFER)
                if _sha256(tmp) != digest:
                    raise StorageError(False, "could not fetch a blob (its bytes do not match its name)")
                path.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def sweep(self) -> tuple[int, int]:
        return self.local.sweep()

    def check(self) -> None:
        """The local folder takes files and the bucket answers (one HEAD; nothing is logged, as
        probes come every few seconds)."""
        self.local.check()
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            raise StorageError(False, f"the bucket does not answer (object store: {_code(exc)})") from exc
        except BotoCoreError as exc:
            raise StorageError(False, "the object store is unreachable") from exc


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "error"))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
