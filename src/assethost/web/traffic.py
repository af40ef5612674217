"""What this process has answered, kept as plain numbers for /metrics (see `ops/metrics.py`).

The edge's front counts every request it answers, so counting must cost next to nothing: a few
list and attribute increments on objects of this module, on the event loop's thread, no lock, no
label lookup. prometheus-client's own metric objects take a lock per change (and, in its
multiprocess mode, write a memory-mapped file); they are built from these numbers only when
/metrics is read.

`Counted` does the same for the API origin's ASGI applications (the API, the console, the
operator's endpoints), and writes their access log lines.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Seconds; an answer from memory takes tens of microseconds, a function call up to its timeout.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                   1.0, 2.5, 5.0, 10.0, 30.0)
# Seconds from a deployment's recorded time to this process serving it.
PROPAGATION_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
# "ops": the operator's endpoints below, kept apart so that probes and scrapes do not blur the others.
ROLES = ("edge", "api", "console", "ops")
# Served on the API origin (and, with --edge-only, on any host the edge does not claim): see ops/.
OPERATOR_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class Histogram:
    """Counts per bucket (the last one past every bound: +Inf), not cumulative, and their sum."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        # bisect_left: the first bound >= value, i.e. Prometheus's `le` bucket of the value.
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value


class RoleTally:
    """The answers of one role: by status class (index: status // 100), their time, their bytes."""

    __slots__ = ("body_bytes", "latency", "statuses")

    def __init__(self) -> None:
        self.statuses = [0] * 10
        self.latency = Histogram(LATENCY_BUCKETS)
        self.body_bytes = 0

    def add(self, status: int, seconds: float, body_bytes: int) -> None:
        self.statuses[min(status, 999) // 100] += 1
        self.latency.observe(seconds)
        self.body_bytes += body_bytes


class Traffic:
    """Everything /metrics reports that is counted as it happens, for one process."""

    def __init__(self) -> None:
        self.roles = {role: RoleTally() for role in ROLES}
        self.edge = self.roles["edge"]
        self.function_calls = 0
        self.function_errors = 0  # the call failed, or its function answered a 5xx
        self.propagation = Histogram(PROPAGATION_BUCKETS)

    def state(self) -> dict[str, Any]:
        """The counts as JSON data, for the scrapes other workers answer (ops/metrics.py)."""
        return {
            "roles": {role: {"statuses": t.statuses, "latency": t.latency.counts, "latency_sum": t.latency.total,
                             "body_bytes": t.body_bytes} for role, t in self.roles.items()},
            "function_calls": self.function_calls, "function_errors": self.function_errors,
            "propagation": self.propagation.counts, "propagation_sum": self.propagation.total,
        }

    def add(self, state: dict[str, Any]) -> None:
        """Add counts of `state()`'s form to these (what another worker has counted)."""
        for role, counts in state["roles"].items():
            tally = self.roles[role]
            _add_to(tally.statuses, counts["statuses"])
            _add_to(tally.latency.counts, counts["latency"])
            tally.latency.total += counts["latency_sum"]
            tally.body_bytes += counts["body_bytes"]
        self.function_calls += state["function_calls"]
        self.function_errors += state["function_errors"]
        _add_to(self.propagation.counts, state["propagation"])
        self.propagation.total += state["propagation_sum"]


def _add_to(counts: list[int], more: list[int]) -> None:
    if len(more) != len(counts):
        raise ValueError("counts of other buckets")  # written by another version: not comparable
    for index, value in enumerate(more):
        counts[index] += value


# Writes one access log line: role, client address, method, request target, Host, status, body
# bytes, seconds (see ops/logs.py).
AccessLog = Callable[[str, str, str, str, str, int, int, float], None]


def client_address(peer: str, forwarded_for: bytes | None, trust_forwarded: bool) -> str:
    """The client an access line names: the connection's peer or, behind a proxy trusted with
    --trust-forwarded, the last address of X-Forwarded-For (the one that proxy added; those before
    it are whatever the client sent)."""
    if trust_forwarded and forwarded_for:
        return forwarded_for.decode("latin-1").rsplit(",", 1)[-1].strip() or peer
    return peer


class Counted:
    """Counts (and, with an access log, writes a line for) each request an ASGI application
    answers. The count is made just before the last body message is sent, so a client that has
    its whole answer finds it counted."""

    def __init__(self, app: ASGIApp, traffic: Traffic, role_of: Callable[[str], str],
                 access: AccessLog | None, trust_forwarded: bool = False) -> None:
        self.app = app
        self.traffic = traffic
        self.role_of = role_of
        self.access = access
        self.trust_forwarded = trust_forwarded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.monotonic()
        status = 0
        sent = 0

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
            elif kind == "http.response.body":
                sent += len(message.get("body", b""))
                if not message.get("more_body", False):
                    self._record(scope, status, sent, time.monotonic() - started)
            await send(message)

        await self.app(scope, receive, counting_send)

    def _record(self, scope: Scope, status: int, sent: int, seconds: float) -> None:
        role = self.role_of(scope["path"])
        self.traffic.roles[role].add(status, seconds, sent)
        if self.access is not None:
            client = scope.get("client")
            target = scope.get("raw_path") or scope["path"].encode()
            if scope["query_string"]:
                target += b"?" + scope["query_string"]
            headers = dict(scope["headers"])
            peer = client_address(client[0] if client else "-", headers.get(b"x-forwarded-for"),
                                  self.trust_forwarded)
            self.access(role, peer, scope["method"], target.decode("latin-1"),
                        headers.get(b"host", b"").decode("latin-1"), status, sent, seconds)
