"""Assets (Legacy): an account-level set of files, live as soon as they are uploaded, served at
`{account runtime domain}/assets/{filename}`.

They are kept in a hidden service of the account (kind "legacy") with one environment whose
domain is the account's runtime domain, so the edge serves them by the same rules as everything
else. Every upload or delete makes a new build of all files and deploys it at once. The
Serverless API never lists or accepts that service, and the legacy page never shows Serverless
files, as in Twilio's console.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from assethost.core import builds, clock, environments, limits, names, resources, services, sids
from assethost.core.context import Context
from assethost.core.errors import Invalid, NotFound
from assethost.core.model import Environment, Resource, Service, Version
from assethost.core.ports import Tx
from assethost.core.workspace import latest_versions

SERVICE_NAME = "_legacy"  # not a valid API unique name, so it can never clash with a user's
PREFIX = "/assets/"
_WORDS_A = ("amber", "brave", "calm", "dusty", "eager", "fuzzy", "gentle", "happy", "ivory", "jolly",
            "kind", "lucky", "mellow", "nimble", "olive", "proud", "quiet", "rusty", "sandy", "tidy")
_WORDS_B = ("otter", "heron", "lynx", "panda", "koala", "gecko", "bison", "crane", "dingo", "egret",
            "ferret", "gopher", "ibis", "jackal", "lemur", "marten", "newt", "okapi", "puffin", "quail")


@dataclass(frozen=True)
class LegacyFile:
    asset: Resource
    version: Version
    url: str | None  # None for private files: never served by URL


def _find(tx: Tx, account_sid: str) -> tuple[Service, Environment] | None:
    service = tx.services.get(account_sid=account_sid, unique_name=SERVICE_NAME, kind="legacy")
    if service is None:
        return None
    return service, tx.environments.one(service_sid=service.sid)  # made with the service


def _find_or_create(ctx: Context, tx: Tx, account_sid: str) -> tuple[Service, Environment]:
    return _find(tx, account_sid) or _create(ctx, tx, account_sid)


def _create(ctx: Context, tx: Tx, account_sid: str) -> tuple[Service, Environment]:
    base = services.domain_base(tx, f"{random.choice(_WORDS_A)}-{random.choice(_WORDS_B)}")
    now = clock.now()
    service_sid, env_sid = sids.new(sids.SERVICE), sids.new(sids.ENVIRONMENT)
    tx.services.insert(sid=service_sid, account_sid=account_sid, unique_name=SERVICE_NAME,
        friendly_name="Assets (Legacy)", include_credentials=False, ui_editable=False, domain_base=base,
        kind="legacy", date_created=now, date_updated=now,
    )
    tx.environments.insert(sid=env_sid, account_sid=account_sid, service_sid=service_sid, unique_name="legacy",
        domain_suffix=None, domain_label=environments.domain_label(base, None), build_sid=None,
        date_created=now, date_updated=now,
    )
    return tx.services.one(sid=service_sid), tx.environments.one(sid=env_sid)


def runtime_domain(ctx: Context, account_sid: str) -> str:
    """The account's runtime domain, made on first use."""
    with ctx.meta.write() as tx:
        return environments.domain_name(_find_or_create(ctx, tx, account_sid)[1].domain_label, ctx.base_domain)


def files(ctx: Context, account_sid: str, origin: str) -> list[LegacyFile]:
    """origin: how URLs start, e.g. `http://{domain}:8080` (the caller knows scheme and port)."""
    with ctx.meta.read() as tx:
        found = _find(tx, account_sid)
        if found is None:
            return []
        service = found[0]
        latest = latest_versions(tx, service.sid, "asset")
        rows = tx.resources.select(service_sid=service.sid, kind="asset")
    out = []
    for asset in rows:
        version = latest.get(asset.sid)
        if version is not None:
            url = None if version.visibility == "private" else origin + version.path
            out.append(LegacyFile(asset=asset, version=version, url=url))
    return out


def check_filename(filename: str | None) -> str:
    """A file name is one segment of a path under /assets/, by the API's path rule
    (`names.version_path`): `café ü.txt` is as valid here as in the Serverless API."""
    filename = names.required(filename, "filename").strip()
    if "/" in filename or "\\" in filename:
        raise Invalid(f"The file name {filename!r} is not allowed: it may not contain / or \\")
    names.version_path(PREFIX + filename)
    return filename


