"""The plain counters behind /metrics, their Prometheus form, and the access log's writer."""

from __future__ import annotations

import asyncio
import io
import json
import re

from helpers import run_coroutine

from assethost.ops.logs import AccessWriter, common_line, json_line
from assethost.ops.metrics import _buckets
from assethost.web.traffic import LATENCY_BUCKETS, Histogram, Traffic, client_address


def test_a_value_on_a_bound_is_in_that_bound_s_bucket():
    h = Histogram((0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 1.0, 3.0):
        h.observe(value)
    assert h.counts == [2, 2, 1]
    assert _buckets(h) == [("0.1", 2), ("1.0", 4), ("+Inf", 5)]
    assert h.total == 4.65


def test_traffic_adds_another_worker_s_counts():
    one, two = Traffic(), Traffic()
    one.edge.add(200, 0.0002, 10)
    two.edge.add(404, 0.2, 5)
    two.roles["api"].add(201, 0.01, 7)
    two.function_calls, two.function_errors = 3, 1
    total = Traffic()
    total.add(json.loads(json.dumps(one.state())))
    total.add(json.loads(json.dumps(two.state())))
    assert (total.edge.statuses[2], total.edge.statuses[4], total.edge.body_bytes) == (1, 1, 15)
    assert sum(total.edge.latency.counts) == 2 and len(total.edge.latency.counts) == len(LATENCY_BUCKETS) + 1
    assert (total.roles["api"].statuses[2], total.function_calls, total.function_errors) == (1, 3, 1)


def test_access_lines():
    line = common_line("edge", "10.0.0.1", "GET", '/a "b"', "x.localhost", 200, 0, 0.001)
    assert re.fullmatch(r'10\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET /a \\"b\\"" 200 -\n', line)
    record = json.loads(json_line("api", "::1", "POST", "/v1/Services", "h:1", 201, 12, 0.0125))
    assert {k: v for k, v in record.items() if k != "time"} == {
        "role": "api", "client": "::1", "method": "POST", "target": "/v1/Services", "host": "h:1", "status": 201,
        "bytes": 12, "duration_ms": 12.5}


class CountingStream(io.StringIO):
    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_the_lines_of_one_loop_turn_go_out_in_one_write():
    stream = CountingStream()
    writer = AccessWriter(lambda *args: f"{args[3]}\n", stream)

    async def main():
        for n in range(3):
            writer("edge", "-", "GET", f"/{n}", "h", 200, 0, 0.0)
        assert stream.getvalue() == ""  # not before this turn ends
        await asyncio.sleep(0)
        writer("edge", "-", "GET", "/3", "h", 200, 0, 0.0)
        await asyncio.sleep(0)

    run_coroutine(main())
    assert (stream.getvalue(), stream.writes) == ("/0\n/1\n/2\n/3\n", 2)


def test_the_client_behind_a_trusted_proxy():
    assert client_address("10.0.0.5", b"203.0.113.9, 198.51.100.7", True) == "198.51.100.7"
    assert client_address("10.0.0.5", b"203.0.113.9, 198.51.100.7", False) == "10.0.0.5"
    assert client_address("10.0.0.5", None, True) == "10.0.0.5"
    assert client_address("10.0.0.5", b" ", True) == "10.0.0.5"
