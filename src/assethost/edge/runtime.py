"""The edge of one process: its snapshot, how it stays current, and its request meter."""

from __future__ import annotations

import asyncio
import calendar
import logging
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from assethost.config import EdgeOptions, FunctionOptions
from assethost.core import live
from assethost.core.context import Context
from assethost.edge.httpparts import FILE_CHUNK
from assethost.edge.responder import NOT_FOUND, Reply, Responder, hostname, plain
from assethost.edge.snapshot import Snapshot, SnapshotLoader
from assethost.functions.package import Packager
from assethost.functions.runner import FunctionRunner
from assethost.web.traffic import AccessLog, Traffic

log = logging.getLogger("assethost.edge")
SWEEP_EVERY = 120  # polls between sweeps of deleted builds' folders (a minute at 0.5 s)
TMP_SWEEP_EVERY = 20  # polls between sweeps of interrupted uploads' temporary files (10 s): one listing


@dataclass(frozen=True)
class SnapshotFigures:
    """The size of the snapshot being served, worked out at each reload (not at each scrape)."""

    sites: int = 0
    builds: int = 0
    files: int = 0  # served and private assets of the deployed builds, each version once
    memory_bytes: int = 0  # of those, the bytes held in memory (files up to --memory-file-limit), variants included
    loaded_at: float = 0.0  # time.time() of the reload; 0: none yet


def _figures(snapshot: Snapshot) -> SnapshotFigures:
    builds = {site.build.build_sid: site.build for site in snapshot.sites.values() if site.build is not None}
    entries = {e.version_sid: e for b in builds.values() for e in (*b.served.values(), *b.private.values())}
    memory = sum(len(e.body) for e in entries.values() if e.body is not None)
    memory += sum(len(v.body) for e in entries.values() for v in e.variants or () if v.body is not None)
    return SnapshotFigures(sites=len(snapshot.sites), builds=len(builds), files=len(entries), memory_bytes=memory,
                           loaded_at=time.time())


class Edge:
    def __init__(self, ctx: Context, base_domain: str, options: EdgeOptions | None = None,
                 poll_interval: float = 0.5, flush_interval: float = 2.0,
                 packager: Packager | None = None, function_options: FunctionOptions | None = None,
                 public_scheme: str | None = None, trust_forwarded: bool = False,
                 serves_environments: bool = True) -> None:
        """`serves_environments=False` (an --api-only node): the environments' domains are still
        claimed, to be answered 421, but no snapshot is loaded or followed and no function runs; the
        periodic work (the meter's flush, the sweeps) goes on."""
        self.ctx = ctx
        self.serves_environments = serves_environments
        self.base_domain = base_domain
        self.suffix = "." + base_domain
        self.options = options or EdgeOptions()
        self.snapshot = Snapshot()
        self.loader = SnapshotLoader(ctx, self.options)
        self.meter = ctx.meter
        self.traffic = Traffic()
        self.figures = SnapshotFigures()
        self.access: AccessLog | None = None  # set by the assembly when the access log is on
        self.trust_forwarded = trust_forwarded
        # Called after each flush of the request meter (every flush_interval, and at stop).
        self.after_flush: list[Callable[[], None]] = []
        # Called at each sweep of build folders (every minute), on the poll thread: quick, or handed on.
        self.every_sweep: list[Callable[[], None]] = []
        self.responder = Responder(lambda: self.snapshot, self.meter.add, public_scheme,
                                   trust_forwarded, serves_environments)
        self.poll_interval = poll_interval
        self.flush_interval = flush_interval
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # Functions run only when the edge knows where builds keep their folders.
        self.functions: FunctionRunner | None = None
        self.packager = packager
        if not serves_environments:
            return
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
        self.traffic.function_calls += 1
        try:
            result = await self.functions.invoke(reply.call)
        except Exception:
            self.traffic.function_errors += 1
            log.exception("function call failed")
            return plain(500, "Internal Server Error\n")
        if result.status >= 500:
            self.traffic.function_errors += 1
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
        previous = self.snapshot
        snapshot = self.loader.load(previous)
        self.snapshot = snapshot
        self.figures = _figures(snapshot)
        if previous.generation >= 0:  # what was deployed before this process started is no deployment of its
            self._observe_propagation(previous, snapshot)

    def _observe_propagation(self, previous: Snapshot, snapshot: Snapshot) -> None:
        """For each environment this reload switched to another build: how long after the
        deployment was recorded (whole seconds, so up to a second more than it took)."""
        before = {site.environment_sid: site.build for site in previous.sites.values()}
        now = time.time()
        for site in snapshot.sites.values():
            if site.build is None or site.deployed is None:
                continue
            old = before.get(site.environment_sid)
            if old is None or old.build_sid != site.build.build_sid:
                deployed = calendar.timegm(site.deployed.timetuple())
                self.traffic.propagation.observe(max(0.0, now - deployed))

    def start(self) -> None:
        if self.serves_environments:
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
        for hook in self.after_flush:
            try:
                hook()
            except Exception:
                log.exception("a periodic task after the meter's flush failed; it runs again at the next")

    def _poll(self) -> None:
        """Notice deployments, variable and Auth Token changes made by other processes sharing the database;
        now and then, clear away the folders of deleted builds and the temporary files of uploads
        that crashed."""
        polls = 0
        while not self._stop.wait(self.poll_interval):
            polls += 1
            try:
                if self.serves_environments and live.generation(self.ctx.meta) != self.snapshot.generation:
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
        for task in self.every_sweep if builds else ():
            try:
                task()
            except Exception:
                log.exception("a periodic task of the sweep failed; it runs again at the next")
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
