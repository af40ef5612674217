"""Blobs in an S3-compatible object store (AWS S3, MinIO, Ceph RGW, R2, …), through boto3.

Each blob is the object `{prefix}{sha256}`, its compressed variants `{prefix}{sha256}.br` and
`.gz` (with their own SHA-256 in the object's metadata). A local folder, itself a
`LocalBlobStore`, holds what must be local: uploads while they are written (hashed, counted and
fsynced there, never held in memory) and a cache of the blobs and variants the edge sends and
function folders link, bounded by `--cache-size` (`store/blobs/cache.py`). An upload goes to the
bucket before it is renamed into the cache, so the cache only ever holds what the bucket has, and
a version row never names a blob the bucket lacks.

A fill of the cache streams the object into a temporary file while hashing it, and renames it
into place only when it hashes to its name (a variant: to its metadata's hash): a reader never
sees a partial or wrong file. Worker processes that fill the same blob at once each write their
own temporary file and rename the same bytes into place, which is harmless; within a process,
fills of one file take turns. The edge asks for the blobs of a new build all at once, before it
serves it (`prefetch`, PREFETCH_THREADS at a time).

boto3 rather than a lighter client: it is the reference implementation of the protocol, reads the
standard `AWS_*` settings (`AWS_ENDPOINT_URL`, credentials, region) and does multipart uploads of
large files by itself.

Errors of the object store (unreachable, refused, no such bucket) become `StorageError` with the
operation and the S3 error code only: no URL, key or credential reaches a client.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import logging
import os
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any, Self

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from assethost.config import parse_blob_url
from assethost.core.ports import BlobWriter, StorageError, Variant
from assethost.store.blobs.cache import Cache
from assethost.store.blobs.local import SUFFIXES, LocalBlobStore, disk_errors, keep, locked_temp

log = logging.getLogger("assethost.blobs")
# Bounded waits: a store that does not answer fails the request instead of holding it.
_CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"},
                        max_pool_connections=16)
_TRANSFER = TransferConfig(multipart_threshold=16 * 1024 * 1024, max_concurrency=4)
PREFETCH_THREADS = 8  # fetches at once when the edge warms the cache for new builds
UPLOAD_THREADS = 8  # variants sent at once when a build is made
FILL_STRIPES = 64  # locks that make fills of one file in one process take turns
ABSENT_FOR_S = 60.0  # a variant the bucket lacked is not asked for again for this long
READ_CHUNK = 1024 * 1024


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
    """Writes to the local folder first; commit sends the finished file to the bucket, then keeps
    it in the cache."""

    def __init__(self, store: S3BlobStore, limit: int) -> None:
        self._store = store
        self._local: BlobWriter = store.local.writer(limit, before_keep=store.upload)

    @property
    def size(self) -> int:
        return self._local.size

    def write(self, chunk: bytes) -> None:
        self._local.write(chunk)

    @property
    def spooled(self) -> Path:
        return self._local.spooled

    def digest(self) -> str:
        return self._local.digest()

    def commit(self) -> tuple[str, int]:
        digest, size = self._local.commit()
        self._store.cache.added(size)
        return digest, size

    def abort(self) -> None:
        self._local.abort()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()


class S3BlobStore:
    def __init__(self, url: str, cache_dir: Path, cache_size: int, client: Any | None = None) -> None:
        self.bucket, self.prefix = parse_blob_url(url)
        self.local = LocalBlobStore(cache_dir)
        self.cache = Cache(cache_dir, cache_size)
        self.client = client or boto3.client("s3", config=_CLIENT_CONFIG)
        self._fills = [threading.Lock() for _ in range(FILL_STRIPES)]
        self._absent: dict[str, float] = {}  # variant keys the bucket lacked, and when

    def _key(self, digest: str, encoding: str | None = None) -> str:
        return self.prefix + digest + (f".{SUFFIXES[encoding]}" if encoding else "")

    def writer(self, limit: int) -> BlobWriter:
        return _Writer(self, limit)

    def put(self, data: bytes) -> tuple[str, int]:
        with self.writer(len(data)) as w:
            w.write(data)
            return w.commit()

    def commit_all(self, writers: Sequence[BlobWriter]) -> list[tuple[str, int]]:
        """Committed as one batch of the local folder (`LocalBlobStore.commit_all`), each sent to
        the bucket on the way."""
        mine = [w for w in writers if isinstance(w, _Writer)]
        if len(mine) != len(writers):
            raise TypeError("commit_all takes this store's writers")
        placed = self.local.commit_all([w._local for w in mine])
        for _, size in placed:
            self.cache.added(size)
        return placed

    def upload(self, file: Path, digest: str) -> None:
        """Send a complete upload's file to the bucket, unless the bucket has the blob already."""
        if self._in_bucket(self._key(digest), "store an upload"):
            return
        with _store_errors("store an upload"):
            self.client.upload_file(str(file), self.bucket, self._key(digest), Config=_TRANSFER)

    def _in_bucket(self, key: str, action: str = "look up a blob") -> bool:
        # A ranged GET rather than HEAD: a HEAD's error has no body, so a missing bucket and a
        # missing key are the same bare 404; a GET's says NoSuchKey or NoSuchBucket.
        with _store_errors(action):
            try:
                self.client.get_object(Bucket=self.bucket, Key=key, Range="bytes=0-0")["Body"].close()
            except ClientError as exc:
                if _code(exc) == "NoSuchKey":
                    return False
                if _code(exc) == "InvalidRange":  # there, and empty: it has no byte 0
                    return True
                raise
        return True

    def exists(self, digest: str) -> bool:
        return self._in_bucket(self._key(digest))

    def read(self, digest: str) -> bytes:
        try:
            return self.local_path(digest).read_bytes()
        except FileNotFoundError:  # evicted between the two: fetched again
            return self.local_path(digest).read_bytes()

    def local_path(self, digest: str) -> Path:
        """The cached file, fetched from the bucket when the cache lacks it (and checked against
        its name: a copy that does not hash to it is never kept)."""
        path = self.local.local_path(digest)
        if path.is_file() or self._fill(self._key(digest), path, digest):
            return path
        raise StorageError(False, "could not fetch a blob (object store: NoSuchKey)")

    def used(self, path: str) -> None:
        self.cache.used(path)

    def has_variant(self, digest: str, encoding: str) -> bool:
        return self.local.has_variant(digest, encoding) or self._in_bucket(self._key(digest, encoding))

    def put_variants(self, variants: Sequence[Variant]) -> None:
        """Each variant to the bucket (UPLOAD_THREADS PUTs at once: a build's are many small
        objects, each a round trip), then all to the local cache in one flush."""
        if not variants:
            return
        with concurrent.futures.ThreadPoolExecutor(min(UPLOAD_THREADS, len(variants)), "assethost-variants") as pool:
            for future in [pool.submit(self._put_variant, *v) for v in variants]:
                future.result()
        self.local.put_variants(variants)
        for digest, encoding, data in variants:
            self._absent.pop(self._key(digest, encoding), None)
            self.cache.added(len(data))

    def _put_variant(self, digest: str, encoding: str, data: bytes) -> None:
        sha = hashlib.sha256(data).hexdigest()
        with _store_errors("store a compressed variant"):
            self.client.put_object(Bucket=self.bucket, Key=self._key(digest, encoding), Body=data,
                                   Metadata={"sha256": sha})

    def variant_path(self, digest: str, encoding: str) -> Path | None:
        path = self.local.variant_file(digest, encoding)
        if path.is_file():
            return path
        key = self._key(digest, encoding)
        asked = self._absent.get(key)
        if asked is not None and time.monotonic() - asked < ABSENT_FOR_S:
            return None
        if self._fill(key, path, None):
            return path
        if len(self._absent) >= 100_000:
            self._absent.clear()
        self._absent[key] = time.monotonic()
        return None

    def prefetch(self, digests: Sequence[str], with_variants: Collection[str] = ()) -> None:
        wanted = [d for d in dict.fromkeys(digests) if not self.local.local_path(d).is_file() or d in with_variants]
        if not wanted:
            return
        with concurrent.futures.ThreadPoolExecutor(min(PREFETCH_THREADS, len(wanted)), "assethost-prefetch") as pool:
            for future in [pool.submit(self._prefetch_one, d, d in with_variants) for d in wanted]:
                future.result()

    def _prefetch_one(self, digest: str, variants: bool) -> None:
        try:
            self.local_path(digest)
            if variants:
                for encoding in SUFFIXES:
                    self.variant_path(digest, encoding)
        except (StorageError, OSError) as exc:  # local_path, when the edge asks, says so again
            log.warning("could not fetch a blob ahead of serving it: %s", exc)

    def _fill(self, key: str, path: Path, digest: str | None) -> bool:
        """Fetch the object `key` into `path`: False when the bucket has no such object. The bytes
        must hash to `digest` (None: to the SHA-256 in the object's metadata, a variant's)."""
        with self._fills[hash(key) % FILL_STRIPES]:
            if path.is_file():
                return True  # another thread of this process has just fetched it
            tmp, fd = locked_temp(self.local, "fetch")
            try:
                size = self._download(key, fd, digest)
                if size is None:
                    return False
                with disk_errors("keep a fetched blob"):
                    os.fsync(fd)
                    keep(tmp, path, durable=False)
            finally:
                tmp.unlink(missing_ok=True)
                os.close(fd)
        self.cache.added(size)
        return True

    def _download(self, key: str, fd: int, digest: str | None) -> int | None:
        """Stream the object into `fd`, hashing it; its size, or None when there is no such object."""
        sha = hashlib.sha256()
        size = 0
        with _store_errors("fetch a blob"):
            try:
                obj = self.client.get_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if _code(exc) == "NoSuchKey":
                    return None
                raise
            expected = digest or obj.get("Metadata", {}).get("sha256")
            body = obj["Body"]
            try:
                for chunk in body.iter_chunks(READ_CHUNK):
                    sha.update(chunk)
                    size += len(chunk)
                    view = memoryview(chunk)
                    with disk_errors("keep a fetched blob"):
                        while view:
                            view = view[os.write(fd, view):]
            finally:
                body.close()
        if sha.hexdigest() != expected:
            log.error("object store: %s does not hash to its name; not cached", key)
            raise StorageError(False, "could not fetch a blob (its bytes do not match its name)")
        return size

    def sweep(self) -> tuple[int, int]:
        """The temporary files interrupted writes left (what is returned), and now and then the
        cache's bound (`Cache.periodic`, which logs what it evicts)."""
        swept = self.local.sweep()
        self.cache.periodic()
        return swept

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
