"""gzip and brotli variants, computed once per blob in a background thread.

Until a blob's variants are ready the edge serves it uncompressed; nothing on the serving path
ever waits for a compressor.
"""

from __future__ import annotations

import gzip
import logging
import queue
import threading
from pathlib import Path

import brotli

log = logging.getLogger("assethost.edge")

# Keep a variant only if it saves at least this share of the bytes.
MIN_SAVING = 0.10
ENCODINGS = ("br", "gzip")


def _variants(data: bytes) -> dict[str, bytes]:
    # Brotli 11 squeezes a few percent more than 9 at ten times the CPU, and that CPU is spent
    # right after a deploy, beside the serving; 9 (5 for large files) is the better trade.
    quality = 9 if len(data) <= 1024 * 1024 else 5
    out = {
        "br": brotli.compress(data, quality=quality),
        "gzip": gzip.compress(data, compresslevel=9 if len(data) <= 1024 * 1024 else 6, mtime=0),
    }
    return {enc: body for enc, body in out.items() if len(body) <= len(data) * (1 - MIN_SAVING)}


class Compressor:
    def __init__(self) -> None:
        self.variants: dict[str, dict[str, bytes]] = {}
        self._queue: queue.Queue[tuple[str, str]] = queue.Queue()
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="assethost-compress", daemon=True)
        self._thread.start()

    def want(self, blob_hash: str, file: str) -> None:
        with self._lock:
            if blob_hash in self.variants or blob_hash in self._pending:
                return
            self._pending.add(blob_hash)
        self._queue.put((blob_hash, file))

    def keep_only(self, live: set[str]) -> None:
        """Forget variants of blobs no live build serves any more. Under the lock: the thread
        adds to the dict this walks (readers on the serving path only `get` from it, which needs
        no lock)."""
        with self._lock:
            for blob_hash in [h for h in self.variants if h not in live]:
                del self.variants[blob_hash]

    def figures(self) -> tuple[int, int]:
        """(blobs, bytes) of the variants held, for /metrics."""
        with self._lock:
            return len(self.variants), sum(len(b) for v in self.variants.values() for b in v.values())

    def _run(self) -> None:
        while True:
            blob_hash, file = self._queue.get()
            try:
                variants = _variants(Path(file).read_bytes())
            except Exception:  # a vanished or unreadable blob is served uncompressed
                log.exception("could not compress %s", blob_hash)
                variants = {}
            with self._lock:
                self.variants[blob_hash] = variants
                self._pending.discard(blob_hash)
