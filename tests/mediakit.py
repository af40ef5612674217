"""Real media made at test time (no binary fixtures in the repository): speech by espeak-ng,
converted by sox to MP3, 8 kHz μ-law WAV and Ogg Vorbis (scripts/test installs both when it
can); JPEGs with EXIF and GPS tags, PNGs and WebPs written by Pillow."""

from __future__ import annotations

import io
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
from PIL import Image

TOOL_TIMEOUT_S = 60
GPS_IFD = 0x8825
ORIENTATION = 0x0112


def need_audio_tools() -> None:
    missing = [t for t in ("espeak-ng", "sox") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"media tests need {' and '.join(missing)} (Debian packages espeak-ng, sox and "
                    "libsox-fmt-all; scripts/test installs them when run as root)")


@cache
def _speech(folder: str) -> Path:
    out = Path(folder) / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(out), "Thank you for calling. Please hold."], check=True,
                   timeout=TOOL_TIMEOUT_S, capture_output=True)
    return out


def audio(tmp: Path, kind: str) -> bytes:
    """`mp3`, `ulaw` (8 kHz μ-law WAV), `pcm` (espeak's own 22 kHz PCM WAV) or `ogg` (Vorbis)."""
    need_audio_tools()
    source = _speech(str(tmp))
    if kind == "pcm":
        return source.read_bytes()
    target = tmp / {"mp3": "speech.mp3", "ulaw": "speech-ulaw.wav", "ogg": "speech.ogg"}[kind]
    args = {"mp3": [], "ulaw": ["-r", "8000", "-e", "u-law", "-b", "8"], "ogg": []}[kind]
    if not target.exists():
        result = subprocess.run(["sox", str(source), *args, str(target)], timeout=TOOL_TIMEOUT_S,
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            pytest.skip(f"sox cannot write {kind} here (libsox-fmt-all missing?): {result.stderr.strip()}")
    return target.read_bytes()


def picture(width: int = 64, height: int = 48) -> Image.Image:
    """A picture with detail in it, so that a changed pixel would show."""
    img = Image.new("RGB", (width, height))
    img.putdata([((x * 7) % 256, (y * 11) % 256, ((x + y) * 5) % 256) for y in range(height) for x in range(width)])
    return img


def gps_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[ORIENTATION] = orientation
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)})
    return exif


def jpeg_with_gps(orientation: int = 1, width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    picture(width, height).save(out, "JPEG", quality=90, exif=gps_exif(orientation),
                                xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/"></x:xmpmeta>')
    return out.getvalue()


def image(fmt: str, exif: bool = True, **save: object) -> bytes:
    out = io.BytesIO()
    if exif:
        save["exif"] = gps_exif()
    picture().save(out, fmt, **save)
    return out.getvalue()


def read_image(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def pixels(data: bytes) -> bytes:
    return read_image(data).convert("RGB").tobytes()
