"""Blob stores behind `core.ports.BlobStore`, and the one place that picks one."""

from __future__ import annotations

from pathlib import Path

from assethost.core.ports import BlobStore
from assethost.store.blobs.local import LocalBlobStore


def open_blob_store(folder: Path, url: str | None = None) -> BlobStore:
    """The blob store of a server: the local `folder`, or, given an `s3://bucket/prefix` URL, that
    bucket with `folder` as its local cache."""
    if url is None:
        return LocalBlobStore(folder)
    from assethost.store.blobs.s3 import S3BlobStore  # boto3 loads only when it is used

    return S3BlobStore(url, folder)
