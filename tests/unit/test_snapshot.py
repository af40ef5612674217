"""SnapshotLoader and BuildCache, in process on SQLite in a temporary folder: what a load holds
for each environment, what a change reloads (only what the change feed names), and how the
files of builds are loaded when first asked for and let go past --build-cache-files."""

from __future__ import annotations

import asyncio
from pathlib import Path

from helpers import run_coroutine
from worldkit import ACCOUNT_SID, AUTH_TOKEN, deploy, make_context

from assethost.config import EdgeOptions
from assethost.core import accounts, builds, environments, live, resources, services
from assethost.edge.runtime import Edge
from assethost.edge.snapshot import BuildFiles, Site, Snapshot, SnapshotLoader

OPTIONS = EdgeOptions(memory_file_limit=10)


def loaded(snapshot: Snapshot, domain: str) -> BuildFiles:
    """The files of the domain's build, loaded as a first request would."""
    site = snapshot.sites[domain]
    assert site.build_sid is not None and snapshot.builds is not None
    build = snapshot.builds.load(site.build_sid)
    assert build is not None
    return build


def test_a_load_holds_every_environment_and_its_files(tmp_path):
    ctx = make_context(tmp_path)
    shop = deploy(ctx, "shop", {"/a.txt": (b"0123456789", "public"), "/big.bin": (b"x" * 11, "protected"),
                                "/p.txt": (b"private", "private")})
    empty = environments.create(ctx, ACCOUNT_SID, shop.service_sid, "staging", "stage")
    snapshot = SnapshotLoader(ctx, OPTIONS).load(Snapshot())
    with ctx.meta.read() as tx:
        generation = tx.generation()
    assert snapshot.generation == generation
    site = snapshot.sites[shop.domain]
    assert (site.environment_sid, site.service_sid, site.account_sid, site.auth_token) == (
        shop.environment_sid, shop.service_sid, ACCOUNT_SID, AUTH_TOKEN)
    assert site.build_sid == shop.build_sid
    assert snapshot.files(site) is None  # loaded when first asked for, not at the load
    build = loaded(snapshot, shop.domain)
    assert snapshot.files(site) is build and build.build_sid == shop.build_sid
    assert sorted(build.served) == ["/a.txt", "/big.bin"]
    assert sorted(build.private) == ["/p.txt"]
    small, big = build.served["/a.txt"], build.served["/big.bin"]
    assert small.body == b"0123456789"  # at the memory limit: in memory
    assert big.body is None  # over it: sent from its blob
    assert Path(big.file).read_bytes() == b"x" * 11
    assert big.visibility == "protected"
    assert big.etag == f'"{big.blob_hash[:32]}"'
    staging = snapshot.sites[f"{shop.domain_base}-stage.localhost"]
    assert staging.environment_sid == empty.sid and staging.build_sid is None


def test_a_reload_reuses_the_files_of_unchanged_versions(tmp_path):
    ctx = make_context(tmp_path)
    shop = deploy(ctx, "shop", {"/a.txt": (b"a" * 20, "public"), "/b.txt": (b"b" * 20, "public")})
    loader = SnapshotLoader(ctx, OPTIONS)
    first = loader.load(Snapshot())
    old = loaded(first, shop.domain)
    again = loader.load(first)
    assert again is first  # nothing changed: the same snapshot
    assert loaded(again, shop.domain) is old  # same build: not read again

    with ctx.meta.read() as tx:
        kept = [e.version_sid for e in builds.entries(tx, shop.build_sid) if e.path == "/a.txt"]
    asset = resources.create(ctx, ACCOUNT_SID, shop.service_sid, "asset", "c")
    digest, size = ctx.blobs.put(b"c" * 20)
    added = resources.add_version(ctx, ACCOUNT_SID, shop.service_sid, "asset", asset.sid, "/c.txt", "public",
                                  digest, size, None)
    build, _ = builds.create(ctx, ACCOUNT_SID, shop.service_sid, kept + [added.sid], [], None, None)
    assert builds.finish(ctx, build.sid) == "completed"
    environments.deploy(ctx, ACCOUNT_SID, shop.service_sid, shop.environment_sid, build.sid)
    deployed = loader.load(again)
    new = deployed.builds.get(build.sid)  # loaded by the reload, since the old build was loaded
    assert new is not None and new.build_sid == build.sid
    assert deployed.builds.get(shop.build_sid) is None  # no site serves it: let go
    assert sorted(new.served) == ["/a.txt", "/c.txt"]
    assert new.served["/a.txt"] is old.served["/a.txt"]  # the same version: prepared once


