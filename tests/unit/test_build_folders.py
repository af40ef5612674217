"""Build folders: those of deleted builds and unused dependency sets are cleared away, those of
existing builds stay, and private assets in them cost no disk of their own."""

from __future__ import annotations

import json
import os
import time

import pytest

from assethost.app import open_context
from assethost.config import Settings
from assethost.core import accounts, builds, resources, services, sids
from assethost.functions.package import DEPS_GRACE_S, Packager


@pytest.fixture(autouse=True)
def _no_shared_twilio(monkeypatch):
    """No npm here: the twilio these builds would install for getTwilioClient() is the functions
    suite's to test (tests/functions/test_twilio_client.py)."""
    monkeypatch.setattr(Packager, "prepare_runtime", lambda self, wait=True: None)


def test_sweep_removes_only_folders_of_builds_that_are_gone(tmp_path):
    settings = Settings(data_dir=tmp_path)
    ctx = open_context(settings)
    packager = ctx.packagers["functions"]
    account = accounts.create_account(ctx.meta).account_sid
    service = services.create(ctx, account, "sweep", "Sweep", None, None)
    fn = resources.create(ctx, account, service.sid, "function", "/hello")
    blob, size = ctx.blobs.put(b"exports.handler = (c, e, cb) => cb(null, 'hi');\n")
    version = resources.add_version(ctx, account, service.sid, "function", fn.sid, "/hello", "public", blob, size,
                                    "application/javascript")
    build, _ = builds.create(ctx, account, service.sid, [], [version.sid], None, None)
    assert builds.finish(ctx, build.sid) == "completed"
    kept = packager.folder(build.sid)
    assert kept.is_dir()
    gone = packager.folder(sids.new(sids.BUILD))
    (gone / "functions").mkdir(parents=True)
    unrelated = packager.builds_root / "not-a-build"
    unrelated.mkdir()

    assert packager.sweep(ctx) == 1
    assert kept.is_dir() and not gone.exists() and unrelated.is_dir()

    builds.delete(ctx, account, service.sid, build.sid)
    assert packager.sweep(ctx) == 1
    assert not kept.exists()
    ctx.meta.dispose()


def test_private_assets_are_links_to_their_blobs_not_copies(tmp_path):
    settings = Settings(data_dir=tmp_path)
    ctx = open_context(settings)
    packager = ctx.packagers["functions"]
    account = accounts.create_account(ctx.meta).account_sid
    service = services.create(ctx, account, "links", "Links", None, None)
    fn = resources.create(ctx, account, service.sid, "function", "/hello")
    code, code_size = ctx.blobs.put(b"exports.handler = (c, e, cb) => cb(null, 'hi');\n")
    asset = resources.create(ctx, account, service.sid, "asset", "/secret.txt")
    secret, secret_size = ctx.blobs.put(b"private bytes\n" * 1000)
    versions = [resources.add_version(ctx, account, service.sid, "function", fn.sid, "/hello", "public", code,
                                      code_size, "application/javascript").sid,
                resources.add_version(ctx, account, service.sid, "asset", asset.sid, "/secret.txt", "private",
                                      secret, secret_size, "text/plain").sid]
    build, _ = builds.create(ctx, account, service.sid, [versions[1]], [versions[0]], None, None)
    assert builds.finish(ctx, build.sid) == "completed"
    linked = packager.folder(build.sid) / "assets" / "secret.txt"
    assert linked.stat().st_ino == ctx.blobs.local_path(secret).stat().st_ino
    assert linked.stat().st_mode & 0o777 == 0o444
    ctx.meta.dispose()


def test_dependency_sets_no_build_uses_are_swept_once_old(tmp_path):
    settings = Settings(data_dir=tmp_path)
    ctx = open_context(settings)
    packager = ctx.packagers["functions"]
    deps = packager.deps_root
    old, fresh, used = "a" * 64, "b" * 64, "c" * 64
    for key in (old, fresh, used):
        (deps / key / "node_modules").mkdir(parents=True)
        (deps / key / ".complete").write_text("")
    (deps / f".tmp-{'d' * 64}-1234").mkdir()  # an install that crashed long ago
    (deps / f"{old}.lock").write_text("")
    (deps / ".npm-cache").mkdir()
    long_ago = time.time() - 2 * DEPS_GRACE_S
    for path in (deps / old, deps / used, deps / f".tmp-{'d' * 64}-1234"):
        os.utime(path, (long_ago, long_ago))
    kept = packager.folder(sids.new(sids.BUILD))
    kept.mkdir(parents=True)
    (kept / ".assethost-build.json").write_text(json.dumps({"dependencies": used}))

    packager._sweep_dependencies({kept.name})
    assert sorted(p.name for p in deps.iterdir()) == sorted([fresh, used, f"{old}.lock", ".npm-cache"])
    ctx.meta.dispose()
