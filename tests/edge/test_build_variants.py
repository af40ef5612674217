"""Compressed variants are made once per blob when a build is made, and stored beside the blob in
the blob store (the local folder, or the bucket on the PostgreSQL run): the edge only sends them.
The same bytes in a later build, of any service, are not compressed again."""

from __future__ import annotations

import gzip
import hashlib
import secrets
import time
from pathlib import Path

import brotli
import objectstore
from botocore.exceptions import ClientError
from edgekit import FileSpec, png_bytes, text_blob

from assethost.config import parse_blob_url
from assethost.core import variants


def _stored(server, digest: str, suffix: str) -> tuple[bytes, object] | None:
    """(bytes, when written) of the store's object `{digest}.{suffix}`, or None when there is none."""
    if server.blob_args:
        bucket, prefix = parse_blob_url(server.blob_args[1])
        try:
            found = objectstore.shared().client().get_object(Bucket=bucket, Key=f"{prefix}{digest}.{suffix}")
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "NoSuchKey":
                return None
            raise
        return found["Body"].read(), found["LastModified"]
    path = Path(server.data_dir) / "blobs" / digest[:2] / digest[2:4] / f"{digest}.{suffix}"
    return (path.read_bytes(), path.stat().st_mtime_ns) if path.exists() else None


def test_variants_are_made_at_build_time_once_per_blob(deployer, server):
    text = text_blob(f"variants {secrets.token_hex(8)}", 6000)
    tiny, picture = b"tiny text\n", png_bytes() + b"\x00" * 3000
    site = deployer.site([FileSpec("/doc.txt", text), FileSpec("/tiny.txt", tiny), FileSpec("/pic.png", picture)])
    digest = hashlib.sha256(text).hexdigest()
    br, gz = _stored(server, digest, "br"), _stored(server, digest, "gz")
    assert br is not None and gz is not None, "the build made no variants"
    assert brotli.decompress(br[0]) == text
    assert gzip.decompress(gz[0]) == text
    for other in (tiny, picture):  # under 1 KiB, and media: nothing to gain
        assert _stored(server, hashlib.sha256(other).hexdigest(), "br") is None

    # The very first request after the deploy is answered compressed: nothing is made on the way.
    first = site.raw_get("/doc.txt", "br")
    assert (first.headers["content-encoding"], first.raw_body) == ("br", br[0])
    assert first.headers["vary"] == "Accept-Encoding"
    assert first.headers["etag"] == f'W/"{digest[:32]}"'
    plain = site.raw_get("/doc.txt", "gzip")
    assert (plain.headers["content-encoding"], plain.raw_body) == ("gzip", gz[0])

    time.sleep(1.1 if server.blob_args else 0.05)  # the bucket's LastModified counts whole seconds
    again = deployer.site([FileSpec("/copy.txt", text)], prefix="again")
    assert _stored(server, digest, "br") == br and _stored(server, digest, "gz") == gz, "compressed again"
    copy = again.raw_get("/copy.txt", "gzip, br")
    assert (copy.headers["content-encoding"], copy.raw_body) == ("br", br[0])
    assert brotli.decompress(copy.raw_body) == text


def _variant_names(server, digests: set[str]) -> list[str]:
    """The stored variants (`{digest}.{suffix}`) of these blobs: the bucket's keys or the folder's files."""
    if server.blob_args:
        bucket, prefix = parse_blob_url(server.blob_args[1])
        pages = objectstore.shared().client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        names = [obj["Key"][len(prefix):] for page in pages for obj in page.get("Contents", [])]
    else:
        names = [p.name for p in (Path(server.data_dir) / "blobs").glob("*/*/*.*")]
    return sorted(n for n in names if "." in n and n.split(".")[0] in digests)


def test_a_build_of_many_files_stores_two_whole_variants_of_each_made_as_one_thread_would(deployer, server):
    # 150 files: more than one batch of core/variants.py, compressed on its threads and stored a batch at once.
    label = secrets.token_hex(8)
    texts = [text_blob(f"{label} file {i}", 1024 + 37 * i) for i in range(150)]
    deployer.site([FileSpec(f"/t/{i}.txt", t) for i, t in enumerate(texts)], prefix="many")
    by_digest = {hashlib.sha256(t).hexdigest(): t for t in texts}
    names = _variant_names(server, set(by_digest))
    assert names == sorted(f"{d}.{s}" for d in by_digest for s in ("br", "gz"))
    for digest, text in by_digest.items():
        br, gz = _stored(server, digest, "br"), _stored(server, digest, "gz")
        assert br is not None and gz is not None
        assert brotli.decompress(br[0]) == text and gzip.decompress(gz[0]) == text
        assert (br[0], gz[0]) == (variants.encode(text, "br"), variants.encode(text, "gzip"))
    if not server.blob_args:
        assert [p.name for p in (Path(server.data_dir) / "blobs" / "tmp").glob("variant-*")] == []
