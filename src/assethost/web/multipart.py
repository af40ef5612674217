"""Streaming receipt of the multipart version upload (`Path`, `Visibility`, `Content`), for the
API, the console's Assets pane and its Assets (Legacy) page alike; what is received goes on to
`core/ingest.py`.

Starlette's `request.form()` would spool the whole file before we could look at its size, so
we drive python-multipart's parser ourselves: the `Content` part goes straight into a blob
writer that hashes and counts as it writes, and the upload stops at the size ceiling without
ever holding the file in memory.

An upload counts only when its body ends with the closing boundary: a body cut short anywhere
(the parser would otherwise take whatever arrived as the whole file), a client that stops
sending (the HTTP front answers it 408 after --body-timeout and tells the application that the
client is gone, see edge/apiproto.py), a full or read-only disk, each leave nothing behind.
"""

from __future__ import annotations

import re
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

from assethost.core.errors import AssetHostError, Invalid, TooLarge, storage_refusal
from assethost.core.ingest import Received
from assethost.core.ports import BlobStore, BlobTooLarge, BlobWriter, StorageError

MAX_TEXT_FIELD = 64 * 1024
MAX_PARTS = 16
# After a file passes the limit we keep reading (and discarding) a bounded amount, so that the
# client, still busy sending, reads our 413 instead of a reset connection.
DRAIN_LIMIT = 128 * 1024 * 1024
# RFC 2046 §5.1.1: 1 to 70 of these characters, the last one not a space.
_BOUNDARY = re.compile(rb"^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$")


@dataclass
class _Upload:
    fields: dict[str, str] = field(default_factory=dict)
    content: BlobWriter | None = None
    filename: str | None = None
    content_type: str | None = None

    def abort(self) -> None:
        if self.content is not None:
            self.content.abort()


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    name: str = ""
    text: bytearray | None = None


class _Receiver:
    def __init__(self, blobs: BlobStore, ceiling: int) -> None:
        self.blobs = blobs
        self.ceiling = ceiling
        self.upload = _Upload()
        self.part = _Part()
        self.parts = 0
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.too_large = False
        self.complete = False  # the closing boundary was read
        self.error: AssetHostError | None = None

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": lambda d, s, e: self.header_field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self.header_value.extend(d[s:e]),
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self.part = _Part()
        self.parts += 1
        if self.parts > MAX_PARTS and self.error is None:
            self.error = Invalid(f"An upload may have at most {MAX_PARTS} parts")

    def on_header_end(self) -> None:
        self.part.headers[self.header_field.decode("latin-1").lower()] = self.header_value.decode("latin-1")
        self.header_field.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.part.headers.get("content-disposition", ""))
        self.part.name = options.get(b"name", b"").decode("utf-8", "replace")
        if self.error is not None:
            return
        if self.part.name == "Content":
            if self.upload.content is not None:
                self.error = Invalid("Content was sent more than once")
                return
            try:
                self.upload.content = self.blobs.writer(self.ceiling)
            except StorageError as exc:
                self.error = storage_refusal(exc)
                return
            self.upload.filename = options.get(b"filename", b"").decode("utf-8", "replace") or None
            self.upload.content_type = self.part.headers.get("content-type")
        else:
            self.part.text = bytearray()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.error is not None or self.too_large:
            return
        if self.part.text is not None:
            self.part.text.extend(data[start:end])
            if len(self.part.text) > MAX_TEXT_FIELD:
                self.error = Invalid(f"The field {self.part.name} is longer than {MAX_TEXT_FIELD} bytes")
        elif self.part.name == "Content" and self.upload.content is not None:
            try:
                self.upload.content.write(data[start:end])
            except BlobTooLarge:
                self.too_large = True
            except StorageError as exc:
                self.upload.abort()  # a partial file on a full disk: give the space back at once
                self.error = storage_refusal(exc)

    def on_part_end(self) -> None:
        if self.part.text is not None and self.error is None:
            self.upload.fields[self.part.name] = self.part.text.decode("utf-8", "replace")

    def on_end(self) -> None:
        self.complete = True


def _boundary(request: Request) -> bytes:
    ctype, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise Invalid("A version upload must be sent as multipart/form-data with Path, Visibility and Content")
    if not _BOUNDARY.match(boundary):
        raise Invalid(f"The multipart boundary must be 1 to 70 letters, digits or '()+_,-./:=? (RFC 2046); "
                      f"this one has {len(boundary)} characters")
    return boundary


async def receive(request: Request, blobs: BlobStore, ceiling: int) -> Received:
    """Read the whole upload. The returned Content writer is uncommitted: `core.ingest.store`
    checks the fields, then commits the bytes or aborts."""
    boundary = _boundary(request)
    receiver = _Receiver(blobs, ceiling)
    parser = MultipartParser(boundary, receiver.callbacks())
    drained = 0
    try:
        async with aclosing(request.stream()) as chunks:
            async for chunk in chunks:
                if receiver.too_large or receiver.error is not None:
                    drained += len(chunk)
                    if drained > DRAIN_LIMIT:
                        break
                    continue
                parser.write(chunk)
        if not receiver.too_large and receiver.error is None:
            parser.finalize()
    except ClientDisconnect:
        receiver.upload.abort()
        raise Invalid("The client disconnected before the upload was complete") from None
    except FormParserError as exc:
        receiver.upload.abort()
        raise Invalid(f"The multipart body could not be parsed: {exc}") from None
    except BaseException:
        receiver.upload.abort()
        raise
    upload = receiver.upload
    if receiver.too_large:
        upload.abort()
        name = upload.fields.get("Path") or upload.filename or "the upload"
        raise TooLarge(f"File {name} is larger than {ceiling} bytes, the most any file may be")
    if receiver.error is not None:
        upload.abort()
        raise receiver.error
    if not receiver.complete:
        upload.abort()
        raise Invalid(f"The multipart body ended before its closing boundary (--{boundary.decode()}--): "
                      "the upload is incomplete and was not stored")
    if upload.content is None:
        raise Invalid("Missing required parameter Content (the file part) in the post body")
    return Received(fields=upload.fields, content=upload.content, filename=upload.filename,
                    content_type=upload.content_type)
