"""Media at upload and on reading a version: strip an image's metadata when asked, inspect new
content once, and tell what a version is, how it fares under the telephony checks and under which
immutable URL a live build serves it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assethost.core import aliases, builds, checks, media, resources, strip
from assethost.core.context import Context
from assethost.core.errors import Invalid, storage_refusal
from assethost.core.model import Build, Media, Version
from assethost.core.ports import BlobWriter, StorageError

if TYPE_CHECKING:  # core/ingest.py calls this module
    from assethost.core.ingest import Received

log = logging.getLogger("assethost.media")

STRIP_FIELD = "StripMetadata"
STRIP_SLACK = 1024  # what the kept Orientation tag may add to a stripped file


def wants_strip(ctx: Context, raw: str | None, service_sid: str | None) -> bool:
    """The upload's `StripMetadata` field, else its service's setting."""
    if raw is not None and raw.strip() != "":
        if raw.strip().lower() not in ("true", "false"):
            raise Invalid(f"{STRIP_FIELD} must be true or false (got {raw[:20]!r})")
        return raw.strip().lower() == "true"
    if service_sid is None:
        return False
    with ctx.meta.read() as tx:
        return checks.settings(tx, service_sid).strip_metadata


def prepare(ctx: Context, received: Received, path: str, service_sid: str | None) -> media.Facts | None:
    """Before the upload is committed: replace its bytes by the stripped ones when asked (so that
    they are what is hashed and stored), and inspect them unless the same bytes were before.
    Returns the facts to remember once committed, or None if they are known."""
    if wants_strip(ctx, received.fields.get(STRIP_FIELD), service_sid):
        _strip(ctx, received, path)
    digest = received.content.digest()
    with ctx.meta.read() as tx:
        if media.known(tx, digest) is not None:
            return None
    return media.inspect(received.content.spooled, received.content_type, path)


def _strip(ctx: Context, received: Received, path: str) -> None:
    facts = media.inspect(received.content.spooled, received.content_type, path)
    if facts.kind != "image" or facts.format not in strip.FORMATS:
        return
    try:
        cleaned: BlobWriter = ctx.blobs.writer(received.content.size + STRIP_SLACK)
    except StorageError as exc:
        raise storage_refusal(exc) from None
    try:
        changed = strip.strip(received.content.spooled, facts.format, cleaned.write)
    except strip.NotStrippable as exc:
        log.info("%s not stripped: %s", path, exc)
        changed = False
    except BaseException:
        cleaned.abort()
        raise
    if not changed:
        cleaned.abort()
        return
    received.content.abort()
    received.content = cleaned


def remember(ctx: Context, blob_hash: str, facts: media.Facts | None) -> None:
    if facts is None:
        return
    with ctx.meta.write() as tx:
        media.remember(tx, blob_hash, facts)


# --- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionMedia:
    version: Version
    media: Media | None  # None: content uploaded before media were inspected
    checks: list[checks.Result]
    immutable_url: aliases.LiveAlias | None


def describe(ctx: Context, version: Version) -> VersionMedia:
    with ctx.meta.read() as tx:
        facts = media.known(tx, version.blob_hash)
        alias = aliases.live_alias(tx, version)
    results = checks.run(version.path, version.content_type, version.size, facts) if facts else []
    return VersionMedia(version, facts, results, alias)


def describe_all(ctx: Context, versions: list[Version]) -> dict[str, VersionMedia]:
    """describe of many versions in one read (the console's Assets pane), by version SID."""
    with ctx.meta.read() as tx:
        known = {m.blob_hash: m for m in tx.media.select_in("blob_hash", sorted({v.blob_hash for v in versions}))}
        live = aliases.live_aliases(tx, versions)
    out = {}
    for v in versions:
        facts = known.get(v.blob_hash)
        results = checks.run(v.path, v.content_type, v.size, facts) if facts else []
        out[v.sid] = VersionMedia(v, facts, results, live.get(v.sid))
    return out


def get(ctx: Context, account_sid: str, service_ref: str, asset_sid: str, version_sid: str) -> VersionMedia:
    return describe(ctx, resources.get_version(ctx, account_sid, service_ref, "asset", asset_sid, version_sid))


def warnings(ctx: Context, version: Version) -> list[checks.Result]:
    """The checks an uploaded version fails (the upload's answer carries them)."""
    if version.kind != "asset":
        return []
    return checks.failures(describe(ctx, version).checks)


def build_summary(ctx: Context, account_sid: str, service_ref: str, sid: str) -> tuple[Build, list[checks.FileWarning]]:
    """A build with every served file of it that fails a media rule, and why."""
    with ctx.meta.read() as tx:
        _, row = builds.find(tx, account_sid, service_ref, sid)
        return row, checks.build_warnings(tx, builds.entries(tx, row.sid))
