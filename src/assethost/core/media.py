"""What a media file is: read from its bytes at upload, once per content.

Audio is read with mutagen (container, sample rate, channels, duration, bitrate), images with
Pillow (format, dimensions, EXIF and its GPS tags). Both read headers only: mutagen parses the
frames' and chunks' headers, `Image.open` stops before the pixel data and no image is decoded.

An upload may be hostile, so what inspecting one may cost is bounded: the libraries read through
`Bounded`, which refuses to read past `READ_LIMIT` bytes or `TIME_LIMIT_S` seconds (a parser
looping over a crafted file reads as it loops, and so stops), Pillow keeps its decompression-bomb
limit (set here, not left to a caller), and any exception of either library makes the file `other`:
a file we cannot read is served as it is, never refused for it.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mutagen
from PIL import Image, UnidentifiedImageError

from assethost.core import clock, mediatypes
from assethost.core.model import Media
from assethost.core.ports import Duplicate, Tx

log = logging.getLogger("assethost.media")

READ_LIMIT = 4 * 1024 * 1024  # headers, tags and the last Ogg page are far smaller
TIME_LIMIT_S = 2.0
SNIFF_BYTES = 512  # as the edge sniffs (edge/snapshot.py)
# Pillow's own default (about 89 million pixels) made explicit: an image of more than twice it
# raises DecompressionBombError at open, which makes the file `other`, before anything is
# allocated for it (between the two Pillow only warns; nothing here decodes pixels anyway).
Image.MAX_IMAGE_PIXELS = 89_478_485
_GPS_IFD = 0x8825
_XMP_KEYS = ("xmp", "XML:com.adobe.xmp")
# Besides text and fonts, what neither Pillow nor mutagen reads (Pillow only writes PDF).
_NOT_MEDIA = frozenset({"application/pdf", "application/zip", "application/gzip", "application/wasm",
                        "application/x-tar", "application/x-7z-compressed", "application/vnd.rar"})

# mutagen's classes, by name, to our format and, when the container says it, the codec.
_AUDIO = {
    "MP3": ("mp3", "mp3"), "EasyMP3": ("mp3", "mp3"), "WAVE": ("wav", None), "AIFF": ("aiff", "pcm"),
    "OggVorbis": ("ogg", "vorbis"), "OggOpus": ("ogg", "opus"), "OggFLAC": ("ogg", "flac"),
    "OggSpeex": ("ogg", "speex"), "FLAC": ("flac", "flac"), "MP4": ("mp4", None), "EasyMP4": ("mp4", None),
    "AAC": ("aac", "aac"), "AC3": ("ac3", "ac3"), "ASF": ("asf", None),
}
# WAVE format tags (RFC 2361): mutagen's WaveStreamInfo does not say which one a file uses, and
# <Play> cares (μ-law at 8 kHz is the telephone's own), so the `fmt ` chunk is read here.
_WAVE_CODECS = {1: "pcm", 3: "float", 6: "alaw", 7: "ulaw", 0x11: "adpcm", 0x31: "gsm", 0x55: "mp3"}


class _Budget(Exception):
    """The file asked for more reading than an inspection may do."""


class Bounded(io.RawIOBase):
    """A read-only file that refuses to read past a byte count or a deadline."""

    def __init__(self, f: io.BufferedReader, limit: int, seconds: float) -> None:
        self._f = f
        self._left = limit
        self._deadline = time.monotonic() + seconds

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def readinto(self, buffer: Any) -> int:
        if time.monotonic() > self._deadline:
            raise _Budget("time")
        view = memoryview(buffer)
        if len(view) > self._left:
            raise _Budget("bytes")
        n = self._f.readinto(view)
        self._left -= n
        return n


@dataclass(frozen=True)
class Facts:
    kind: str
    format: str | None = None
    codec: str | None = None
    sniffed_type: str | None = None
    duration_ms: int | None = None
    sample_rate: int | None = None
    channels: int | None = None
    bitrate: int | None = None
    width: int | None = None
    height: int | None = None
    has_exif: bool = False
    has_gps: bool = False


def inspect(path: Path, declared_type: str | None, name: str) -> Facts:
    """What the file at `path` is; `declared_type` and the file's `name` tell text and video apart
    from `other` (their bytes alone say little). Only what may be media is given to Pillow and
    mutagen: text and the known kinds that are not media (by name, declared type and first bytes,
    as the edge would serve them) are told from those alone. Besides costing less (the readers
    were a fifth of a bulk deploy's server CPU for 1000 text files), a text file is then never
    taken for an image that its characters happen to spell (Pillow reads "P1" text as a bitmap)."""
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    sniffed = mediatypes.sniff(head)
    guess = mediatypes.served_type(name, declared_type, sniffed, mediatypes.looks_like_text(head))
    facts = (_image(path) or _audio(path)) if _may_be_media(guess) else None
    if facts is None:
        facts = Facts(kind="other")
        if guess.startswith("video/"):
            facts = Facts(kind="video", format=guess.split("/", 1)[1].split(";")[0])
        elif mediatypes.is_textual(guess):
            facts = Facts(kind="text", format=guess.split(";")[0])
    elif facts.kind == "audio" and _is_video(sniffed, declared_type, name):
        facts = Facts(kind="video", format=facts.format, duration_ms=facts.duration_ms)
    return dataclasses.replace(facts, sniffed_type=sniffed)


def _may_be_media(content_type: str) -> bool:
    base = content_type.split(";", 1)[0].strip().lower()
    return not (mediatypes.is_textual(base) or base.startswith("font/") or base in _NOT_MEDIA)


def _is_video(sniffed: str | None, declared: str | None, name: str) -> bool:
    return any((t or "").startswith("video/") for t in (sniffed, declared, mediatypes.by_extension(name)))


def open_bounded(path: Path) -> Bounded:
    """The file, read through the inspection's budget."""
    return Bounded(open(path, "rb"), READ_LIMIT, TIME_LIMIT_S)  # closed by the caller


def _image(path: Path) -> Facts | None:
    bounded = open_bounded(path)
    try:
        with Image.open(io.BufferedReader(bounded)) as img:
            exif = exif_of(img)
            has_gps = bool(exif.get_ifd(_GPS_IFD))
            has_xmp = any(k in img.info for k in _XMP_KEYS)
            return Facts(kind="image", format=(img.format or "").lower() or None, width=img.width,
                         height=img.height, has_exif=bool(exif) or has_xmp or "exif" in img.info,
                         has_gps=has_gps)
    except Exception as exc:  # noqa: BLE001 - not an image, or one Pillow refuses: a hostile file is `other`
        if not isinstance(exc, UnidentifiedImageError):
            log.info("image inspection stopped: %s: %s", type(exc).__name__, exc)
        return None
    finally:
        bounded.close()


def exif_of(img: Image.Image) -> Image.Exif:
    """The EXIF an opened image carries in its headers, without decoding it: `getexif()` decodes a
    whole PNG to look for an eXIf chunk after the pixels (TIFF keeps EXIF in its tags, read at open)."""
    if img.format == "TIFF":
        return img.getexif()
    exif = Image.Exif()
    raw = img.info.get("exif")
    if isinstance(raw, bytes) and raw:
        exif.load(raw)
    return exif


def _audio(path: Path) -> Facts | None:
    bounded = open_bounded(path)
    try:
        found = mutagen.File(io.BufferedReader(bounded))
        if found is None or found.info is None:
            return None
        info = found.info
        fmt, codec = _AUDIO.get(type(found).__name__, (type(found).__name__.lower(), None))
        if fmt == "wav":
            codec = _wave_codec(path)
        elif fmt == "mp4":
            codec = getattr(info, "codec", None)
        length = getattr(info, "length", None)
        return Facts(
            kind="audio", format=fmt, codec=codec,
            duration_ms=round(length * 1000) if length else None,
            sample_rate=getattr(info, "sample_rate", None) or None,
            channels=getattr(info, "channels", None) or None,
            bitrate=getattr(info, "bitrate", None) or None,
        )
    except Exception as exc:  # noqa: BLE001 - mutagen's errors, or our budget: unreadable audio is `other`
        log.info("audio inspection stopped: %s: %s", type(exc).__name__, exc)
        return None
    finally:
        bounded.close()


def _wave_codec(path: Path) -> str | None:
    """The format tag of the first `fmt ` chunk among the first few chunks of a RIFF/WAVE file."""
    with open(path, "rb") as f:
        if f.read(12)[8:12] != b"WAVE":
            return None
        for _ in range(16):
            header = f.read(8)
            if len(header) < 8:
                return None
            size = int.from_bytes(header[4:8], "little")
            if header[:4] == b"fmt ":
                tag = int.from_bytes(f.read(2), "little")
                return _WAVE_CODECS.get(tag, f"0x{tag:04x}")
            f.seek(size + (size & 1), io.SEEK_CUR)
    return None


# --- stored once per content ------------------------------------------------------------------


def known(tx: Tx, blob_hash: str) -> Media | None:
    return tx.media.get(blob_hash=blob_hash)


def remember(tx: Tx, blob_hash: str, facts: Facts) -> None:
    """Store the facts of a blob unless a concurrent upload of the same bytes stored them first."""
    try:
        tx.media.insert(blob_hash=blob_hash, date_created=clock.now(), **dataclasses.asdict(facts))
    except Duplicate:
        pass


def of_hashes(tx: Tx, hashes: list[str]) -> dict[str, Media]:
    return {m.blob_hash: m for m in tx.media.select_in("blob_hash", sorted(set(hashes)))}
