"""Media at upload and on reading a version: inspect new content once, and tell what a version
is and how it fares under the telephony checks."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assethost.core import builds, checks, media, resources
from assethost.core.context import Context
from assethost.core.model import Build, Media, Version

if TYPE_CHECKING:  # core/ingest.py calls this module
    from assethost.core.ingest import Received

log = logging.getLogger("assethost.media")



def prepare(ctx: Context, received: Received, path: str, service_sid: str | None) -> media.Facts | None:
    """Before the upload is committed: inspect its bytes unless the same bytes were before.
    Returns the facts to remember once committed, or None if they are known."""
    digest = received.content.digest()
    with ctx.meta.read() as tx:
        if media.known(tx, digest) is not None:
            return None
    return media.inspect(received.content.spooled, received.content_type, path)


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


def describe(ctx: Context, version: Version) -> VersionMedia:
    with ctx.meta.read() as tx:
        facts = media.known(tx, version.blob_hash)
    results = checks.run(version.path, version.content_type, version.size, facts) if facts else []
    return VersionMedia(version, facts, results)


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
