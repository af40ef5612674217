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
