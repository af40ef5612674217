"""What the console's Assets pane shows and does: every asset with its latest version and
whether that version is live, Deploy All, and a change of visibility."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from assethost.core import builds, environments, limits, names, resources, services
from assethost.core.context import Context
from assethost.core.errors import Invalid, NotFound
from assethost.core.model import Deployment, Resource, Version
from assethost.core.ports import Tx

log = logging.getLogger("assethost.workspace")


@dataclass(frozen=True)
class AssetStatus:
    asset: Resource
    version: Version | None  # the latest version, if any was uploaded
    live: bool  # that latest version is part of the environment's deployed build


def latest_versions(tx: Tx, service_sid: str, kind: str | None = None) -> dict[str, Version]:
    """resource SID → its newest version."""
    where = {"service_sid": service_sid} | ({"kind": kind} if kind else {})
    latest: dict[str, Version] = {}
    for row in tx.versions.select(**where):  # in creation order: the last one wins
        latest[row.resource_sid] = row
    return latest


def assets(ctx: Context, account_sid: str, service_ref: str, environment_sid: str | None) -> list[AssetStatus]:
    with ctx.meta.read() as tx:
        service = services.find(tx, account_sid, service_ref)
        live: set[str] = set()
        if environment_sid:
            _, env = environments.find(tx, account_sid, service.sid, environment_sid)
            if env.build_sid:
                live = {e.version_sid for e in builds.entries(tx, env.build_sid)}
        latest = latest_versions(tx, service.sid, "asset")
        rows = tx.resources.select(service_sid=service.sid, kind="asset")
    return [
        AssetStatus(asset=r, version=latest.get(r.sid), live=r.sid in latest and latest[r.sid].sid in live)
        for r in rows
    ]


def deploy_all(ctx: Context, account_sid: str, service_ref: str, environment_sid: str) -> Deployment | None:
    """Build the latest version of every asset and function and deploy it to the environment.
    Returns the deployment, or None when exactly that is live already."""
    with ctx.meta.write() as tx:
        service = services.find(tx, account_sid, service_ref)
        _, env = environments.find(tx, account_sid, service.sid, environment_sid)
        rows = list(latest_versions(tx, service.sid).values())
        if not rows:
            raise Invalid("Nothing to deploy yet: upload a file first")
        if env.build_sid and {e.version_sid for e in builds.entries(tx, env.build_sid)} == {r.sid for r in rows}:
            return None
        build = builds.freeze(ctx, tx, service, rows, [], builds.DEFAULT_RUNTIME)
    status = builds.finish(ctx, build.sid)
    if status != "completed":
        raise Invalid(f"Build {build.sid} failed; nothing was deployed")
    return environments.deploy(ctx, account_sid, service.sid, env.sid, build.sid)


def set_visibility(ctx: Context, account_sid: str, service_ref: str, asset_sid: str, visibility: str) -> Version:
    """A new version of the asset with the same bytes and path and another visibility."""
    with ctx.meta.read() as tx:
        service, asset = resources.find(tx, account_sid, service_ref, "asset", asset_sid)
        current = latest_versions(tx, service.sid, "asset").get(asset.sid)
    if current is None:
        raise Invalid(f"Asset {asset_sid} has no version yet")
    return resources.add_version_from_content(
        ctx, account_sid, service.sid, "asset", asset.sid, current.path, visibility, current.blob_hash,
        current.content_type,
    )


def check_room(
    ctx: Context, account_sid: str, service_ref: str, path: str, visibility: str, size: int,
    replacing: str | None = None,
) -> str | None:
    """Would Deploy All still fit the build limits with this file? The console, like Twilio's,
    puts every asset into the build, so it refuses files beyond the limits up front. Returns the
    SID of the asset that already has this path, if any: the file becomes its new version."""
    limits.check_file(ctx.limits, "asset", visibility, path, size)
    statuses = assets(ctx, account_sid, service_ref, None)
    same_path = next((s.asset.sid for s in statuses if s.version is not None and s.version.path == path), None)
    if replacing is None:
        replacing = same_path
    elif same_path is not None and same_path != replacing:
        raise Invalid(f"Another asset already has the path {path}")
    entries = [("asset", s.version.visibility, s.version.path, s.version.size)
               for s in statuses if s.version is not None and s.asset.sid != replacing]
    entries.append(("asset", visibility, path, size))
    try:
        limits.check_build(ctx.limits, entries)
    except Invalid as exc:
        raise Invalid(f"{path} cannot be added: {exc.message}") from None
    return same_path


def add_file(
    ctx: Context, account_sid: str, service_ref: str, path: str, visibility: str, blob_hash: str, size: int,
    declared_type: str | None,
) -> Version:
    """A file uploaded in the console: a new asset, or a new version of the asset with that path."""
    existing = check_room(ctx, account_sid, service_ref, path, visibility, size)
    if existing is None:
        existing = resources.create(ctx, account_sid, service_ref, "asset", path).sid
    return resources.add_version(ctx, account_sid, service_ref, "asset", existing, path, visibility, blob_hash,
                                 size, declared_type)


def change_visibility(
    ctx: Context, account_sid: str, service_ref: str, asset_sid: str, visibility: str,
) -> Version:
    """set_visibility, refused when the file would break a limit under its new visibility."""
    visibility = names.visibility(visibility)
    current = next((s for s in assets(ctx, account_sid, service_ref, None) if s.asset.sid == asset_sid), None)
    if current is None:
        raise NotFound(f"No asset {asset_sid} in this service")
    if current.version is None:
        raise Invalid(f"Asset {current.asset.friendly_name} has no version yet")
    check_room(ctx, account_sid, service_ref, current.version.path, visibility, current.version.size,
               replacing=asset_sid)
    return set_visibility(ctx, account_sid, service_ref, asset_sid, visibility)
