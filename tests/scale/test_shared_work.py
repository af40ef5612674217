"""What every node does on its own, done by several at once on one PostgreSQL database: migrating
at start, making sure of the account, flushing the request meter, finishing the builds a stopped
node left. Each "node" is a store of its own (its own engine and connections) on a fresh database,
running in its own thread, started together at a barrier. The sweeps of temporary uploads, build
folders and dependency sets need no test here: each works on its node's own `--data` folder only
(tests/scale/test_cluster.py runs three nodes, each with its own)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from servers import Backend

from assethost.config import Limits
from assethost.core import accounts, builds, clock, resources, services, usage
from assethost.core.context import Context
from assethost.core.model import Build, BuildEntry
from assethost.store.blobs import open_blob_store
from assethost.store.meta import MetaStore

NODES = 4
PACKAGING_S = 0.3
T = TypeVar("T")


@pytest.fixture
def database() -> Iterator[str]:
    backend = Backend("postgres")
    backend.check()
    url, name = backend.create_database()
    assert url is not None
    yield url
    backend.drop_database(name)


def _at_once(work: Callable[[int], T], nodes: int = NODES) -> list[T]:
    """work(node) in `nodes` threads released together; their results (any exception is raised)."""
    barrier = threading.Barrier(nodes, timeout=30)

    def run(node: int) -> T:
        barrier.wait()
        return work(node)

    with ThreadPoolExecutor(nodes) as pool:
        return [f.result(timeout=120) for f in [pool.submit(run, n) for n in range(nodes)]]


def _stores(url: str, nodes: int = NODES) -> list[MetaStore]:
    return [MetaStore(url) for _ in range(nodes)]


def test_nodes_starting_at_once_migrate_a_new_database_in_turn(database):
    # Bounded: without their turns, concurrent migrations wait on each other's locks for ever.
    stores = _stores(database + "?options=-c%20lock_timeout%3D30000")
    try:
        _at_once(lambda n: stores[n].migrate())
        with stores[0].read() as tx:
            assert tx.generation() == 0 and tx.accounts.count() == 0
    finally:
        for store in stores:
            store.dispose()


def test_nodes_starting_at_once_make_the_account_once(database):
    stores = _stores(database)
    stores[0].migrate()
    sid, token = "AC" + "1" * 32, "2" * 32
    try:
        created = _at_once(lambda n: accounts.ensure_account(stores[n], sid, token))
        assert sorted(created) == [False] * (NODES - 1) + [True]
        with stores[0].read() as tx:
            assert [(a.sid, a.auth_token) for a in tx.accounts.select()] == [(sid, token)]
    finally:
        for store in stores:
            store.dispose()


def test_meters_of_many_nodes_flushing_at_once_lose_and_double_nothing(database):
    stores = _stores(database)
    stores[0].migrate()
    account = accounts.create_account(stores[0]).account_sid
    rounds, per_round = 20, 7

    def node(n: int) -> int:
        meter, flushed = usage.Meter(), 0
        for _ in range(rounds):  # the first flushes of all nodes race to create the month's row
            for _ in range(per_round + n):
                meter.add(account)
            flushed += meter.flush(stores[n])
        return flushed

    try:
        flushed = _at_once(node)
        expected = sum(rounds * (per_round + n) for n in range(NODES))
        assert sum(flushed) == expected
        assert usage.monthly(stores[0], account).requests == expected
    finally:
        for store in stores:
            store.dispose()


def _contexts(url: str, folder: Path, packaged: list[str]) -> list[Context]:
    """Nodes that make builds, with a packaging step that notes each build it packages."""

    def step(_ctx: Context, build: Build, _entries: list[BuildEntry]) -> str | None:
        packaged.append(build.sid)
        time.sleep(PACKAGING_S)  # as an npm install would: the others look meanwhile
        return None

    contexts = []
    for _ in range(NODES):  # one blob folder, standing for the bucket they share
        ctx = Context(meta=MetaStore(url), blobs=open_blob_store(folder / "blobs"), limits=Limits(),
                      scratch_dir=folder)
        ctx.packagers["note"] = step
        contexts.append(ctx)
    return contexts


def test_a_build_a_stopped_node_left_is_finished_once_and_a_young_one_is_left_alone(database, tmp_path):
    packaged: list[str] = []
    contexts = _contexts(database, tmp_path, packaged)
    first = contexts[0]
    first.meta.migrate()
    account = accounts.create_account(first.meta).account_sid
    service = services.create(first, account, "shared", "Shared", None, None)
    asset = resources.create(first, account, service.sid, "asset", "/a.txt")
    blob, size = first.blobs.put(b"a")
    version = resources.add_version(first, account, service.sid, "asset", asset.sid, "/a.txt", "public", blob, size,
                                    None)
    left = [builds.create(first, account, service.sid, [version.sid], [], None, None)[0] for _ in range(3)]
    young, _ = builds.create(first, account, service.sid, [version.sid], [], None, None)
    hour_ago = clock.now() - timedelta(hours=1)
    with first.meta.write() as tx:  # left `building` an hour ago by a node that is gone
        for build in left:
            tx.builds.update({"sid": build.sid}, date_updated=hour_ago)
    try:
        finished = _at_once(lambda n: builds.finish_pending(contexts[n], timedelta(minutes=11)))
        assert sum(finished) == len(left)
        assert sorted(packaged) == sorted(b.sid for b in left)  # each once
        with first.meta.read() as tx:
            assert {tx.builds.one(sid=b.sid).status for b in left} == {"completed"}
            assert tx.builds.one(sid=young.sid).status == "building"  # another node may be packaging it
    finally:
        for ctx in contexts:
            ctx.meta.dispose()
