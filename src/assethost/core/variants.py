"""Compressed variants of served files: brotli and gzip, made once per blob when a build is made.

A build's packaging step (`make`, registered as the "variants" packager) compresses each
compressible asset it serves and stores the results in the blob store beside the blob, named by
the blob's hash (`BlobStore.put_variants`). A blob that already has its variants (the same bytes in
an earlier build, of any service) is not compressed again. The edge only reads what is stored:
no serving process ever compresses.

A build's blobs are compressed THREADS at a time (brotli 1.2 and zlib release the GIL while they
compress: a pure-Python thread kept running through a 3 MB brotli call on the project machine) and
their variants stored BATCH at a time by `BlobStore.put_variants`, which makes a batch durable
with one flush instead of an fsync per file: the variants of a first deploy of 1000 × 1 KiB were
52 % of its server CPU with one fsync each (bench/RESULTS.md, session 4).

The variants are made before the build turns `completed`, so a deploy goes live with them: the
edge prepares a version's entry (and reads which variants it has) once, when it loads the build,
and a build deployed before its variants existed would be served uncompressed until reloaded.
Making them afterwards would need a "variants ready" message on the change feed and a reload of
the build's entries; the batching above made them cheap enough not to (see bench/RESULTS.md).

Every variant of a compressible blob is stored, even one that saves little, so that "already
made" is a lookup; the edge sends a variant only when it saves at least MIN_SAVING of the bytes.
Builds made before variants existed have none: they are served uncompressed, and the next build
that holds the same bytes makes them.
"""

from __future__ import annotations

import concurrent.futures
import gzip
import logging
import os
from collections.abc import Iterator

import brotli

from assethost.core import mediatypes
from assethost.core.context import Context
from assethost.core.model import Build, BuildEntry
from assethost.core.ports import BlobStore, StorageError, Variant

log = logging.getLogger("assethost.builds")

# The Content-Encoding tokens, in the server's order of preference.
ENCODINGS = ("br", "gzip")
# Below this a variant saves less than a packet (CloudFront's minimum is 1,000 bytes, Akamai's 860).
MIN_SIZE = 1024
# Send a variant only if it saves at least this share of the bytes.
MIN_SAVING = 0.10
SNIFF_BYTES = 512  # what mediatypes.resolve looks at
# Compressing threads per build: the machine's cores, at most 4 (the edge shares them).
THREADS = max(1, min(4, os.cpu_count() or 1))
# Files compressed before their variants are stored (each stored variant holds a file open until
# the batch is flushed, and the batch's bytes are held in memory): at most BATCH files (two
# variants each) and BATCH_BYTES of them.
BATCH = 128
BATCH_BYTES = 32 * 1024 * 1024
LARGE = 1024 * 1024  # past this, the faster settings below


def compressible(content_type: str, size: int, limit: int) -> bool:
    """Whether a file of this type and size has variants (`limit`: --compress-limit)."""
    return MIN_SIZE <= size <= limit and mediatypes.compressible(content_type)


def may_have(path: str, declared: str | None, size: int, limit: int) -> bool:
    """Whether a file may have variants, judged before its bytes are read (by its name and declared
    type; a file that says neither may be text): what the edge fetches along with a new build."""
    if not MIN_SIZE <= size <= limit:
        return False
    known = mediatypes.resolve(path, declared, b"")
    return mediatypes.compressible(known) or known == "application/octet-stream"


def worth_sending(variant_size: int, size: int) -> bool:
    return variant_size <= size * (1 - MIN_SAVING)


