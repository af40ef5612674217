"""Immutable aliases: a second URL for each served asset that names its content
(`/greeting~<short hash>.mp3`), so that a changed file gets a new URL and no cache (Twilio's
media proxy among them) replays the old bytes. An alias is valid as long as a live build serves
that content at that path; the edge serves it with a year-long, immutable Cache-Control."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from assethost.core.model import BuildEntry, Version
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
    return live_aliases(tx, [version]).get(version.sid)


def live_aliases(tx: Tx, versions: list[Version]) -> dict[str, LiveAlias]:
    """live_alias of many versions at once (a page of the console's Assets pane), in one read of
    the live builds' entries: version SID → its alias, for those a live build holds."""
    served = [v for v in versions if v.kind == "asset" and v.visibility != "private"]
    if not served:
        return {}
    service_sids = {v.service_sid for v in served}
    environments = [e for sid in sorted(service_sids) for e in tx.environments.select(service_sid=sid) if e.build_sid]
    if not environments:
        return {}
    build_sids = sorted({env.build_sid for env in environments if env.build_sid})
    if len(served) == 1:  # one version: only its own entries are read
        v = served[0]
        rows = tx.build_entries.select_in("build_sid", build_sids, path=v.path, blob_hash=v.blob_hash, kind="asset",
                                          visibility=v.visibility)
    else:
        rows = tx.build_entries.select_in("build_sid", build_sids, kind="asset")
    holding: dict[tuple[str, str, str], set[str]] = {}
    for e in rows:
        holding.setdefault((e.path, e.blob_hash, e.visibility), set()).add(e.build_sid)
    out = {}
    for v in served:
        builds = holding.get((v.path, v.blob_hash, v.visibility), set())
        env = next((e for e in environments if e.service_sid == v.service_sid and e.build_sid in builds), None)
        if env is not None:
            out[v.sid] = LiveAlias(env.domain_label, alias_path(v.path, v.blob_hash))
    return out


def changed_paths(before: list[BuildEntry], after: list[BuildEntry]) -> list[str]:
    """The served asset paths of build `after` whose bytes differ from build `before`'s at the same
    path (a URL a cache may still answer with the old bytes); new and removed paths are not
    changes of bytes. Sorted."""
    old = {e.path: e.blob_hash for e in before if e.kind == "asset" and e.visibility != "private"}
    return sorted(e.path for e in after if e.kind == "asset" and e.visibility != "private"
                  and e.path in old and old[e.path] != e.blob_hash)
