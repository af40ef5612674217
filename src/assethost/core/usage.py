"""Metering and pricing of served requests.

Counts are kept in memory per account and flushed in batches: the serving path never writes to
the database. Pricing as in Twilio's Assets: the first 10,000 requests of a month are free, then
$0.0001 per request.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from assethost.core.ports import MetaStore

FREE_REQUESTS = 10_000
PRICE_PER_REQUEST = Decimal("0.0001")


def this_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


def cost(requests: int) -> Decimal:
    return max(0, requests - FREE_REQUESTS) * PRICE_PER_REQUEST


class Meter:
    """Per-account request counts since the last flush. `add` is called on the serving path, so it
    is a plain dict update with no lock; the dict is swapped for a fresh one on the thread that
    adds (the event loop), so no increment can land in a dict already being flushed."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._flush_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def owned_by(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop whose thread calls `add`."""
        self._loop = loop

    def _swap(self) -> dict[str, int]:
        counts, self._counts = self._counts, {}
        return counts

    def _take(self) -> dict[str, int]:
        loop = self._loop
        if loop is None or not loop.is_running() or _running_loop() is loop:
            return self._swap()

        async def swap() -> dict[str, int]:
            return self._swap()

        return asyncio.run_coroutine_threadsafe(swap(), loop).result(timeout=10)

    def add(self, account_sid: str) -> None:
        counts = self._counts
        counts[account_sid] = counts.get(account_sid, 0) + 1

    def pending(self, account_sid: str) -> int:
        return self._counts.get(account_sid, 0)

    def flush(self, meta: MetaStore) -> int:
        with self._flush_lock:
            counts = self._take()
            if not counts:
                return 0
            month = this_month()
            try:
                with meta.write() as tx:
                    for account_sid, n in counts.items():
                        tx.add_usage(account_sid, month, n)
            except Exception:
                # Put the counts back so a passing database error loses nothing.
                for account_sid, n in counts.items():
                    self._counts[account_sid] = self._counts.get(account_sid, 0) + n
                raise
            return sum(counts.values())


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


@dataclass(frozen=True)
class Usage:
    account_sid: str
    month: str
    requests: int

    @property
    def free_requests(self) -> int:
        return min(self.requests, FREE_REQUESTS)

    @property
    def billable_requests(self) -> int:
        return max(0, self.requests - FREE_REQUESTS)

    @property
    def cost(self) -> Decimal:
        return cost(self.requests)


def monthly(meta: MetaStore, account_sid: str, month: str | None = None, meter: Meter | None = None) -> Usage:
    """Stored counts plus, for this month, what `meter` has not flushed yet. Read under the
    meter's flush lock, so a flush in progress is counted exactly once."""
    month = month or this_month()
    lock = meter._flush_lock if meter is not None else threading.Lock()
    with lock:
        with meta.read() as tx:
            row = tx.usage.get(account_sid=account_sid, month=month)
        pending = meter.pending(account_sid) if meter is not None and month == this_month() else 0
    return Usage(account_sid=account_sid, month=month, requests=(row.requests if row else 0) + pending)
