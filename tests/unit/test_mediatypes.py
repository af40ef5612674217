"""assethost.core.mediatypes.resolve: extension first, bytes for mislabelled media, charset for text."""

from __future__ import annotations

import struct
import zlib

import pytest

from assethost.core import mediatypes


def _png() -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\x00\x00\x00")) + chunk(b"IEND", b""))


PNG = _png()
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + b"\x00" * 32
MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x0a" + b"\x00" * 64
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00" + b"\x00" * 32
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + b"\x00" * 32


@pytest.mark.parametrize(("path", "declared", "head", "expected"), [
    ("/a.txt", None, b"hello", "text/plain; charset=utf-8"),
    ("/a.html", None, b"<html>", "text/html; charset=utf-8"),
    ("/a.htm", None, b"<html>", "text/html; charset=utf-8"),
    ("/a.css", None, b"a{}", "text/css; charset=utf-8"),
    ("/a.js", None, b"x=1", "text/javascript; charset=utf-8"),
    ("/a.json", None, b"{}", "application/json; charset=utf-8"),
    ("/a.xml", None, b"<Response/>", "text/xml; charset=utf-8"),
    ("/a.csv", None, b"a,b", "text/csv; charset=utf-8"),
    ("/a.svg", None, b"<svg/>", "image/svg+xml; charset=utf-8"),
    ("/a.png", None, PNG, "image/png"),
    ("/a.jpg", None, JPEG, "image/jpeg"),
    ("/a.jpeg", None, JPEG, "image/jpeg"),
    ("/a.gif", None, GIF, "image/gif"),
    ("/a.mp3", None, MP3, "audio/mpeg"),
    ("/a.wav", None, WAV, "audio/wav"),
    ("/a.pdf", None, PDF, "application/pdf"),
    ("/A.PNG", None, PNG, "image/png"),
    ("/dir.v2/a.TXT", None, b"x", "text/plain; charset=utf-8"),
    # the bytes win for mislabelled media
    ("/photo.jpg", "image/jpeg", PNG, "image/png"),
    ("/photo.png", None, JPEG, "image/jpeg"),
    ("/a.gif", None, PNG, "image/png"),
])
def test_resolve(path, declared, head, expected):
    assert mediatypes.resolve(path, declared, head) == expected


def test_png_in_txt_extension_is_served_as_png():
    # "the bytes clearly are another kind of media": a PNG named .txt is still a PNG
    assert mediatypes.resolve("/x.txt", None, PNG) == "image/png"


def test_no_extension_uses_declared_type():
    assert mediatypes.resolve("/readme", "text/markdown", b"# hi") == "text/markdown; charset=utf-8"
    assert mediatypes.resolve("/data", "application/json", b"{}") == "application/json; charset=utf-8"


def test_no_extension_octet_stream_sniffs():
    assert mediatypes.resolve("/img", "application/octet-stream", PNG) == "image/png"
    assert mediatypes.resolve("/notes", "application/octet-stream", b"plain words") == "text/plain; charset=utf-8"
    assert mediatypes.resolve("/bin", "application/octet-stream", b"\x00\x01\x02\xff") == "application/octet-stream"
    assert mediatypes.resolve("/bin", None, b"") == "application/octet-stream"


def test_declared_charset_is_kept():
    assert mediatypes.resolve("/x", "text/plain; charset=iso-8859-1", b"abc").lower().count("charset") == 1


def test_text_declared_type_is_not_overridden_by_extensionless_bytes():
    assert mediatypes.resolve("/x.txt", "image/png", b"just text") == "text/plain; charset=utf-8"


@pytest.mark.parametrize(("mime", "expected"), [
    ("text/plain; charset=utf-8", True), ("application/json", True), ("text/javascript", True),
    ("text/css", True), ("text/html; charset=utf-8", True), ("application/wasm", True),
    ("image/png", False), ("image/jpeg", False), ("image/svg+xml; charset=utf-8", False),
    ("audio/mpeg", False), ("video/mp4", False), ("font/woff2", False), ("application/octet-stream", False),
    ("application/pdf", False),
])
def test_compressible(mime, expected):
    assert mediatypes.compressible(mime) is expected
