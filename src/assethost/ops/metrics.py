"""`/metrics`: this process's figures in Prometheus's text format.

The numbers are counted as plain integers where things happen (`web/traffic.py`, the edge's
snapshot figures) and turned into metric families only when scraped, by
a prometheus-client collector: nothing on the serving path touches prometheus-client.

With `--workers N` a scrape reaches whichever worker accepts the connection. So that it reports
the whole server, each worker writes its counts to a small file of its own (`WorkerShare`) after
each flush of the request meter (every 2 s, and as it stops), and a scrape adds up its own live
counts and the other workers' files, those of workers that have exited included (their counts
stay counted). prometheus-client's multiprocess mode would do the same by writing a
memory-mapped file at each increment, under a lock: that is the per-request cost the edge avoids.
The gauges (the snapshot's) are the answering worker's own.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from assethost.edge.runtime import Edge
from assethost.web.traffic import Histogram, Traffic

log = logging.getLogger("assethost.ops")


class WorkerShare:
    """This worker's counts in `folder`, one file per worker (named by its PID and a random
    token: a later worker given the same PID does not overwrite an exited one's counts), written
    whole to a temporary name and renamed, so that a reader never sees half of one."""

    def __init__(self, folder: Path, traffic: Traffic) -> None:
        self.folder = folder
        self.traffic = traffic
        self.name = f"{os.getpid()}-{secrets.token_hex(4)}.json"
        folder.mkdir(parents=True, exist_ok=True)

    def write(self) -> None:
        path = self.folder / self.name
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.traffic.state()))
        os.replace(temporary, path)

    def total(self) -> Traffic:
        """This worker's counts as they are now, plus every other worker's last written ones."""
        total = Traffic()
        total.add(self.traffic.state())
        for path in self.folder.glob("*.json"):
            if path.name == self.name:
                continue
            try:
                total.add(json.loads(path.read_text()))
            except (OSError, ValueError, KeyError) as exc:  # removed meanwhile, or another version's
                log.warning("metrics: skipping the counts of another worker (%s): %s", path.name, exc)
        return total


def _buckets(histogram: Histogram) -> list[tuple[str, float]]:
    """Prometheus's cumulative buckets from our per-bucket counts."""
    out: list[tuple[str, float]] = []
    total = 0
    for bound, count in zip((*histogram.bounds, float("inf")), histogram.counts, strict=True):
        total += count
        out.append(("+Inf" if bound == float("inf") else repr(bound), total))
    return out


class EdgeCollector(Collector):
    def __init__(self, edge: Edge, share: WorkerShare | None) -> None:
        self.edge = edge
        self.share = share

    def collect(self) -> Iterator[Metric]:
        traffic = self.share.total() if self.share is not None else self.edge.traffic
        requests = CounterMetricFamily("assethost_requests", "Requests answered, by role and status class",
                                       labels=["role", "status"])
        body = CounterMetricFamily("assethost_response_body_bytes",
                                   "Bytes of the bodies of answers (files sent from disk included)", labels=["role"])
        latency = HistogramMetricFamily(
            "assethost_request_duration_seconds",
            "From a request's first byte to its answer being ready (the sending of a file from disk not included)",
            labels=["role"])
        for role, tally in traffic.roles.items():
            for index, count in enumerate(tally.statuses):
                if 1 <= index <= 5 or count:
                    requests.add_metric([role, f"{index}xx"], count)
            body.add_metric([role], tally.body_bytes)
            latency.add_metric([role], _buckets(tally.latency), tally.latency.total)
        yield requests
        yield body
        yield latency
        yield CounterMetricFamily("assethost_function_calls", "Function calls run", value=traffic.function_calls)
        yield CounterMetricFamily("assethost_function_errors",
                                  "Function calls that failed or answered a 5xx status", value=traffic.function_errors)
        propagation = HistogramMetricFamily(
            "assethost_deploy_propagation_seconds",
            "From a deployment's recorded time (whole seconds) to this process serving it")
        propagation.add_metric([], _buckets(traffic.propagation), traffic.propagation.total)
        yield propagation
        figures = self.edge.figures
        for name, value, meaning in (
            ("sites", figures.sites, "Environment domains in the snapshot"),
            ("builds", figures.builds, "Deployed builds in the snapshot"),
            ("files", figures.files, "Asset versions of the deployed builds"),
            ("memory_bytes", figures.memory_bytes,
             "Bytes of the files served from memory, their compressed variants included"),
            ("generation", self.edge.snapshot.generation, "Deployment counter of the snapshot being served"),
            ("loaded_timestamp_seconds", figures.loaded_at, "When the snapshot was last reloaded (Unix time)"),
        ):
            yield GaugeMetricFamily(f"assethost_snapshot_{name}", meaning, value=value)


class Metrics:
    """The ASGI endpoint, with this process's own registry (the process, platform and garbage
    collector figures prometheus-client offers, which are the answering worker's, and ours).
    `shared`: the folder of the workers' counts, when there are several."""

    def __init__(self, edge: Edge, shared: Path | None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=self.registry)
        share = None
        if shared is not None:
            share = WorkerShare(shared, edge.traffic)
            edge.after_flush.append(share.write)
        self.registry.register(EdgeCollector(edge, share))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST,
                            headers={"cache-control": "no-store"})
        await response(scope, receive, send)
