"""Folders of deleted builds are cleared away; folders of existing builds stay."""

from __future__ import annotations

from assethost.app import open_context
from assethost.core import accounts, builds, resources, services, sids
from assethost.settings import Settings


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
