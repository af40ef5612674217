"""Removing EXIF, XMP and GPS metadata from JPEG, PNG and WebP files, losslessly.

Nothing is decoded or re-encoded: the metadata's segments (JPEG), chunks (PNG) or RIFF chunks
(WebP) are left out and every other byte is copied, so the image shows exactly the pixels it was
uploaded with. Re-encoding with Pillow would be simpler but changes a JPEG's pixels (it is lossy)
and costs a decode of the whole image; Pillow, like piexif, offers no lossless removal for all
three formats, which is why this walks the containers itself.

Orientation is kept by keeping the one tag: when the original EXIF says the image is rotated or
mirrored, the output carries a minimal EXIF block with only the Orientation tag (made by Pillow),
so viewers still turn it the right way up.

What is kept: JFIF (APP0), ICC profiles (APP2, iCCP, ICCP), Adobe's colour transform (APP14),
PNG's colour chunks: what decoding needs to show the same colours. What goes: EXIF and XMP (APP1,
eXIf, EXIF, `XMP `), Photoshop/IPTC (APP13), comments (COM) and PNG's text and time chunks.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from assethost.core.media import exif_of, open_bounded

FORMATS = ("jpeg", "png", "webp")
_ORIENTATION = 0x0112
COPY_CHUNK = 1024 * 1024
# Real files have tens of JPEG segments and WebP chunks, and PNGs at most some thousands of IDAT
# chunks: a file with more is refused (stored as uploaded) rather than walked for seconds.
MAX_PIECES = {"jpeg": 4096, "png": 200_000, "webp": 4096}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_DROP = {b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME"}
_JPEG_DROP = {0xE1, 0xED, 0xFE}  # APP1 (EXIF, XMP), APP13 (Photoshop, IPTC), COM
# A piece of the output: bytes to write, or (offset, length) of the source to copy.
Piece = bytes | tuple[int, int]


class NotStrippable(Exception):
    """The file is not a well-formed container of its format; it is stored as uploaded."""


def orientation(path: Path) -> int:
    bounded = open_bounded(path)
    try:
        with Image.open(io.BufferedReader(bounded)) as img:
            value = exif_of(img).get(_ORIENTATION, 1)
            return value if isinstance(value, int) and 1 <= value <= 8 else 1
    except Exception:  # noqa: BLE001 - no readable orientation: the image is upright
        return 1
    finally:
        bounded.close()


def _orientation_tiff(value: int) -> bytes:
    """A TIFF header and one IFD holding only the Orientation tag (EXIF's payload, without the
    `Exif\\0\\0` prefix)."""
    exif = Image.Exif()
    exif[_ORIENTATION] = value
    return exif.tobytes()[6:]


def strip(path: Path, fmt: str, write: Callable[[bytes], None]) -> bool:
    """Write the file at `path` without its metadata through `write`; False (nothing written) when
    it has none to remove. Raises NotStrippable for a file that is not what its format says."""
    keep = orientation(path)
    with open(path, "rb") as f:
        pieces = {"jpeg": _jpeg, "png": _png, "webp": _webp}[fmt](_Counted(f, MAX_PIECES[fmt]), keep)
        if pieces is None:
            return False
        for piece in pieces:
            if isinstance(piece, bytes):
                write(piece)
                continue
            offset, length = piece
            f.seek(offset)
            while length:
                chunk = f.read(min(COPY_CHUNK, length))
                if not chunk:
                    raise NotStrippable("the file ended early")
                write(chunk)
                length -= len(chunk)
    return True


class _Counted:
    """The file, refusing to give more than `limit` headers (every container walk reads one per piece)."""

    def __init__(self, f: io.BufferedReader, limit: int) -> None:
        self._f, self._left = f, limit

    def read(self, n: int) -> bytes:
        self._left -= 1
        if self._left < 0:
            raise NotStrippable("too many segments or chunks")
        return self._f.read(n)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()


def _read(f: _Counted, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise NotStrippable("the file ended inside a header")
    return data


def _jpeg(f: _Counted, keep: int) -> list[Piece] | None:
    if _read(f, 2) != b"\xff\xd8":
        raise NotStrippable("not a JPEG")
    pieces: list[Piece] = [b"\xff\xd8"]
    dropped = False
    app0_first = False
    while True:
        start = f.tell()
        marker = _read(f, 2)
        if marker[0] != 0xFF:
            raise NotStrippable("a JPEG segment without its marker")
        while marker[1] == 0xFF:  # fill bytes before the marker (T.81 B.1.1.2), left out
            start += 1
            marker = marker[1:] + _read(f, 1)
        code = marker[1]
        if code == 0xD9:  # EOI before any scan
            pieces.append((start, 2))
            break
        if 0xD0 <= code <= 0xD7 or code == 0x01:
            pieces.append((start, 2))
            continue
        length = int.from_bytes(_read(f, 2), "big")
        if length < 2:
            raise NotStrippable("a JPEG segment with a bad length")
        if code == 0xDA:  # start of scan: the rest is image data, copied as it is
            end = f.seek(0, io.SEEK_END)
            pieces.append((start, end - start))
            break
        if code in _JPEG_DROP:
            dropped = True
        else:
            app0_first = app0_first or (code == 0xE0 and len(pieces) == 1)
            pieces.append((start, 2 + length))
        f.seek(start + 2 + length)
    if not dropped:
        return None
    if keep != 1:
        payload = b"Exif\x00\x00" + _orientation_tiff(keep)
        app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
        # after APP0 (JFIF) when there is one: it must come first
        pieces.insert(2 if app0_first else 1, app1)
    return pieces


def _png(f: _Counted, keep: int) -> list[Piece] | None:
    if _read(f, 8) != _PNG_SIGNATURE:
        raise NotStrippable("not a PNG")
    pieces: list[Piece] = [_PNG_SIGNATURE]
    dropped = False
    while True:
        start = f.tell()
        header = f.read(8)
        if len(header) == 0:
            break
        if len(header) != 8:
            raise NotStrippable("a PNG chunk header cut short")
        length, kind = int.from_bytes(header[:4], "big"), header[4:]
        if kind in _PNG_DROP:
            dropped = True
        else:
            if kind == b"IDAT" and keep != 1 and not any(isinstance(p, bytes) and p[4:8] == b"eXIf" for p in pieces):
                pieces.append(_png_chunk(b"eXIf", _orientation_tiff(keep)))  # eXIf must precede IDAT
            pieces.append((start, 12 + length))
        f.seek(start + 12 + length)
        if kind == b"IEND":
            break
    return pieces if dropped else None


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04


def _webp(f: _Counted, keep: int) -> list[Piece] | None:
    header = _read(f, 12)
    if header[:4] != b"RIFF" or header[8:12] != b"WEBP":
        raise NotStrippable("not a WebP")
    end = 8 + int.from_bytes(header[4:8], "little")
    body: list[Piece] = []
    vp8x: bytearray | None = None
    dropped = False
    while f.tell() + 8 <= end:
        start = f.tell()
        chunk = _read(f, 8)
        kind, size = chunk[:4], int.from_bytes(chunk[4:8], "little")
        padded = size + (size & 1)
        if kind == b"VP8X":
            vp8x = bytearray(_read(f, size))
            body.append(b"")  # its place; filled in once the flags are known
        elif kind in (b"EXIF", b"XMP "):
            dropped = True
        else:
            body.append((start, 8 + padded))
        f.seek(start + 8 + padded)
    if not dropped or vp8x is None:  # metadata needs the extended format (VP8X) to exist
        return None
    vp8x[0] &= ~(_VP8X_EXIF | _VP8X_XMP) & 0xFF
    if keep != 1:
        vp8x[0] |= _VP8X_EXIF
        exif = _orientation_tiff(keep)
        body.append(b"EXIF" + len(exif).to_bytes(4, "little") + exif + b"\x00" * (len(exif) & 1))
    body[body.index(b"")] = b"VP8X" + len(vp8x).to_bytes(4, "little") + bytes(vp8x)
    size = 4 + sum(len(p) if isinstance(p, bytes) else p[1] for p in body)
    return [b"RIFF" + size.to_bytes(4, "little") + b"WEBP", *body]
