"""The edge of one process: its snapshot, how it stays current, and its request meter."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import threading
from typing import BinaryIO

from assethost.config import EdgeOptions, FunctionOptions
from assethost.core import live
from assethost.core.context import Context
from assethost.edge.compress import Compressor
from assethost.edge.httpparts import FILE_CHUNK
from assethost.edge.responder import NOT_FOUND, Reply, Responder, hostname, plain
from assethost.edge.snapshot import Snapshot, SnapshotLoader
from assethost.functions.package import Packager
from assethost.functions.runner import FunctionRunner

log = logging.getLogger("assethost.edge")
SWEEP_EVERY = 120  # polls between sweeps of deleted builds' folders (a minute at 0.5 s)
TMP_SWEEP_EVERY = 20  # polls between sweeps of interrupted uploads' temporary files (10 s): one listing


class Edge:
    def __init__(self, ctx: Context, base_domain: str, options: EdgeOptions | None = None,
                 poll_interval: float = 0.5, flush_interval: float = 2.0,
                 packager: Packager | None = None, function_options: FunctionOptions | None = None,
                 public_scheme: str | None = None, trust_forwarded: bool = False) -> None:
        self.ctx = ctx
        self.base_domain = base_domain
        self.suffix = "." + base_domain
        self.options = options or EdgeOptions()
        self.snapshot = Snapshot()
        self.loader = SnapshotLoader(ctx, self.options)
        self.compressor = Compressor()
        self.meter = ctx.meter
        self.responder = Responder(lambda: self.snapshot, self.compressor, self.meter.add, public_scheme,
                                   trust_forwarded)
        self.poll_interval = poll_interval
        self.flush_interval = flush_interval
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # Functions run only when the edge knows where builds keep their folders.
        self.functions: FunctionRunner | None = None
        self.packager = packager
        if packager is not None:
            self.functions = FunctionRunner(ctx, packager, function_options or FunctionOptions(), self.live_builds)
        ctx.listeners.append(self.reload)

    def live_builds(self) -> set[str]:
        return {site.build.build_sid for site in self.snapshot.sites.values() if site.build is not None}

    async def call(self, reply: Reply) -> Reply:
        """Run the function a reply names and return its answer, for either front.

        An answer over FILE_CHUNK (a function may answer up to --function-max-response-bytes) is
        handed over in a temporary file, to be sent as a disk file is, a piece at a time as the
        client takes it: a client that reads slowly, or not at all, then holds one piece of it in
        memory, not all of it. The file is unlinked from the start: nothing is left to sweep."""
        assert reply.call is not None
        if self.functions is None:  # an edge without a function runner: nothing is there
            return plain(404, NOT_FOUND)
        try:
            result = await self.functions.invoke(reply.call)
        except Exception:
            log.exception("function call failed")
            return plain(500, "Internal Server Error\n")
        size = len(result.body)
        if size <= FILE_CHUNK:
            return Reply(result.status, result.headers, result.body)
        try:
            spill = await asyncio.to_thread(self._spill, result.body)
        except OSError as exc:  # a full or failing disk: this answer waits in memory instead
            log.warning("cannot keep a function's answer of %d bytes on disk (%s); sending it from memory",
                        size, exc)
            return Reply(result.status, result.headers, result.body)
        return Reply(result.status, result.headers, file=spill, length=size)

    def _spill(self, body: bytes) -> BinaryIO:
        # Not closed here: whoever sends the reply closes it.
        spill = tempfile.TemporaryFile(dir=self.ctx.scratch_dir, buffering=0)  # noqa: SIM115
        try:
            view = memoryview(body)
            while view:
                view = view[spill.write(view):]
        except BaseException:
            spill.close()
            raise
        return spill

    def claims(self, host: str) -> bool:
        """Requests for a domain the snapshot serves are the edge's (whatever domain that is), and
        so are those for any other subdomain of the base domain (answered 404 there, as a domain
        no environment has); everything else is the API's."""
        name = hostname(host)
        return name in self.snapshot.sites or name.endswith(self.suffix)

    def reload(self) -> None:
        snapshot = self.loader.load(self.snapshot)
        self.snapshot = snapshot
        blobs: set[str] = set()
        for site in snapshot.sites.values():
            if site.build is not None:
                for entry in site.build.served.values():
                    blobs.add(entry.blob_hash)
                    if entry.compressible:
                        self.compressor.want(entry.blob_hash, entry.file)
        self.compressor.keep_only(blobs)

    def start(self) -> None:
        self.reload()
        if self.functions is not None:
            self.functions.start()
        for target, name in ((self._poll, "assethost-edge-poll"), (self._flush_loop, "assethost-meter")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        if self.functions is not None:
            self.functions.stop()
        self.flush()

    def flush(self) -> None:
        try:
            self.meter.flush(self.ctx.meta)
        except Exception:
            log.exception("could not flush request counts; they are kept for the next try")

    def _poll(self) -> None:
        """Notice deployments, variable and Auth Token changes made by other processes sharing the database;
        now and then, clear away the folders of deleted builds and the temporary files of uploads
        that crashed."""
        polls = 0
        while not self._stop.wait(self.poll_interval):
            polls += 1
            try:
                if live.generation(self.ctx.meta) != self.snapshot.generation:
                    self.reload()
            except Exception:
                log.exception("edge reload failed; serving the previous snapshot")
            if polls % TMP_SWEEP_EVERY == 0:
                self._sweep(builds=polls % SWEEP_EVERY == 0)

    def _sweep(self, builds: bool) -> None:
        if builds and self.packager is not None:
            try:
                self.packager.sweep(self.ctx)
            except Exception:
                log.exception("sweeping build folders failed; trying again at the next sweep")
        try:
            files, size = self.ctx.blobs.sweep()
        except Exception:
            log.exception("sweeping temporary upload files failed; trying again at the next sweep")
            return
        if files:
            log.warning("removed %d temporary file(s), %d bytes, of interrupted uploads", files, size)

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.flush_interval):
            self.flush()