def test_a_variable_change_is_a_new_generation_whose_reload_reads_no_build_again(tmp_path):
    ctx = make_context(tmp_path)
    shop = deploy(ctx, "shop", {"/a.txt": (b"a" * 20, "public")})
    loader = SnapshotLoader(ctx, OPTIONS)
    first = loader.load(Snapshot())
    build = loaded(first, shop.domain)
    loads = loader.builds.loads
    args = (ctx, ACCOUNT_SID, shop.service_sid, shop.environment_sid)

    def reload(previous: Snapshot) -> Snapshot:
        snapshot = loader.load(previous)
        assert snapshot.generation == previous.generation + 1
        assert loaded(snapshot, shop.domain) is build and loader.builds.loads == loads  # not read again
        return snapshot

    sid = environments.create_variable(*args, "GREETING", "hello").sid
    created = reload(first)
    environments.update_variable(*args, sid, None, "bonjour")
    updated = reload(created)
    environments.delete_variable(*args, sid)
    previous = reload(updated)
    assert [s.sites[shop.domain].variables for s in (created, updated, previous)] == [
        {"GREETING": "hello"}, {"GREETING": "bonjour"}, {}]
    environments.update_variable(*args, environments.create_variable(*args, "K", "v").sid, None, None)
    assert loader.load(previous).generation == previous.generation + 1  # the create; an empty update is none


def test_include_credentials_changes_reach_the_snapshot(tmp_path):
    ctx = make_context(tmp_path)
    shop = deploy(ctx, "shop", {"/a.txt": (b"a" * 20, "public")})
    loader = SnapshotLoader(ctx, OPTIONS)
    first = loader.load(Snapshot())
    before = first.sites[shop.domain].include_credentials
    services.update(ctx, ACCOUNT_SID, shop.service_sid, "renamed", None, None)
    renamed = loader.load(first)
    assert renamed.generation == first.generation  # a name is nothing the edge serves
    services.update(ctx, ACCOUNT_SID, shop.service_sid, None, str(not before).lower(), None)
    changed = loader.load(renamed)
    assert changed.generation == first.generation + 1
    assert changed.sites[shop.domain].include_credentials is (not before)


def test_a_build_whose_blob_is_gone_is_not_served_and_the_others_are(tmp_path):
    ctx = make_context(tmp_path)
    broken = deploy(ctx, "broken", {"/gone.bin": (b"g" * 20, "public")})
    fine = deploy(ctx, "fine", {"/here.bin": (b"h" * 20, "public")})
    with ctx.meta.read() as tx:
        gone = builds.entries(tx, broken.build_sid)[0].blob_hash
    ctx.blobs.local_path(gone).unlink()
    snapshot = SnapshotLoader(ctx, OPTIONS).load(Snapshot())
    assert snapshot.builds is not None
    assert snapshot.builds.load(broken.build_sid) is None
    assert sorted(loaded(snapshot, fine.domain).served) == ["/here.bin"]


def test_domains_are_completed_with_the_current_base_domain(tmp_path):
    ctx = make_context(tmp_path)
    shop = deploy(ctx, "shop", {"/a.txt": (b"a", "public")})
    moved = make_context(tmp_path, base_domain="assets.example")  # the same store, restarted
    snapshot = SnapshotLoader(moved, OPTIONS).load(Snapshot())
    assert list(snapshot.sites) == [f"{shop.domain_base}-dev.assets.example"]
    assert snapshot.sites[f"{shop.domain_base}-dev.assets.example"].environment_sid == shop.environment_sid


def test_the_edge_claims_the_hosts_its_snapshot_serves_and_subdomains_of_the_base_domain(tmp_path):
    ctx = make_context(tmp_path)
    edge = Edge(ctx, "localhost")
    edge.snapshot = Snapshot(sites={"www.shop.example": Site(
        domain="www.shop.example", environment_sid="ZE", service_sid="ZS", account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN, build_sid=None)})
    assert edge.claims("WWW.Shop.Example:8443")  # a domain not under the base domain reaches the edge
    assert edge.claims("anything.localhost:8080")
    assert not edge.claims("localhost:8080")
    assert not edge.claims("127.0.0.1:8080")
    assert not edge.claims("shop.example")


