"""What functions print, kept per environment: buffered in memory by the runner and written in
batches (one transaction per flush, never one per line on the request path), and read back by
the Logs resource (`assethost.core.logs`)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from assethost.core import clock, sids
from assethost.core.context import Context

log = logging.getLogger("assethost.functions")

MESSAGE_LIMIT = 8 * 1024  # longer lines are cut, as the runtime's logs are
BUFFER_LIMIT = 50_000  # lines held when the database cannot take them; the oldest go first


class LogSink:
    """Collects log lines from any thread; `flush` writes them in one transaction."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._deployments: dict[tuple[str, str], str | None] = {}
        self.dropped = 0

    def add(self, *, account_sid: str, service_sid: str, environment_sid: str, build_sid: str,
            function_sid: str | None, request_sid: str | None, level: str, message: str) -> None:
        if len(message) > MESSAGE_LIMIT:
            message = message[:MESSAGE_LIMIT] + "…"
        row = {
            "sid": sids.new(sids.LOG), "account_sid": account_sid, "service_sid": service_sid,
            "environment_sid": environment_sid, "build_sid": build_sid, "deployment_sid": None,
            "function_sid": function_sid, "request_sid": request_sid, "level": level, "message": message,
            "date_created": clock.now(),
        }
        with self._lock:
            self._rows.append(row)
            if len(self._rows) > BUFFER_LIMIT:
                del self._rows[: len(self._rows) - BUFFER_LIMIT]
                self.dropped += 1

    def pending(self) -> int:
        return len(self._rows)

    def flush(self) -> int:
        with self._lock:
            rows, self._rows = self._rows, []
        if not rows:
            return 0
        try:
            with self.ctx.meta.write() as tx:
                for row in rows:
                    row["deployment_sid"] = self._deployment(tx, row["environment_sid"], row["build_sid"])
                tx.insert_many("logs", rows)
        except Exception:
            with self._lock:
                self._rows[:0] = rows  # keep them for the next try
            raise
        return len(rows)

    def _deployment(self, tx: Any, environment_sid: str, build_sid: str) -> str | None:
        key = (environment_sid, build_sid)
        if key not in self._deployments:
            row = tx.last("deployments", environment_sid=environment_sid, build_sid=build_sid)
            self._deployments[key] = row.sid if row is not None else None
        return self._deployments[key]
