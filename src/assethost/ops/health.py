"""`/healthz` (the process answers) and `/readyz` (it can serve: the database answers, the blob
store takes files, the edge has loaded its snapshot, on a node that serves environments).

A readiness probe is cheap: one one-row query (the deployment counter), one file created and
removed in the blob store's temporary folder, and a look at the snapshot in memory. Its store
checks run in a thread with a time limit, one probe at a time: concurrent probes share the one
running, so a database that hangs holds one thread, however often it is probed.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from assethost.core import live
from assethost.core.context import Context
from assethost.core.ports import StorageError
from assethost.edge.runtime import Edge

log = logging.getLogger("assethost.ops")
CHECK_TIMEOUT_S = 2.0  # a database or blob store slower than this to answer is not ready
_HEADERS = {"cache-control": "no-store"}


async def healthz(scope: Scope, receive: Receive, send: Send) -> None:
    await JSONResponse({"status": "alive"}, headers=_HEADERS)(scope, receive, send)


class Readiness:
    def __init__(self, ctx: Context, edge: Edge) -> None:
        self.ctx = ctx
        self.edge = edge
        self._running: asyncio.Future[dict[str, str]] | None = None
        self._failing: dict[str, str] = {}  # as of the last probe: logged when it changes

    def check_stores(self) -> dict[str, str]:
        """What fails of the database and the blob store, by name (in a thread)."""
        failed: dict[str, str] = {}
        try:
            live.generation(self.ctx.meta)
        except Exception as exc:  # whatever the driver raises, the database does not answer
            log.debug("readiness: database check failed", exc_info=True)
            failed["database"] = f"no answer ({type(exc).__name__})"
        try:
            self.ctx.blobs.check()
        except StorageError as exc:
            failed["blobs"] = str(exc)
        return failed

    async def failures(self) -> dict[str, str]:
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(asyncio.to_thread(self.check_stores))
        try:
            failed = dict(await asyncio.wait_for(asyncio.shield(self._running), CHECK_TIMEOUT_S))
        except TimeoutError:  # the two are checked in turn, in one thread: either may be the slow one
            why = f"no answer within {CHECK_TIMEOUT_S:g} s (database and blob store checked together)"
            failed = {"database": why, "blobs": why}
        if self.edge.serves_environments and self.edge.snapshot.generation < 0:  # --api-only holds none
            failed["snapshot"] = "not loaded yet"
        if failed != self._failing:
            if failed:
                log.warning("not ready: %s", "; ".join(f"{name}: {why}" for name, why in failed.items()))
            else:
                log.info("ready again")
            self._failing = failed
        return failed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        failed = await self.failures()
        checks = {name: failed.get(name, "ok") for name in ("database", "blobs", "snapshot")}
        body = {"status": "unready" if failed else "ready", "checks": checks}
        await JSONResponse(body, status_code=503 if failed else 200, headers=_HEADERS)(scope, receive, send)