def test_files_beyond_the_memory_budget_are_served_from_disk_and_a_dropped_build_gives_its_share_back(tmp_path):
    ctx = make_context(tmp_path)
    files = {f"/{name}.txt": (name.encode() * 100, "public") for name in ("a", "b", "c")}  # 100 bytes each
    shop = deploy(ctx, "shop", files)
    edge = Edge(ctx, "localhost", EdgeOptions(memory_file_limit=1000, memory_budget=250))
    loader = edge.loader
    first = loader.load(Snapshot())
    served = loaded(first, shop.domain).served
    in_memory = sorted(path for path, entry in served.items() if entry.body is not None)
    assert len(in_memory) == 2  # 200 of the 250 bytes; a third file would pass the budget
    (on_disk,) = sorted(set(served) - set(in_memory))
    assert served[on_disk].body is None and Path(served[on_disk].file).read_bytes() == files[on_disk][0]
    edge.snapshot = first
    for path, (data, _) in files.items():
        reply = edge.responder.answer("GET", "http", path, "", {b"host": shop.domain.encode()}, None)
        assert reply.status == 200
        assert (Path(reply.file).read_bytes() if reply.file is not None else reply.body) == data

    # Another service's build replaces nothing here, but when shop's build is undeployed its
    # memory is free again for the next load.
    environments.deploy(ctx, ACCOUNT_SID, shop.service_sid, shop.environment_sid, None)
    other = deploy(ctx, "other", {f"/{n}.txt": (n.encode() * 100, "public") for n in ("x", "y")})
    second = loader.load(first)
    assert loader.builds.memory_bytes == 0
    assert all(e.body is not None for e in loaded(second, other.domain).served.values())


def test_redeploys_that_keep_files_stay_within_the_memory_budget(tmp_path):
    """Each redeploy keeps every file and adds one: the reused bodies count against the budget too
    (they used to be free once their first build was no longer deployed: 600 bytes held of 150)."""
    ctx = make_context(tmp_path)
    shop = deploy(ctx, "shop", {"/f0.txt": (b"0" * 100, "public")})
    loader = SnapshotLoader(ctx, EdgeOptions(memory_file_limit=1000, memory_budget=150))
    snapshot = loader.load(Snapshot())
    loaded(snapshot, shop.domain)
    build_sid = shop.build_sid
    for i in range(1, 6):
        with ctx.meta.read() as tx:
            kept = [e.version_sid for e in builds.entries(tx, build_sid)]
        asset = resources.create(ctx, ACCOUNT_SID, shop.service_sid, "asset", f"f{i}")
        digest, size = ctx.blobs.put(str(i).encode() * 100)
        added = resources.add_version(ctx, ACCOUNT_SID, shop.service_sid, "asset", asset.sid, f"/f{i}.txt",
                                      "public", digest, size, None)
        build, _ = builds.create(ctx, ACCOUNT_SID, shop.service_sid, kept + [added.sid], [], None, None)
        assert builds.finish(ctx, build.sid) == "completed"
        environments.deploy(ctx, ACCOUNT_SID, shop.service_sid, shop.environment_sid, build.sid)
        build_sid = build.sid
        snapshot = loader.load(snapshot)
        served = loaded(snapshot, shop.domain).served
        assert sum(len(e.body) for e in served.values() if e.body is not None) == 100  # one body fits in 150
        assert sorted(served) == [f"/f{n}.txt" for n in range(i + 1)]
        assert all(Path(e.file).read_bytes() == str(n).encode() * 100 for n, e in enumerate(served.values()))


def test_a_change_reloads_only_the_environments_the_feed_names(tmp_path):
    ctx = make_context(tmp_path)
    shop = deploy(ctx, "shop", {"/a.txt": (b"a" * 20, "public")})
    other = deploy(ctx, "other", {"/b.txt": (b"b" * 20, "public")})
    loader = SnapshotLoader(ctx, OPTIONS)
    first = loader.load(Snapshot())
    assert (loader.full_loads, loader.environments_loaded) == (1, 2)
    environments.create_variable(ctx, ACCOUNT_SID, shop.service_sid, shop.environment_sid, "K", "v")
    second = loader.load(first)
    assert (loader.full_loads, loader.environments_loaded) == (1, 3)  # shop's site alone was read again
    assert second.sites[other.domain] is first.sites[other.domain]
    assert second.sites[shop.domain] is not first.sites[shop.domain]
    assert second.sites[shop.domain].variables == {"K": "v"}

    staging = environments.create(ctx, ACCOUNT_SID, other.service_sid, "staging", "stage")
    third = loader.load(second)
    assert loader.environments_loaded == 4
    assert third.sites[f"{other.domain_base}-stage.localhost"].environment_sid == staging.sid
    environments.delete(ctx, ACCOUNT_SID, other.service_sid, staging.sid)
    assert sorted(loader.load(third).sites) == sorted([shop.domain, other.domain])


