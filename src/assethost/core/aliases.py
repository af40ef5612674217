"""Immutable aliases: a second URL for each served asset that names its content
(`/greeting~<short hash>.mp3`), so that a changed file gets a new URL and no cache (Twilio's
media proxy among them) replays the old bytes. An alias is valid as long as a live build serves
that content at that path; the edge serves it with a year-long, immutable Cache-Control."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from assethost.core.model import Version
from assethost.core.ports import Tx

SHORT_HASH = 12  # hex digits of the SHA-256: 48 bits, never ambiguous between two files of one path
CACHE_CONTROL_PUBLIC = "public, max-age=31536000, immutable"
# A protected file must not sit in a shared cache, which would hand it out without a signature.
CACHE_CONTROL_PROTECTED = "private, max-age=31536000, immutable"


def alias_path(path: str, blob_hash: str) -> str:
    """`/dir/greeting.mp3` → `/dir/greeting~0123456789ab.mp3` (the extension stays last, so the
    type served is the same)."""
    folder, name = posixpath.split(path)
    stem, ext = posixpath.splitext(name)
    return posixpath.join(folder, f"{stem or name}~{blob_hash[:SHORT_HASH]}{ext if stem else ''}")


@dataclass(frozen=True)
class LiveAlias:
    domain_label: str  # of the first environment (by creation) whose live build serves the content
    path: str


def live_alias(tx: Tx, version: Version) -> LiveAlias | None:
    """Where the version's content is live under its path, if anywhere (private assets never are)."""
    if version.kind != "asset" or version.visibility == "private":
        return None
    environments = [e for e in tx.environments.select(service_sid=version.service_sid) if e.build_sid]
    if not environments:
        return None
    holding = {e.build_sid for e in tx.build_entries.select_in(
        "build_sid", sorted({env.build_sid for env in environments if env.build_sid}),
        path=version.path, blob_hash=version.blob_hash, kind="asset", visibility=version.visibility,
    )}
    for env in environments:
        if env.build_sid in holding:
            return LiveAlias(env.domain_label, alias_path(version.path, version.blob_hash))
    return None
