"""What functions print, kept per environment: buffered in memory by the runner and written in
batches (one transaction per flush, never one per line on the request path), and read back by
the Logs resource (`assethost.core.logs`).

Every bound is on the writer's side, since tenant code decides how much it prints: a line is cut
at MESSAGE_LIMIT, a call keeps at most CALL_LINES lines and CALL_BYTES bytes, an account at most
ACCOUNT_RATE bytes a second (in bursts of ACCOUNT_BURST), and the buffer waiting for the database
at most BUFFER_LINES lines and BUFFER_BYTES bytes (the oldest go first). What is dropped is
counted, and a call whose output was cut gets one line saying so.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from assethost.core import clock, sids
from assethost.core import logs as core_logs
from assethost.core.context import Context

log = logging.getLogger("assethost.functions")

MESSAGE_LIMIT = 8 * 1024  # longer lines are cut, as the runtime's logs are
CALL_LINES = 1000
CALL_BYTES = 1024 * 1024
ACCOUNT_RATE = 64 * 1024  # bytes a second, per account and server process
ACCOUNT_BURST = 1024 * 1024
BUFFER_LINES = 50_000  # lines held when the database cannot take them
BUFFER_BYTES = 32 * 1024 * 1024
ACCOUNTS_TRACKED = 10_000  # rate buckets kept; the idlest are forgotten past this


@dataclass(slots=True, eq=False)
class CallLog:
    """Whose call a line belongs to, and how much that call has printed."""

    account_sid: str
    service_sid: str
    environment_sid: str
    build_sid: str
    function_sid: str | None
    request_sid: str | None
    lines: int = 0
    size: int = 0
    cut: bool = False


class LogSink:
    """Collects log lines from any thread; `flush` writes them in one transaction."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._rows: list[dict[str, Any]] = []
        self._bytes = 0
        self._lock = threading.Lock()
        self._deployments: core_logs.Deployments = {}
        self._buckets: dict[str, list[float]] = {}  # account -> [bytes allowed now, when]
        self.dropped = 0

    def add(self, call: CallLog, level: str, message: str) -> None:
        if level not in core_logs.LEVELS:
            # The level comes from the worker's pipe, which tenant code can write to; a made-up
            # one (too long for the column, a batch PostgreSQL refuses) is stored as info.
            level = "info"
        if len(message) > MESSAGE_LIMIT:
            message = message[:MESSAGE_LIMIT] + "…"
        with self._lock:
            if not self._allowed(call, len(message)):
                self.dropped += 1
                if not call.cut:
                    call.cut = True
                    self._append(call, "warning", f"Log output of this call was cut: more than {CALL_LINES} "
                                 f"lines, {CALL_BYTES} bytes, or the account's {ACCOUNT_RATE} bytes a second")
                return
            self._append(call, level, message)

    def _allowed(self, call: CallLog, size: int) -> bool:
        call.lines += 1
        call.size += size
        if call.cut or call.lines > CALL_LINES or call.size > CALL_BYTES:
            return False
        now = time.monotonic()
        bucket = self._buckets.get(call.account_sid)
        if bucket is None:
            if len(self._buckets) >= ACCOUNTS_TRACKED:
                self._buckets = {k: b for k, b in self._buckets.items() if b[0] < ACCOUNT_BURST}
            bucket = self._buckets[call.account_sid] = [ACCOUNT_BURST, now]
        bucket[0] = min(ACCOUNT_BURST, bucket[0] + (now - bucket[1]) * ACCOUNT_RATE)
        bucket[1] = now
        if bucket[0] < size:
            return False
        bucket[0] -= size
        return True

    def _append(self, call: CallLog, level: str, message: str) -> None:
        self._rows.append({
            "sid": sids.new(sids.LOG), "account_sid": call.account_sid, "service_sid": call.service_sid,
            "environment_sid": call.environment_sid, "build_sid": call.build_sid, "deployment_sid": None,
            "function_sid": call.function_sid, "request_sid": call.request_sid, "level": level,
            "message": message, "date_created": clock.now(),
        })
        self._bytes += len(message)
        while len(self._rows) > BUFFER_LINES or self._bytes > BUFFER_BYTES:
            self._bytes -= len(self._rows.pop(0)["message"])
            self.dropped += 1

    def pending(self) -> int:
        return len(self._rows)

    def flush(self) -> int:
        with self._lock:
            rows, self._rows, self._bytes = self._rows, [], 0
        if not rows:
            return 0
        try:
            core_logs.append(self.ctx.meta, rows, self._deployments)
        except Exception:
            with self._lock:
                self._rows[:0] = rows  # keep them for the next try, within the buffer's bounds
                self._bytes += sum(len(r["message"]) for r in rows)
                while len(self._rows) > BUFFER_LINES or self._bytes > BUFFER_BYTES:
                    self._bytes -= len(self._rows.pop(0)["message"])
                    self.dropped += 1
            raise
        return len(rows)
