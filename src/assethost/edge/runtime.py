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
from assethost.core.ports import ChangeListener
from assethost.edge.httpparts import FILE_CHUNK
from assethost.edge.responder import NOT_FOUND, Reply, Responder, hostname, plain
from assethost.edge.snapshot import BuildCache, BuildFiles, Snapshot, SnapshotLoader
from assethost.functions.package import Packager
from assethost.functions.runner import FunctionRunner
from assethost.web.traffic import AccessLog, Traffic

log = logging.getLogger("assethost.edge")
SWEEP_EVERY_S = 60.0  # between sweeps of deleted builds' folders
TMP_SWEEP_EVERY_S = 10.0  # between sweeps of interrupted uploads' temporary files (one listing each)
# The change feed keeps this many entries: a process further behind than that reloads everything.
FEED_KEEP = 10_000


@dataclass(frozen=True)
class SnapshotFigures:
    """The size of the snapshot being served, worked out at each reload (not at each scrape)."""

    sites: int = 0
    builds: int = 0  # deployed
    loaded_at: float = 0.0  # time.time() of the reload; 0: none yet


def _figures(snapshot: Snapshot) -> SnapshotFigures:
    builds = {site.build_sid for site in snapshot.sites.values() if site.build_sid is not None}
    return SnapshotFigures(sites=len(snapshot.sites), builds=len(builds), loaded_at=time.time())


class Edge:
    def __init__(self, ctx: Context, base_domain: str, options: EdgeOptions | None = None,
                 poll_interval: float | None = None, flush_interval: float = 2.0,
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
        self.builds = BuildCache(ctx, self.options)
        self.snapshot = Snapshot(builds=self.builds)
        self.loader = SnapshotLoader(ctx, self.options, self.builds)
        self._reloading = threading.Lock()  # the API thread and the poller may both reload
        # Asynchronous loads of cold builds, by build SID: concurrent requests share one.
        self._loading: dict[str, asyncio.Future[BuildFiles | None]] = {}
        self.listener: ChangeListener | None = None
        self._wake = threading.Event()
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
        self.poll_interval = self.options.poll_interval if poll_interval is None else poll_interval
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
        return {site.build_sid for site in self.snapshot.sites.values() if site.build_sid is not None}

    async def warm(self, reply: Reply) -> Reply:
        """The answer to a request for a build not loaded yet: load it in a thread (one load for
        every request waiting on it), then answer again."""
        assert reply.load is not None and reply.again is not None
        sid = reply.load
        pending = self._loading.get(sid)
        if pending is None:
            pending = self._loading[sid] = asyncio.ensure_future(asyncio.to_thread(self.builds.load, sid))
            pending.add_done_callback(lambda _: self._loading.pop(sid, None))
        build = await asyncio.shield(pending)
        try:
            return reply.again(build)
        except Exception:  # as the front answers a request that fails at once: never left unanswered
            log.exception("edge request failed")
            return plain(500, "Internal Server Error\n")

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
        """Catch up with the change feed: the environments changed since this snapshot's
        generation are read again (everything at the first load, or after a gap in the feed)."""
        with self._reloading:
            previous = self.snapshot
            snapshot = self.loader.load(previous)
            if snapshot is previous:
                return
            self.snapshot = snapshot
        self.figures = _figures(snapshot)
        if previous.generation >= 0:  # what was deployed before this process started is no deployment of its
            self._observe_propagation(previous, snapshot)

    def _observe_propagation(self, previous: Snapshot, snapshot: Snapshot) -> None:
        """For each environment this reload switched to another build: how long after the
        deployment was recorded (whole seconds, so up to a second more than it took)."""
        now = time.time()
        for domain, site in snapshot.sites.items():
            old = previous.sites.get(domain)
            if old is site or site.build_sid is None or site.deployed is None:
                continue  # the same object: a site no change named
            if old is None or old.environment_sid != site.environment_sid or old.build_sid != site.build_sid:
                deployed = calendar.timegm(site.deployed.timetuple())
                self.traffic.propagation.observe(max(0.0, now - deployed))

    def start(self) -> None:
        if self.serves_environments:
            self.reload()
            self.listener = self.ctx.meta.listen(self._wake.set)
        if self.functions is not None:
            self.functions.start()
        for target, name in ((self._poll, "assethost-edge-poll"), (self._flush_loop, "assethost-meter")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self.listener is not None:
            self.listener.stop()
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
        """Notice deployments, variable and Auth Token changes made by other processes sharing the
        database: at once when the listener wakes this (PostgreSQL), else at the next poll. Now and
        then, clear away the folders of deleted builds and the temporary files of uploads that
        crashed, and prune the change feed."""
        swept = builds_swept = time.monotonic()
        while True:
            self._wake.wait(self.poll_interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                if self.serves_environments:
                    self.reload()
            except Exception:
                log.exception("edge reload failed; serving the previous snapshot")
            now = time.monotonic()
            if now - swept >= TMP_SWEEP_EVERY_S:
                swept = now
                sweep_builds = now - builds_swept >= SWEEP_EVERY_S
                if sweep_builds:
                    builds_swept = now
                self._sweep(builds=sweep_builds)

    def _sweep(self, builds: bool) -> None:
        if builds:
            try:
                live.prune(self.ctx.meta, FEED_KEEP)
            except Exception:
                log.exception("pruning the change feed failed; trying again at the next sweep")
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