def _visibility(tx: Tx, account_sid: str, filename: str, visibility: str | None) -> str:
    """The visibility asked for, or else the one of the file it replaces (else public)."""
    if visibility:
        return names.visibility(visibility)
    found = _find(tx, account_sid)
    if found is not None:
        existing = next((r for r in tx.resources.select(service_sid=found[0].sid, kind="asset")
                         if r.friendly_name == filename), None)
        if existing is not None:
            current = latest_versions(tx, found[0].sid, "asset").get(existing.sid)
            if current is not None:
                return current.visibility
    return "public"


def _check_counts(ctx: Context, tx: Tx, service_sid: str, replacing: str | None, visibility: str, path: str) -> None:
    latest = latest_versions(tx, service_sid, "asset")
    count = sum(1 for sid, v in latest.items() if v.visibility == visibility and sid != replacing)
    limit = ctx.limits.max_private_versions if visibility == "private" else ctx.limits.max_public_versions
    if count + 1 > limit:
        raise Invalid(f"{path} cannot be added: Assets (Legacy) holds at most {limit} {visibility} files; "
                      f"there are {count} already")


def check_upload(
    ctx: Context, account_sid: str, filename: str | None, visibility: str | None, size: int,
) -> tuple[str, str]:
    """Check a file before its bytes are stored, its room among the account's files included.
    Without a visibility, a file that replaces another keeps that one's. Returns (filename,
    visibility)."""
    filename = check_filename(filename)
    with ctx.meta.read() as tx:
        visibility = _visibility(tx, account_sid, filename, visibility)
        limits.check_file(ctx.limits, "asset", visibility, PREFIX + filename, size)
        found = _find(tx, account_sid)
        if found is not None:
            _check_room(ctx, tx, found[0].sid, filename, visibility)
    return filename, visibility


def _check_room(ctx: Context, tx: Tx, service_sid: str, filename: str, visibility: str) -> str | None:
    """Refuses a file past the count limit; returns the SID of the asset it replaces, if any."""
    existing = next((r for r in tx.resources.select(service_sid=service_sid, kind="asset")
                     if r.friendly_name == filename), None)
    _check_counts(ctx, tx, service_sid, existing.sid if existing else None, visibility, PREFIX + filename)
    return existing.sid if existing else None


def upload(
    ctx: Context, account_sid: str, filename: str, visibility: str | None, blob_hash: str, size: int,
    declared_type: str | None,
) -> Version:
    """Add (or replace) a file and make it live at once. The blob must already be stored (and
    `check_upload` passed: the room is checked again here, against uploads made meanwhile)."""
    filename = check_filename(filename)
    visibility = names.visibility(visibility)
    limits.check_file(ctx.limits, "asset", visibility, PREFIX + filename, size)
    path = PREFIX + filename
    with ctx.meta.write() as tx:
        service, _ = _find_or_create(ctx, tx, account_sid)
        existing = _check_room(ctx, tx, service.sid, filename, visibility)
        now = clock.now()
        if existing is None:
            asset_sid = sids.new(sids.RESOURCE)
            tx.resources.insert(sid=asset_sid, account_sid=account_sid, service_sid=service.sid, kind="asset",
                      friendly_name=filename, date_created=now, date_updated=now)
        else:
            asset_sid = existing
        version_sid = sids.new(sids.VERSION)
        tx.versions.insert(sid=version_sid, account_sid=account_sid, service_sid=service.sid, resource_sid=asset_sid,
            kind="asset", path=path, visibility=visibility, blob_hash=blob_hash, size=size,
            content_type=resources.content_type(declared_type, path), date_created=now,
        )
        version = tx.versions.one(sid=version_sid)
    _publish(ctx, account_sid)
    return version


def delete(ctx: Context, account_sid: str, asset_sid: str) -> None:
    with ctx.meta.write() as tx:
        found = _find(tx, account_sid)
        row = tx.resources.get(sid=asset_sid, service_sid=found[0].sid) if found is not None else None
        if row is None:
            raise NotFound(f"No legacy asset {asset_sid}")
        tx.resources.delete(sid=row.sid)
    _publish(ctx, account_sid)


def _publish(ctx: Context, account_sid: str) -> None:
    """Deploy a build of every file's latest version (or nothing, when no file is left)."""
    with ctx.meta.write() as tx:
        service, env = _find_or_create(ctx, tx, account_sid)
        rows = list(latest_versions(tx, service.sid, "asset").values())
        build = builds.freeze(ctx, tx, service, rows, [], builds.DEFAULT_RUNTIME) if rows else None
    if build is not None and builds.finish(ctx, build.sid) != "completed":
        raise Invalid("The files could not be published: stored content is missing")
    with ctx.meta.write() as tx:
        service, env = _find_or_create(ctx, tx, account_sid)
        if env.build_sid != (build.sid if build else None):
            environments.switch(tx, service, env, build.sid if build else None)
    ctx.changed()
