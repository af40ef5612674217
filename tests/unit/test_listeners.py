"""A listener that fails after a committed change (the edge's reload) is logged, and the change
stands: the caller gets its deployment, not an error it would retry into a 409."""

from __future__ import annotations

import logging

from assethost.app import open_context
from assethost.config import Settings
from assethost.core import accounts, builds, environments, resources, services


def test_a_failing_listener_neither_undoes_nor_fails_a_deploy(tmp_path, caplog):
    ctx = open_context(Settings(data_dir=tmp_path))
    try:
        account = accounts.create_account(ctx.meta).account_sid
        service = services.create(ctx, account, "listen", "Listen", None, None)
        env = environments.create(ctx, account, service.sid, "dev", "dev")
        asset = resources.create(ctx, account, service.sid, "asset", "a")
        blob, size = ctx.blobs.put(b"hello")
        version = resources.add_version(ctx, account, service.sid, "asset", asset.sid, "/a.txt", "public", blob,
                                        size, "text/plain")
        build, _ = builds.create(ctx, account, service.sid, [version.sid], [], None, None)
        assert builds.finish(ctx, build.sid) == "completed"
        calls = []

        def broken() -> None:
            calls.append("broken")
            raise RuntimeError("reload failed")

        ctx.listeners += [broken, lambda: calls.append("next")]
        with caplog.at_level(logging.ERROR, logger="assethost"):
            deployment = environments.deploy(ctx, account, service.sid, env.sid, build.sid)

        assert deployment.build_sid == build.sid
        assert environments.get(ctx, account, service.sid, env.sid).build_sid == build.sid
        assert calls == ["broken", "next"]  # one failing listener does not starve the others
        assert [r.exc_info[1].args for r in caplog.records if r.exc_info] == [("reload failed",)]
    finally:
        ctx.meta.dispose()
