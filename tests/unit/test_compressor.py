"""The Compressor's background thread against the edge's reloads, in process."""

from __future__ import annotations

import hashlib
import time

from assethost.edge.compress import Compressor

FILES = 2000


def _busy(compressor: Compressor) -> bool:
    with compressor._lock:
        return bool(compressor._pending)


def test_forgetting_variants_while_the_thread_adds_them_neither_fails_nor_loses_live_ones(tmp_path):
    """keep_only (an edge reload) runs while the compressor thread adds variants: it used to walk
    the very dict being added to, and failed with "dictionary changed size during iteration" (on
    1,904 of 2,000 tries). Every variant of a live blob is kept; those of dead ones go."""
    compressor = Compressor()
    live: set[str] = set()
    for i in range(FILES):
        data = f"file {i} ".encode() * 64
        digest = hashlib.sha256(data).hexdigest()
        path = tmp_path / digest
        path.write_bytes(data)
        compressor.want(digest, str(path))
        if i % 2 == 0:
            live.add(digest)
    deadline = time.monotonic() + 60
    reloads = 0
    while _busy(compressor):
        compressor.keep_only(live)
        reloads += 1
        assert time.monotonic() < deadline, "the compressor did not finish"
    compressor.keep_only(live)  # the last reload, after the thread added the last variant
    assert reloads > 1
    assert set(compressor.variants) == live
    assert all(set(v) == {"br", "gzip"} for v in compressor.variants.values())
