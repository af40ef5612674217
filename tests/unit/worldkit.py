"""An assethost of one account in process: SQLite and a blob store in a temporary folder, and
deployments made with core's own operations (no server), for the edge's in-process tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from assethost.app import open_context
from assethost.config import Settings
from assethost.core import accounts, builds, environments, resources, services
from assethost.core.context import Context

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"


def make_context(folder: Path, base_domain: str = "localhost") -> Context:
    """A server's context on SQLite and a blob folder in `folder`, as `serve` assembles it, with
    the account ACCOUNT_SID."""
    ctx = open_context(Settings(data_dir=folder, base_domain=base_domain))
    accounts.ensure_account(ctx.meta, ACCOUNT_SID, AUTH_TOKEN)
    return ctx


@dataclass
class Deployed:
    service_sid: str
    domain_base: str
    environment_sid: str
    build_sid: str
    domain: str


def deploy(ctx: Context, name: str, files: dict[str, tuple[bytes, str]], suffix: str | None = "dev") -> Deployed:
    """A service `name` whose environment serves `files` ({path: (bytes, visibility)})."""
    service = services.create(ctx, ACCOUNT_SID, name, name, None, None)
    version_sids = []
    for path, (data, visibility) in files.items():
        asset = resources.create(ctx, ACCOUNT_SID, service.sid, "asset", path)
        digest, size = ctx.blobs.put(data)
        version = resources.add_version(ctx, ACCOUNT_SID, service.sid, "asset", asset.sid, path, visibility,
                                        digest, size, None)
        version_sids.append(version.sid)
    build, _ = builds.create(ctx, ACCOUNT_SID, service.sid, version_sids, [], None, None)
    assert builds.finish(ctx, build.sid) == "completed"
    env = environments.create(ctx, ACCOUNT_SID, service.sid, "production", suffix)
    environments.deploy(ctx, ACCOUNT_SID, service.sid, env.sid, build.sid)
    domain = environments.domain_name(environments.domain_label(service.domain_base, suffix), ctx.base_domain)
    return Deployed(service.sid, service.domain_base, env.sid, build.sid, domain)
