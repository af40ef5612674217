"""What the console's Assets pane shows and does: every asset with its latest version and
whether that version is live, Deploy All, and a change of visibility."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from assethost.core import builds, environments, resources, services
from assethost.core.context import Context
from assethost.core.errors import Invalid
from assethost.store.meta import Tx

log = logging.getLogger("assethost.workspace")


@dataclass(frozen=True)
class AssetStatus:
    asset: Any
    version: Any | None  # the latest version, if any was uploaded
    live: bool  # that latest version is part of the environment's deployed build


def latest_versions(tx: Tx, service_sid: str, kind: str | None = None) -> dict[str, Any]:
    """resource SID → its newest version."""
    where = {"service_sid": service_sid} | ({"kind": kind} if kind else {})
    latest: dict[str, Any] = {}
    for row in tx.select("versions", **where):  # in creation order: the last one wins
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
        rows = tx.select("resources", service_sid=service.sid, kind="asset")
    return [
        AssetStatus(asset=r, version=latest.get(r.sid), live=r.sid in latest and latest[r.sid].sid in live)
        for r in rows
    ]


def deploy_all(ctx: Context, account_sid: str, service_ref: str, environment_sid: str) -> Any | None:
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


def set_visibility(ctx: Context, account_sid: str, service_ref: str, asset_sid: str, visibility: str) -> Any:
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
