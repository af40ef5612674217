"""Blob stores behind `core.ports.BlobStore`, and the one place that picks one."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from assethost.core.ports import BlobStore
from assethost.store.blobs.local import LocalBlobStore


def parse_url(url: str) -> tuple[str, str]:
    """`s3://bucket/prefix` → (bucket, prefix ending in "/", or empty)."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"a blob URL looks like s3://bucket/prefix (got {url!r})")
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


def open_blob_store(folder: Path, url: str | None = None) -> BlobStore:
    """The blob store of a server: the local `folder`, or, given an `s3://bucket/prefix` URL, that
    bucket with `folder` as its local cache."""
    if url is None:
        return LocalBlobStore(folder)
    from assethost.store.blobs.s3 import S3BlobStore  # boto3 loads only when it is used

    return S3BlobStore(url, folder)
