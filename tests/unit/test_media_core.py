"""core/media.py, core/strip.py and core/aliases.py in process, on SQLite and a blob folder: content
is inspected once however often it is uploaded, a file without metadata or a broken one is stored
as uploaded, and alias paths keep the extension last."""

from __future__ import annotations

import io

import pytest
from mediakit import image, jpeg_with_gps, picture, pixels, read_image

from assethost.app import open_context
from assethost.config import Settings
from assethost.core import accounts, aliases, ingest, mediafiles, resources, services, strip
from assethost.core.model import Version


@pytest.fixture
def ctx(tmp_path):
    ctx = open_context(Settings(data_dir=tmp_path))
    yield ctx
    ctx.meta.dispose()


@pytest.fixture
def destination(ctx):
    account = accounts.create_account(ctx.meta).account_sid
    services.create(ctx, account, "media", "Media", None, None)
    asset = resources.create(ctx, account, "media", "asset", "photo")
    return ingest.NewVersion(account, "media", "asset", asset.sid).locate(ctx)


def _received(ctx, data: bytes, **fields: str) -> ingest.Received:
    writer = ctx.blobs.writer(len(data) + 1)
    writer.write(data)
    return ingest.Received(fields={"Path": "/photo.jpg", "Visibility": "public", **fields}, content=writer,
                           filename="photo.jpg", content_type="image/jpeg")


def test_the_same_bytes_are_inspected_once(ctx, destination):
    data = jpeg_with_gps()
    first = _received(ctx, data)
    facts = mediafiles.prepare(ctx, first, "/photo.jpg", destination.media_service())
    assert facts is not None and (facts.kind, facts.has_gps) == ("image", True)
    first.content.abort()
    ingest.store(ctx, destination, _received(ctx, data))
    again = _received(ctx, data)
    assert mediafiles.prepare(ctx, again, "/photo.jpg", destination.media_service()) is None
    again.content.abort()


def test_a_jpeg_without_metadata_and_a_broken_one_are_stored_as_uploaded(ctx, destination):
    out = io.BytesIO()
    picture().save(out, "JPEG")
    plain = out.getvalue()
    version: Version = ingest.store(ctx, destination, _received(ctx, plain, StripMetadata="true"))
    assert ctx.blobs.read(version.blob_hash) == plain
    broken = jpeg_with_gps()[:300]  # cut inside its EXIF segment
    version = ingest.store(ctx, destination, _received(ctx, broken, StripMetadata="true"))
    assert ctx.blobs.read(version.blob_hash) == broken


def test_strip_writes_nothing_for_a_png_without_metadata(tmp_path):
    path = tmp_path / "plain.png"
    path.write_bytes(image("PNG", exif=False))
    written: list[bytes] = []
    assert strip.strip(path, "png", written.append) is False and written == []
    path.write_bytes(image("PNG"))
    assert strip.strip(path, "png", written.append) is True
    assert pixels(b"".join(written)) == pixels(path.read_bytes())


@pytest.mark.parametrize(("path", "alias"), [
    ("/greeting.mp3", "/greeting~0123456789ab.mp3"),
    ("/a/b/hold.music.wav", "/a/b/hold.music~0123456789ab.wav"),
    ("/README", "/README~0123456789ab"),
    ("/.well-known", "/.well-known~0123456789ab"),
])
def test_alias_paths_name_the_content_and_keep_the_extension(path, alias):
    assert aliases.alias_path(path, "0123456789abcdef" * 4) == alias


def test_a_jpeg_of_countless_tiny_segments_is_not_walked(tmp_path):
    path = tmp_path / "many.jpg"
    path.write_bytes(b"\xff\xd8" + b"\xff\xfe\x00\x02" * 100_000 + b"\xff\xd9")  # 100,000 empty comments
    with pytest.raises(strip.NotStrippable, match="too many"):
        strip.strip(path, "jpeg", lambda chunk: None)


def test_a_jpeg_with_fill_bytes_before_its_markers_is_stripped(ctx, destination):
    # T.81 B.1.1.2: any marker may be preceded by 0xFF fill bytes; Pillow reads such a file's GPS.
    data = jpeg_with_gps()
    filled = data[:2] + b"\xff\xff" + data[2:].replace(b"\xff\xe1", b"\xff\xff\xe1", 1)
    with_gps = mediafiles.prepare(ctx, held := _received(ctx, filled), "/photo.jpg", None)
    held.content.abort()
    assert with_gps is not None and with_gps.has_gps
    version: Version = ingest.store(ctx, destination, _received(ctx, filled, StripMetadata="true"))
    stored = ctx.blobs.read(version.blob_hash)
    assert stored != filled and b"Exif\x00\x00" not in stored and b"PhoneMaker" not in stored
    assert pixels(stored) == pixels(data)
    assert not read_image(stored).getexif().get_ifd(0x8825)