def test_a_token_rotation_reloads_the_accounts_sites_and_a_service_change_its_own(tmp_path):
    ctx = make_context(tmp_path)
    shop = deploy(ctx, "shop", {"/a.txt": (b"a" * 20, "public")})
    mine = accounts.create_account(ctx.meta, "Other")
    theirs = services.create(ctx, mine.account_sid, "theirs", "theirs", None, None)
    elsewhere = environments.create(ctx, mine.account_sid, theirs.sid, "production", None)
    loader = SnapshotLoader(ctx, OPTIONS)
    first = loader.load(Snapshot())
    domain = f"{theirs.domain_base}.localhost"
    assert first.sites[domain].environment_sid == elsewhere.sid
    rotated = accounts.rotate_token(ctx.meta, ACCOUNT_SID)
    second = loader.load(first)
    assert second.sites[shop.domain].auth_token == rotated.secret
    assert second.sites[domain] is first.sites[domain]  # another account's site: untouched
    services.update(ctx, mine.account_sid, theirs.sid, None, "false", None)
    third = loader.load(second)
    assert third.sites[domain].include_credentials is False
    assert third.sites[shop.domain] is second.sites[shop.domain]
    assert loader.full_loads == 1


def test_a_process_behind_a_pruned_feed_reloads_everything(tmp_path):
    ctx = make_context(tmp_path)
    shop = deploy(ctx, "shop", {"/a.txt": (b"a" * 20, "public")})
    loader = SnapshotLoader(ctx, OPTIONS)
    first = loader.load(Snapshot())
    args = (ctx, ACCOUNT_SID, shop.service_sid, shop.environment_sid)
    sid = environments.create_variable(*args, "K", "one").sid
    environments.update_variable(*args, sid, None, "two")
    assert live.prune(ctx.meta, 1) >= 1  # the change after `first` is gone: the feed cannot say
    second = loader.load(first)
    assert loader.full_loads == 2
    assert second.sites[shop.domain].variables == {"K": "two"}
    with ctx.meta.read() as tx:
        assert second.generation == tx.generation()
        assert [c.generation for c in tx.changes_after(0, 10)] == [second.generation]


def test_builds_past_the_file_bound_are_let_go_and_load_again_when_asked_for(tmp_path):
    ctx = make_context(tmp_path)
    sites = [deploy(ctx, f"s{i}", {f"/{i}.txt": (str(i).encode() * 10, "public"),
                                   f"/{i}.css": (b"p{}" * 10, "public")}) for i in range(4)]
    edge = Edge(ctx, "localhost", EdgeOptions(build_cache_files=4))  # two builds of two files
    edge.reload()
    for _ in range(2):
        for i, site in enumerate(sites):
            build = edge.builds.load(site.build_sid)
            assert build is not None and build.served[f"/{i}.txt"].body == str(i).encode() * 10
            assert edge.builds.files <= 4 and len(edge.builds.builds()) <= 2
    assert edge.builds.evictions == 6  # every load but the first two let one go
    assert [b.build_sid for b in edge.builds.builds()] == [sites[2].build_sid, sites[3].build_sid]


def test_requests_for_a_cold_build_share_one_load_and_each_gets_its_own_answer(tmp_path):
    ctx = make_context(tmp_path)
    shop = deploy(ctx, "shop", {"/a.txt": (b"a" * 20, "public"), "/b.txt": (b"b" * 20, "public")})
    edge = Edge(ctx, "localhost")
    edge.reload()
    wire = {b"host": shop.domain.encode()}

    async def main() -> list[tuple[int, bytes]]:
        replies = [edge.responder.answer("GET", "http", path, "", wire, None) for path in ("/a.txt", "/b.txt") * 3]
        assert all(r.load == shop.build_sid for r in replies)  # cold: each waits for the load
        answers = await asyncio.gather(*(edge.warm(r) for r in replies))
        return [(a.status, a.body) for a in answers]

    assert run_coroutine(main()) == [(200, b"a" * 20), (200, b"b" * 20)] * 3
    assert edge.builds.loads == 1


def test_a_request_for_a_cold_build_whose_answer_fails_gets_a_500(tmp_path):
    ctx = make_context(tmp_path)
    shop = deploy(ctx, "shop", {"/a.txt": (b"a" * 20, "public")})
    edge = Edge(ctx, "localhost")
    edge.reload()
    reply = edge.responder.answer("GET", "http", "/a.txt", "", {b"host": shop.domain.encode()}, None)
    assert reply.load == shop.build_sid

    def fails(build: BuildFiles | None) -> None:
        raise ValueError("a fault of the responder")  # e.g. an input it did not expect

    reply.again = fails
    answer = run_coroutine(edge.warm(reply))
    assert (answer.status, answer.body) == (500, b"Internal Server Error\n")
    assert edge.builds.loads == 1