def encode(data: bytes, encoding: str) -> bytes:
    """`data` compressed with `encoding`; the same bytes for the same input (gzip's mtime=0).

    Measured on the project machine (this repository's Python and Markdown, 1 KiB and 100 KiB
    slices; compressed size as a share of the original, CPU per file):

    | input | brotli 5 | brotli 7 | brotli 9 | gzip 6 | gzip 9 |
    |---|---|---|---|---|---|
    | 1 KiB | 0.434, 46 µs | 0.434, 49 µs* | 0.434, 1029 µs (51 µs*) | 0.475, 24 µs | 0.475, 25 µs |
    | 100 KiB | 0.270, 2.0 ms* | 0.265, 3.5 ms* | 0.264, 19.4 ms | 0.280, 2.8 ms | 0.278, 6.7 ms |

    (* with the window fitted to the input.) Brotli's default window (4 MiB) made quality 9 cost
    20 times more on 1 KiB than on a window fitted to the file, for the same bytes: the window is
    fitted. Quality 9 saves 0.1 % of a 100 KiB file more than 7 at 5.5 times the CPU: 7 it is, 5
    past LARGE. gzip 9 saves 0.2 % more than 6 at 2.4 times the CPU on 100 KiB: 6."""
    large = len(data) > LARGE
    if encoding == "br":
        return bytes(brotli.compress(data, quality=5 if large else 7, lgwin=_window(len(data))))
    return gzip.compress(data, compresslevel=6, mtime=0)


def _window(size: int) -> int:
    """The smallest brotli window (log2 of its bytes, 10 to 24) that holds `size` bytes."""
    return max(10, min(24, (size - 1).bit_length()))


class Variants:
    """The build step (a `core.context.Packager`): variants of each compressible public or
    protected asset of the build, for those of its blobs that have none yet. It never fails the
    build: a variant that cannot be made or stored is logged, and the file is served uncompressed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit  # --compress-limit

    def __call__(self, ctx: Context, build: Build, rows: list[BuildEntry]) -> str | None:
        todo: dict[str, BuildEntry] = {}
        for row in rows:
            if (row.kind == "asset" and row.visibility != "private" and row.blob_hash not in todo
                    and may_have(row.path, row.content_type, row.size, self.limit)):
                todo[row.blob_hash] = row
        if not todo:
            return None
        made = 0
        with concurrent.futures.ThreadPoolExecutor(min(THREADS, len(todo)), "assethost-compress") as pool:
            for batch in _batches(list(todo.values())):
                # One task per thread and batch, not per file: a future costs more than a 1 KiB file's brotli.
                slices = [batch[i::THREADS] for i in range(THREADS)]
                done = pool.map(lambda part: [v for row in part for v in self._blob(ctx.blobs, build, row)], slices)
                variants = [v for found in done for v in found]
                try:
                    ctx.blobs.put_variants(variants)
                except StorageError as exc:
                    log.warning("build %s: %d compressed variant(s) not stored: %s", build.sid, len(variants), exc)
                    continue
                made += len(variants)
        if made:
            log.info("build %s: %d compressed variant(s) made", build.sid, made)
        return None

    def _blob(self, blobs: BlobStore, build: Build, row: BuildEntry) -> list[Variant]:
        """The variants the row's blob lacks (none when it has them all, or is not compressible)."""
        try:
            missing = [enc for enc in ENCODINGS if not blobs.has_variant(row.blob_hash, enc)]
            if not missing:
                return []
            with open(blobs.local_path(row.blob_hash), "rb") as f:
                # The type from the first bytes, before the rest is read: a file that may have
                # variants by its name (no extension, octet-stream) is often binary.
                head = f.read(SNIFF_BYTES)
                if not compressible(mediatypes.resolve(row.path, row.content_type, head), row.size, self.limit):
                    return []
                data = head + f.read()
        except (OSError, StorageError) as exc:
            log.warning("build %s: no compressed variants of %s: %s", build.sid, row.path, exc)
            return []
        return [(row.blob_hash, enc, encode(data, enc)) for enc in missing]


def _batches(rows: list[BuildEntry]) -> Iterator[list[BuildEntry]]:
    """The rows in order, BATCH at most at a time and BATCH_BYTES at most (a larger file alone)."""
    batch: list[BuildEntry] = []
    size = 0
    for row in rows:
        if batch and (len(batch) >= BATCH or size + row.size > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(row)
        size += row.size
    if batch:
        yield batch
