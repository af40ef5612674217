"""Compressed variants of served files: brotli and gzip, made once per blob when a build is made.

A build's packaging step (`make`, registered as the "variants" packager) compresses each
compressible asset it serves and stores the results in the blob store beside the blob, named by
the blob's hash (`BlobStore.put_variant`). A blob that already has its variants (the same bytes in
an earlier build, of any service) is not compressed again. The edge only reads what is stored:
no serving process ever compresses.

Every variant of a compressible blob is stored, even one that saves little, so that "already
made" is a lookup; the edge sends a variant only when it saves at least MIN_SAVING of the bytes.
Builds made before variants existed have none: they are served uncompressed, and the next build
that holds the same bytes makes them.
"""

from __future__ import annotations

import gzip
import logging

import brotli

from assethost.core import mediatypes
from assethost.core.context import Context
from assethost.core.model import Build, BuildEntry
from assethost.core.ports import BlobStore, StorageError

log = logging.getLogger("assethost.builds")

# The Content-Encoding tokens, in the server's order of preference.
ENCODINGS = ("br", "gzip")
# Below this a variant saves less than a packet (CloudFront's minimum is 1,000 bytes, Akamai's 860).
MIN_SIZE = 1024
# Send a variant only if it saves at least this share of the bytes.
MIN_SAVING = 0.10
SNIFF_BYTES = 512  # what mediatypes.resolve looks at


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
    # Brotli 11 squeezes a few percent more than 9 at ten times the CPU; 9 (5 for large files)
    # is the better trade even once per blob. gzip's mtime=0 makes the bytes depend on the input only.
    large = len(data) > 1024 * 1024
    if encoding == "br":
        return bytes(brotli.compress(data, quality=5 if large else 9))
    return gzip.compress(data, compresslevel=6 if large else 9, mtime=0)


class Variants:
    """The build step (a `core.context.Packager`): variants of each compressible public or
    protected asset of the build, for those of its blobs that have none yet. It never fails the
    build: a variant that cannot be stored is logged, and the file is served uncompressed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit  # --compress-limit

    def __call__(self, ctx: Context, build: Build, rows: list[BuildEntry]) -> str | None:
        done: set[str] = set()
        made = 0
        for row in rows:
            if row.kind != "asset" or row.visibility == "private" or row.blob_hash in done:
                continue
            done.add(row.blob_hash)
            try:
                made += self._blob(ctx.blobs, row)
            except (OSError, StorageError) as exc:
                log.warning("build %s: no compressed variants of %s: %s", build.sid, row.path, exc)
        if made:
            log.info("build %s: %d compressed variant(s) made", build.sid, made)
        return None

    def _blob(self, blobs: BlobStore, row: BuildEntry) -> int:
        """How many variants of the row's blob were made (none when it has them all)."""
        if not may_have(row.path, row.content_type, row.size, self.limit):
            return 0
        missing = [enc for enc in ENCODINGS if not blobs.has_variant(row.blob_hash, enc)]
        if not missing:
            return 0
        data = blobs.read(row.blob_hash)
        content_type = mediatypes.resolve(row.path, row.content_type, data[:SNIFF_BYTES])
        if not compressible(content_type, len(data), self.limit):
            return 0
        for enc in missing:
            blobs.put_variant(row.blob_hash, enc, encode(data, enc))
        return len(missing)
