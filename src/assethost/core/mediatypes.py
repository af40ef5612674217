"""Content types: from the extension, checked against the bytes, with a charset for text."""

from __future__ import annotations

import mimetypes
import posixpath

import filetype

# What Twilio's media fetchers and browsers expect, where Python's table is missing or differs.
_BY_EXTENSION = {
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/opus",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".amr": "audio/amr",
    ".flac": "audio/flac",
    ".gsm": "audio/x-gsm",
    ".ulaw": "audio/basic",
    ".json": "application/json",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".htm": "text/html",
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".md": "text/markdown",
    ".xml": "text/xml",  # TwiML documents are conventionally text/xml
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".wasm": "application/wasm",
    ".webmanifest": "application/manifest+json",
    ".vcf": "text/vcard",
    ".3gp": "video/3gpp",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".pdf": "application/pdf",
}

_TEXTUAL = ("application/json", "application/javascript", "application/xml", "image/svg+xml",
            "application/manifest+json", "text/vcard")
# Media that sniffing can tell apart reliably; for these the bytes win over a wrong extension.
_SNIFFABLE = ("image/", "audio/", "video/", "application/pdf", "application/zip")


def by_extension(path: str) -> str | None:
    ext = posixpath.splitext(path)[1].lower()
    if not ext:
        return None
    return _BY_EXTENSION.get(ext) or mimetypes.types_map.get(ext)


def sniff(head: bytes) -> str | None:
    if not head:
        return None
    return filetype.guess_mime(head)


def _major(mime: str) -> str:
    return mime.split("/", 1)[0]


def is_textual(mime: str) -> bool:
    base = mime.split(";", 1)[0].strip().lower()
    return base.startswith("text/") or base in _TEXTUAL or base.endswith(("+json", "+xml"))


def resolve(path: str, declared: str | None, head: bytes) -> str:
    """The Content-Type to serve. The extension decides, unless the bytes clearly are another kind
    of media (a PNG named .jpg is sent as image/png, so MMS and <Play> get what the file is)."""
    return served_type(path, declared, sniff(head), looks_like_text(head))


def served_type(path: str, declared: str | None, sniffed: str | None, textual: bool) -> str:
    """`resolve` from what the first bytes showed (`sniffed`, and whether they look like text),
    for what knows those facts without the bytes (the media checks of core/checks.py)."""
    ext_type = by_extension(path)
    declared_base = (declared or "").split(";", 1)[0].strip().lower()
    if declared_base == "application/octet-stream":
        declared_base = ""
    chosen = ext_type or declared_base or sniffed or ""
    if sniffed and chosen and sniffed != chosen and sniffed.startswith(_SNIFFABLE) and (
        _major(sniffed) != _major(chosen) or _major(chosen) == "image"
    ):
        chosen = sniffed
    if not chosen:
        chosen = "text/plain" if textual else "application/octet-stream"
    if is_textual(chosen) and "charset=" not in chosen:
        chosen += "; charset=utf-8"
    return chosen


def looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > len(head) - 4  # a multi-byte character cut at the end of the sample
    return True


def compressible(mime: str) -> bool:
    """Worth gzip/brotli. Never audio or images (SVG included): media is compressed already,
    and recompressing it only costs CPU."""
    base = mime.split(";", 1)[0].strip().lower()
    if base.startswith(("image/", "audio/", "video/", "font/woff")):
        return False
    return is_textual(base) or base in ("application/wasm", "font/ttf", "font/otf")
