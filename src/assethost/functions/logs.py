"""What functions print, kept per environment: buffered in memory by the runner and written in
batches (one transaction per flush, never one per line on the request path), and read back by
the Logs resource (`…/Environments/{ZE}/Logs`)."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from assethost.core import clock, environments, sids
from assethost.core.context import Context
from assethost.core.errors import Invalid, NotFound
from assethost.core.paging import Page, PageRequest
from assethost.store import schema

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
            t = schema.deployments
            q = (select(t.c.sid).where(t.c.environment_sid == environment_sid, t.c.build_sid == build_sid)
                 .order_by(t.c.id.desc()).limit(1))
            self._deployments[key] = tx.conn.execute(q).scalar()
        return self._deployments[key]


# --- reading (the Logs resource) -----------------------------------------------------------------


def _date(value: str | None, param: str) -> datetime | None:
    if value is None or value == "":
        return None
    text = value.strip().replace("Z", "").replace("z", "")
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text.split("+")[0].split(".")[0], fmt)
        except ValueError:
            continue
    raise Invalid(f"{param} must be a date like 2026-11-10T20:00:00Z (got {value!r})")


def page(ctx: Context, account_sid: str, service_ref: str, environment_sid: str, req: PageRequest,
         function_sid: str | None, start: str | None, end: str | None) -> Page:
    """Oldest first, by default over the last day (as Twilio's StartDate/EndDate defaults)."""
    end_at = _date(end, "EndDate") or clock.now()
    start_at = _date(start, "StartDate") or (end_at - timedelta(days=1))
    if function_sid is not None and not sids.is_sid(function_sid, sids.RESOURCE):
        raise Invalid(f"FunctionSid must be a Function SID (ZH…), got {function_sid!r}")
    env = environments.get(ctx, account_sid, service_ref, environment_sid)
    t = schema.logs
    q = select(t).where(t.c.environment_sid == env.sid, t.c.date_created >= start_at, t.c.date_created <= end_at)
    if function_sid:
        q = q.where(t.c.function_sid == function_sid)
    with ctx.meta.read() as tx:
        if req.before_id is not None:
            rows = list(tx.conn.execute(q.where(t.c.id < req.before_id).order_by(t.c.id.desc()).limit(req.size)))
            return Page(rows=list(reversed(rows)), request=req, has_next=True)
        if req.after_id is not None:
            q = q.where(t.c.id > req.after_id)
        else:
            q = q.offset(req.page * req.size)
        rows = list(tx.conn.execute(q.order_by(t.c.id).limit(req.size + 1)))
    return Page(rows=rows[: req.size], request=req, has_next=len(rows) > req.size)


def get(ctx: Context, account_sid: str, service_ref: str, environment_sid: str, sid: str) -> Any:
    env = environments.get(ctx, account_sid, service_ref, environment_sid)
    row = None
    if sids.is_sid(sid, sids.LOG):
        with ctx.meta.read() as tx:
            row = tx.get("logs", sid=sid, environment_sid=env.sid)
    if row is None:
        raise NotFound.resource(f"/Services/{service_ref}/Environments/{environment_sid}/Logs/{sid}")
    return row
