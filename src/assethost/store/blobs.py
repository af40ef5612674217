"""Content-addressed blob store on a local folder.

Bytes are named by their SHA-256, so identical uploads are stored once and a blob never changes
after it is written. A write goes to `tmp/` while it is hashed and counted, is fsynced, and is
renamed into place only when complete: a crash leaves at most a stray temporary file, never a
half-written blob under a real name.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from pathlib import Path
from typing import Self


class BlobTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"blob exceeds {limit} bytes")
        self.limit = limit


class BlobWriter:
    def __init__(self, store: LocalBlobStore, limit: int) -> None:
        self._store = store
        self._limit = limit
        self._tmp = store.tmp_dir / f"upload-{secrets.token_hex(8)}"
        self._fd: int | None = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self._sha = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self._limit:
            self.abort()
            raise BlobTooLarge(self._limit)
        self._sha.update(chunk)
        view = memoryview(chunk)
        while view:
            written = os.write(self._fd, view)  # type: ignore[arg-type]
            view = view[written:]

    def commit(self) -> tuple[str, int]:
        """Make the bytes durable under their hash; returns (sha256 hex, size)."""
        assert self._fd is not None, "writer already closed"
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None
        digest = self._sha.hexdigest()
        final = self._store.path(digest)
        if final.exists():
            self._tmp.unlink(missing_ok=True)  # the same bytes are already stored
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._tmp, final)
            _fsync_dir(final.parent)
        return digest, self.size

    def abort(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()  # a no-op after commit


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:4] / digest

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def writer(self, limit: int) -> BlobWriter:
        return BlobWriter(self, limit)

    def put(self, data: bytes) -> tuple[str, int]:
        with self.writer(len(data)) as w:
            w.write(data)
            return w.commit()

    def read(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()

    def clean_tmp(self, older_than_seconds: float = 3600) -> None:
        """Remove temporary files left by uploads that a crash interrupted. Only old ones: another
        process sharing this folder may be uploading right now."""
        cutoff = time.time() - older_than_seconds
        for stray in self.tmp_dir.iterdir():
            try:
                if stray.stat().st_mtime < cutoff:
                    stray.unlink(missing_ok=True)
            except FileNotFoundError:
                pass
