"""Blob stores behind `core.ports.BlobStore`, and the one place that picks one."""

from __future__ import annotations

from pathlib import Path

from assethost.config import Settings
from assethost.core.ports import BlobStore
from assethost.store.blobs.local import LocalBlobStore


def open_blob_store(folder: Path, url: str | None = None, cache_size: int = Settings.cache_size) -> BlobStore:
    """The blob store of a server: the local `folder`, or, given an `s3://bucket/prefix` URL, that
    bucket with `folder` as its local cache, of at most `cache_size` bytes."""
    if url is None:
        return LocalBlobStore(folder)
    from assethost.store.blobs.s3 import S3BlobStore  # boto3 loads only when it is used

    return S3BlobStore(url, folder, cache_size)
