"""Receipt of a bulk deploy's body (`core/bulk.py`): one line of JSON, the manifest, then the
bytes of the files it lists in "upload", one after the other, each exactly as long as the
manifest says.

This framing needs no parsing of the bytes (multipart would have us search every byte for its
boundary), so receiving a large deploy costs what hashing and writing cost. The event loop only
gathers the body's chunks into pieces of about PIECE bytes (lists, not copies); one thread splits
them into files, each hashed and written as it arrives (`BlobStore.writer`), and hands the
complete files, BATCH_FILES or
BATCH_BYTES at a time, to `core.ingest.store_expected` on a second thread, which checks their
hashes and commits them together (`BlobStore.commit_all`: two flushes per batch rather than two
fsyncs per file), a batch of large files while the next one arrives. Everything is bounded:
QUEUE pieces wait for the splitting thread (the loop stops reading meanwhile), one batch is
received while at most one commits, and a body that stops arriving ends as any other (the
front's body timeout; `PIECE_WAIT` here).

A body that is cut short, too long, or whose bytes do not match their hash is refused; a file
is committed only once all its bytes arrived and matched, and the versions are added only after
the whole body was stored, so no version ever names bytes that are not stored. A batch with one
file that does not match is not committed at all; batches committed before it stay as
unreferenced blobs, as after any failed upload.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from assethost.core import ingest
from assethost.core.errors import AssetHostError, Invalid, TooLarge, storage_refusal
from assethost.core.ports import BlobStore, BlobWriter, StorageError

PIECE = 1024 * 1024
QUEUE = 8
BATCH_FILES = 256  # files committed together (`BlobStore.commit_all`), all open until then
BATCH_BYTES = 64 * 1024 * 1024
PIECE_WAIT = 120.0  # seconds the splitting thread waits for the next piece before giving up


async def read_json(request: Request, limit: int) -> Any:
    """A JSON request body of at most `limit` bytes."""
    data = bytearray()
    try:
        async for chunk in request.stream():
            data += chunk
            if len(data) > limit:
                raise TooLarge(f"The manifest is larger than {limit} bytes")
    except ClientDisconnect:
        raise Invalid("The client disconnected before the manifest was complete") from None
    return _decode(bytes(data))


def _decode(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise Invalid(f"The manifest is not valid JSON: {exc}") from None


class DeployBody:
    """The body of POST …/Deploy: `manifest()` first, then `store(files)`."""

    def __init__(self, request: Request) -> None:
        self._chunks: AsyncIterator[bytes] = request.stream().__aiter__()
        self._rest = bytearray()
        self.manifest_bytes = 0

    async def _next(self) -> bytes | None:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            return None
        except ClientDisconnect:
            raise Invalid("The client disconnected before the deploy was complete: nothing was deployed") from None

    async def manifest(self, limit: int) -> Any:
        buf = bytearray()
        while (end := buf.find(b"\n")) < 0:
            if len(buf) > limit:
                raise TooLarge(f"The manifest (the body's first line) is larger than {limit} bytes")
            chunk = await self._next()
            if chunk is None:
                raise Invalid("The body ended before the manifest's closing newline")
            buf += chunk
        if end > limit:
            raise TooLarge(f"The manifest (the body's first line) is larger than {limit} bytes")
        self.manifest_bytes = end + 1
        self._rest = buf[end + 1:]
        return _decode(bytes(buf[:end]))

    async def store(self, blobs: BlobStore, files: list[tuple[str, int, str]]) -> None:
        """Receive the bytes of `files` ((sha256, size, name), in order) and commit each one; raises the
        error that stopped it (nothing more is read then)."""
        splitter = _Splitter(blobs, files)
        worker = asyncio.ensure_future(run_in_threadpool(splitter.run))
        try:
            # the chunks as they came, a piece at a time: no byte is copied on the way
            piece, size = ([bytes(self._rest)] if self._rest else []), len(self._rest)
            while splitter.error is None:
                chunk = await self._next()
                if chunk is None:
                    break
                piece.append(chunk)
                size += len(chunk)
                if size >= PIECE:
                    await splitter.feed(piece)
                    piece, size = [], 0
            if piece and splitter.error is None:
                await splitter.feed(piece)
        except BaseException as exc:
            splitter.fail(exc if isinstance(exc, AssetHostError) else Invalid("The deploy was interrupted"))
            raise
        finally:
            splitter.close()
            with suppress(Exception):
                await asyncio.shield(worker)
        if splitter.error is not None:
            raise splitter.error


class _Splitter:
    """The thread that cuts the pieces into files, and the commits they go on to."""

    def __init__(self, blobs: BlobStore, files: list[tuple[str, int, str]]) -> None:
        self.blobs = blobs
        self.files = files
        self.pieces: queue.Queue[list[bytes]] = queue.Queue(QUEUE)
        self.error: AssetHostError | None = None
        self.finished = False  # the thread is done: nothing more is taken from the queue
        self.closed = False  # the body is over: nothing more is put in it
        self._lock = threading.Lock()
        self._index = 0  # the file being received
        self._left = 0  # its bytes still to come
        self._writer: BlobWriter | None = None
        self._batch: list[tuple[BlobWriter, str, str]] = []  # received, not yet committing
        self._batch_bytes = 0
        self._committing: Future[None] | None = None
        self._pool = ThreadPoolExecutor(1, "assethost-deploy-commit")

    def fail(self, exc: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = exc if isinstance(exc, AssetHostError) else Invalid(str(exc))

    async def feed(self, piece: list[bytes]) -> None:
        try:
            self.pieces.put_nowait(piece)
        except queue.Full:
            await run_in_threadpool(self._put, piece)

    def _put(self, piece: list[bytes]) -> None:
        deadline = time.monotonic() + PIECE_WAIT
        while not self.finished and time.monotonic() < deadline:
            with suppress(queue.Full):
                self.pieces.put(piece, timeout=0.2)
                return

    def close(self) -> None:
        """End of the body (or of waiting for it): the thread finishes what is queued, then
        stops. Never blocks."""
        self.closed = True

    def run(self) -> None:
        try:
            self._open_next()
            waited_since = time.monotonic()
            while True:
                try:
                    piece = self.pieces.get(timeout=0.05)
                except queue.Empty:
                    if self.closed and self.pieces.empty():
                        break
                    if time.monotonic() - waited_since > PIECE_WAIT:
                        self.fail(Invalid("The deploy's body stopped arriving: nothing was deployed"))
                        return
                    continue
                waited_since = time.monotonic()
                if self.error is None:
                    self._split(piece)
            if self.error is None and (self._index < len(self.files)):
                self.fail(Invalid(f"The body ended after {self._index} of the {len(self.files)} files it should "
                                  "hold: nothing was deployed"))
            if self.error is None:
                self._flush(wait=True)  # the last files
        except AssetHostError as exc:
            self.fail(exc)
        except StorageError as exc:
            self.fail(storage_refusal(exc))
        finally:
            self.finished = True
            for writer in [self._writer, *(w for w, _, _ in self._batch)]:
                if writer is not None:
                    writer.abort()
            self._pool.shutdown(wait=True)
            if self._committing is not None:  # done by now; its error is kept if it is the first
                try:
                    self._committing.result()
                except AssetHostError as exc:
                    self.fail(exc)

    def _open_next(self) -> None:
        """Start the next file; files of no bytes are complete at once."""
        while self._index < len(self.files):
            _, size, _ = self.files[self._index]
            self._writer, self._left = self.blobs.writer(size), size
            if size:
                return
            self._complete()

    def _split(self, piece: list[bytes]) -> None:
        for chunk in piece:
            at = 0
            while at < len(chunk):
                if self._writer is None:
                    raise Invalid(f"The body holds more bytes than the {len(self.files)} files of its manifest")
                take = min(self._left, len(chunk) - at)
                self._writer.write(chunk if take == len(chunk) else chunk[at:at + take])
                self._left -= take
                at += take
                if not self._left:
                    self._complete()
                    self._open_next()

    def _complete(self) -> None:
        writer, (sha256, size, name) = self._writer, self.files[self._index]
        assert writer is not None
        self._writer = None
        self._index += 1
        self._batch.append((writer, sha256, name))
        self._batch_bytes += size
        # Many files: committed before more are created (creating files while syncfs runs waits
        # on the file system's journal: 1.3 ms a file measured); much data: committed while the
        # next arrives.
        if len(self._batch) >= BATCH_FILES:
            self._flush(wait=True)
        elif self._batch_bytes >= BATCH_BYTES:
            self._flush(wait=False)

    def _flush(self, wait: bool) -> None:
        """Hand the files received so far to the committing thread, once it is done with the
        previous batch (whose error, if any, is raised here); with `wait`, until they are
        committed too."""
        if self._committing is not None:
            self._committing.result()
            self._committing = None
        if self._batch:
            batch, self._batch, self._batch_bytes = self._batch, [], 0
            self._committing = self._pool.submit(ingest.store_expected, self.blobs, batch)
            if wait:
                self._committing.result()
                self._committing = None
