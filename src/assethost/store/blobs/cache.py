"""The bound on a node's local cache of an object store's blobs (`--cache-size`).

The cache is a `LocalBlobStore` folder that every worker process of the node shares; its files
are content-addressed and immutable, so any copy is right and the only question is which to keep.
Least recently used ones go first, with the files' mtime as the clock, which every process can
read and set: a fill sets it (a new file), and `used` moves it to now when the edge sends the
file, at most once per `touch_every` seconds per file and process, so the serving path pays a
dict lookup, not a syscall, per request.

Eviction is a scan of the folder: every file's size and mtime, the oldest unlinked until the total
is under LOW_WATER of the bound. A process scans when what it counts (the last scan's total, plus
what it added since) goes over the bound, and every RESCAN_S at its periodic sweep, which catches
what the other processes added. Unlinking is safe under a reader: a file open for sendfile keeps
being served, and a process that finds a file gone fetches it again (`S3BlobStore.local_path`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

log = logging.getLogger("assethost.blobs")

LOW_WATER = 0.9  # an eviction frees room down to this share of the bound, so that fills do not each scan
RESCAN_S = 30.0  # the periodic scan of every process: what the other processes added is seen within this
TOUCH_EVERY_S = 60.0  # the recency of a file moves at most this often
MAX_TOUCHED = 100_000  # files whose last touch a process remembers (then it forgets them all)


class Cache:
    def __init__(self, root: Path, limit: int, touch_every: float = TOUCH_EVERY_S) -> None:
        self.root = root
        self.limit = limit
        self.touch_every = touch_every
        self._lock = threading.Lock()  # one scan at a time in this process, and the counts below
        self._counted: int | None = None  # the last scan's total plus what this process added since
        self._scanned_at = 0.0
        self._touched: dict[str, float] = {}

    def added(self, size: int) -> None:
        """A file of `size` bytes was just put in the cache (fetched, uploaded)."""
        with self._lock:
            if self._counted is not None:
                self._counted += size
                if self._counted <= self.limit:
                    return
            self._evict()

    def used(self, path: str) -> None:
        now = time.monotonic()
        last = self._touched.get(path)
        if last is not None and now - last < self.touch_every:
            return
        if len(self._touched) >= MAX_TOUCHED:
            self._touched.clear()
        self._touched[path] = now
        try:
            os.utime(path)
        except OSError:
            pass  # evicted meanwhile: whoever fetches it again gives it a new mtime

    def periodic(self) -> tuple[int, int]:
        """The scan every process runs now and then (from `sweep`). Returns (files, bytes) evicted."""
        with self._lock:
            if time.monotonic() - self._scanned_at < RESCAN_S:
                return 0, 0
            return self._evict()

    def evict(self) -> tuple[int, int]:
        with self._lock:
            return self._evict()

    def _evict(self) -> tuple[int, int]:
        files = self._scan()
        total = sum(size for _, size, _ in files)
        removed = freed = 0
        if total > self.limit:
            target = int(self.limit * LOW_WATER)
            files.sort()
            for _, size, path in files:
                if total <= target:
                    break
                try:
                    os.unlink(path)
                    removed += 1
                    freed += size
                except FileNotFoundError:
                    pass  # another process evicted it first
                except OSError as exc:
                    log.warning("blob cache: could not evict a file: %s", exc)
                    continue
                total -= size
                self._touched.pop(path, None)
            log.info("blob cache: evicted %d file(s), %d bytes, to stay within %d bytes", removed, freed, self.limit)
        self._counted = total
        self._scanned_at = time.monotonic()
        return removed, freed

    def _scan(self) -> list[tuple[float, int, str]]:
        """(mtime, size, path) of every cached file: the blobs and variants under `ab/cd/`."""
        found: list[tuple[float, int, str]] = []
        for top in _dirs(str(self.root)):
            if len(os.path.basename(top)) != 2:
                continue  # tmp/: uploads and fills in progress are not the cache's to evict
            for sub in _dirs(top):
                try:
                    with os.scandir(sub) as entries:
                        for entry in entries:
                            try:
                                st = entry.stat(follow_symlinks=False)
                            except FileNotFoundError:
                                continue
                            found.append((st.st_mtime, st.st_size, entry.path))
                except FileNotFoundError:
                    continue
        return found


def _dirs(path: str) -> list[str]:
    try:
        with os.scandir(path) as entries:
            return [e.path for e in entries if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []
