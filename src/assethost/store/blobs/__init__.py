"""Blob stores behind `core.ports.BlobStore`, and the one place that picks one."""

from __future__ import annotations

from pathlib import Path

from assethost.core.ports import BlobStore
from assethost.store.blobs.local import LocalBlobStore


def open_blob_store(folder: Path) -> BlobStore:
    """The blob store of a server whose blobs live in `folder`."""
    return LocalBlobStore(folder)
