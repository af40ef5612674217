"""The bulk deploy (assethost's extension, for its own CLI): a whole project in two requests, as
Netlify, Firebase and Cloudflare deploy.

1. The client sends a manifest (kind, path, visibility, SHA-256, size, content type of each new
   file); `missing` answers which of the hashes the server lacks *for this account*.
2. The client sends the manifest again with the bytes of those hashes, one after the other in
   one streamed body (`web/deploybody.py` splits it and stores each through `core.ingest`), and
   `commit` creates the missing Assets/Functions, every new Version and the Build in one
   transaction (`insert_many`); with an environment named, the build is finished and deployed
   by the same request when it has no functions nor dependencies (nothing to package).

A hash counts as present only when this account has a version with it (and the blob store has
the bytes): whether another account stores the same bytes is never revealed, not by `missing`
and not by `commit`, which refuses a file whose bytes were neither sent nor the account's own.
The bytes of an identical file of another account are simply sent again (the blob store keeps
them once).
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any

from assethost.core import builds, checks, clock, environments, media, names, resources, services, sids
from assethost.core.context import Context
from assethost.core.errors import Conflict, Invalid, TooLarge, TooMany
from assethost.core.model import Build, BuildEntry, Deployment, Version
from assethost.core.ports import Tx

# The most bytes one bulk deploy may send; a larger one goes through the standard uploads (the
# CLI does so by itself: `missing` tells it this bound).
MAX_UPLOAD_BYTES = 4 * 1024**3
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_FILE_FIELDS = {"kind", "path", "visibility", "sha256", "size", "content_type"}


def max_files(ctx: Context) -> int:
    """The most entries of a manifest: what the largest build may hold."""
    lim = ctx.limits
    return 2 * lim.max_public_versions + lim.max_private_versions + lim.max_function_versions


@dataclass(frozen=True)
class NewFile:
    kind: str
    path: str
    visibility: str
    sha256: str
    size: int
    content_type: str | None


@dataclass(frozen=True)
class Manifest:
    """A checked manifest: the new files, the versions reused as they are, and (for `commit`)
    the hashes whose bytes follow, in that order, with their sizes."""

    files: list[NewFile | str]  # a reused version is named by its SID
    upload: list[tuple[str, int]] = field(default_factory=list)
    environment_sid: str | None = None
    dependencies: str | None = None  # as the Builds endpoint takes them (a JSON text)
    runtime: str | None = None

    @property
    def new_files(self) -> list[NewFile]:
        return [f for f in self.files if isinstance(f, NewFile)]

    @property
    def upload_bytes(self) -> int:
        return sum(size for _, size in self.upload)


def _file(ctx: Context, i: int, raw: Any) -> NewFile | str:
    where = f"files[{i}]"
    if not isinstance(raw, dict):
        raise Invalid(f"{where} must be an object")
    if set(raw) == {"version_sid"}:
        sid = raw["version_sid"]
        if not isinstance(sid, str) or not sids.is_sid(sid, sids.VERSION):
            raise Invalid(f"{where}.version_sid must be a Version SID (ZN…)")
        return sid
    unknown = set(raw) - _FILE_FIELDS
    if unknown:
        raise Invalid(f"{where} has unknown fields: {', '.join(sorted(unknown))}")
    kind = raw.get("kind")
    if kind not in resources.KINDS:
        raise Invalid(f"{where}.kind must be asset or function")
    for name in ("path", "visibility", "sha256"):
        if not isinstance(raw.get(name), str):
            raise Invalid(f"{where}.{name} must be a string")
    sha256 = raw["sha256"]
    if not _SHA256.match(sha256):
        raise Invalid(f"{where}.sha256 must be the 64 lowercase hex digits of the content's SHA-256")
    size = raw.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise Invalid(f"{where}.size must be a whole number of bytes")
    content_type = raw.get("content_type")
    if content_type is not None and (not isinstance(content_type, str) or len(content_type) > 255):
        raise Invalid(f"{where}.content_type must be a string of at most 255 characters")
    try:
        path, visibility = resources.check_upload(ctx, kind, raw["path"], raw["visibility"], size)
        names.friendly_name(path)
    except Invalid as exc:
        raise Invalid(f"{where}: {exc.message}") from None
    except TooLarge as exc:
        raise TooLarge(f"{where}: {exc.message}") from None
    return NewFile(kind, path, visibility, sha256, size, content_type)


def parse(ctx: Context, raw: Any, with_upload: bool) -> Manifest:
    """Check a decoded manifest ({"files": […]}, plus "upload", "environment", "dependencies",
    "runtime" for `commit`) against the rules of uploads and builds; Invalid names what is wrong."""
    if not isinstance(raw, dict) or not isinstance(raw.get("files"), list):
        raise Invalid('The manifest must be a JSON object with a list "files"')
    allowed = {"files", "upload", "environment", "dependencies", "runtime"} if with_upload else {"files"}
    unknown = set(raw) - allowed
    if unknown:
        raise Invalid(f"The manifest has unknown fields: {', '.join(sorted(unknown))}")
    most = max_files(ctx)
    if len(raw["files"]) > most:
        raise Invalid(f"A manifest may list at most {most} files (a build's limits); this one lists "
                      f"{len(raw['files'])}")
    files = [_file(ctx, i, f) for i, f in enumerate(raw["files"])]
    seen: set[str] = set()
    sizes: dict[str, int] = {}
    for f in files:
        key = f if isinstance(f, str) else f.path
        if key in seen:
            raise Invalid(f"The manifest lists {key} more than once")
        seen.add(key)
        if isinstance(f, NewFile) and sizes.setdefault(f.sha256, f.size) != f.size:
            raise Invalid(f"The manifest gives two sizes for the content {f.sha256}")
    if not with_upload:
        return Manifest(files)
    upload_raw = raw.get("upload", [])
    if not isinstance(upload_raw, list) or not all(isinstance(h, str) for h in upload_raw):
        raise Invalid('"upload" must be a list of the SHA-256 hashes whose bytes follow the manifest')
    if len(set(upload_raw)) != len(upload_raw):
        raise Invalid('"upload" names a hash more than once')
    for h in upload_raw:
        if h not in sizes:
            raise Invalid(f'"upload" names {h[:64]!r}, which no new file of the manifest has')
    upload = [(h, sizes[h]) for h in upload_raw]
    total = sum(size for _, size in upload)
    if total > MAX_UPLOAD_BYTES:
        raise TooLarge(f"A bulk deploy may send at most {MAX_UPLOAD_BYTES} bytes; this one would send {total}")
    env = raw.get("environment")
    if env is not None and (not isinstance(env, str) or not sids.is_sid(env, sids.ENVIRONMENT)):
        raise Invalid('"environment" must be an Environment SID (ZE…)')
    deps = raw.get("dependencies")
    if deps is not None and not isinstance(deps, list):
        raise Invalid('"dependencies" must be a list of {name, version}')
    runtime = raw.get("runtime")
    if runtime is not None and not isinstance(runtime, str):
        raise Invalid('"runtime" must be a string')
    if not files:
        raise Invalid("At least one Function Version or Asset Version is required for Build.")
    dependencies = json.dumps(deps) if deps else None
    builds.parse_dependencies(dependencies)  # refused now, before any byte is read
    return Manifest(files, upload, env, dependencies, _runtime(runtime))


def _owned(tx: Tx, ctx: Context, account_sid: str, hashes: list[str]) -> set[str]:
    """The hashes this account has a version of, whose bytes the blob store holds."""
    known = {v.blob_hash for v in tx.versions.select_in("blob_hash", sorted(set(hashes)), account_sid=account_sid)}
    return {h for h in known if ctx.blobs.exists(h)}


def missing(ctx: Context, account_sid: str, service_ref: str, manifest: Manifest) -> list[str]:
    """The distinct hashes of the manifest's new files that the client must send, in order."""
    hashes = [f.sha256 for f in manifest.new_files]
    with ctx.meta.read() as tx:
        _check_media_settings(tx, services.find(tx, account_sid, service_ref).sid)
        owned = _owned(tx, ctx, account_sid, hashes)
    return list(dict.fromkeys(h for h in hashes if h not in owned))


def check_present(ctx: Context, account_sid: str, service_ref: str, manifest: Manifest) -> None:
    """Before any byte is read: the service (and environment) exist, the account may start a
    build, and every new file's bytes are either sent or this account's own."""
    sent = {h for h, _ in manifest.upload}
    with ctx.meta.read() as tx:
        _check_media_settings(tx, services.find(tx, account_sid, service_ref).sid)
        _check_building(tx, account_sid)
        if manifest.environment_sid:
            environments.find(tx, account_sid, service_ref, manifest.environment_sid)
        lacking = [h for h in dict.fromkeys(f.sha256 for f in manifest.new_files) if h not in sent]
        owned = _owned(tx, ctx, account_sid, lacking)
    for h in lacking:
        if h not in owned:
            raise Invalid(f"The content {h} was not sent and this account stores no such content: "
                          'list it in "upload" and send its bytes')


@dataclass(frozen=True)
class Deployed:
    build: Build
    entries: list[BuildEntry]
    versions: list[Version]  # one per manifest file, in its order
    resources_created: int
    deployment: Deployment | None = None
    pending: bool = False  # the build still needs packaging (functions, dependencies): not deployed


def commit(ctx: Context, account_sid: str, service_ref: str, manifest: Manifest) -> Deployed:
    """Create the missing resources, the new versions and the build in one transaction (every
    byte is stored by now); then, for a build with nothing to package, finish and deploy it."""
    now = clock.now()
    facts = _inspect(ctx, manifest)
    with ctx.meta.write() as tx:
        service = services.find(tx, account_sid, service_ref)
        _check_building(tx, account_sid)
        tx.media.insert_new([{"blob_hash": blob_hash, "date_created": now, **dataclasses.asdict(found)}
                             for blob_hash, found in facts.items()])  # as media.remember, in one statement
        reused_sids = [f for f in manifest.files if isinstance(f, str)]
        reused = {v.sid: v for v in tx.versions.select_in("sid", reused_sids, service_sid=service.sid)}
        for sid in reused_sids:
            if sid not in reused:
                raise Invalid(f"files: the version {sid} was not found in this service")
        have = {(r.kind, r.friendly_name): r.sid for r in tx.resources.select(service_sid=service.sid)}
        new_resources: list[dict[str, Any]] = []
        new_versions: list[dict[str, Any]] = []
        for f in manifest.new_files:
            key = (f.kind, f.path)
            if key not in have:
                have[key] = sids.new(sids.RESOURCE)
                new_resources.append({"sid": have[key], "account_sid": account_sid, "service_sid": service.sid,
                                      "kind": f.kind, "friendly_name": f.path, "date_created": now,
                                      "date_updated": now})
            new_versions.append({"sid": sids.new(sids.VERSION), "account_sid": account_sid,
                                 "service_sid": service.sid, "resource_sid": have[key], "kind": f.kind,
                                 "path": f.path, "visibility": f.visibility, "blob_hash": f.sha256,
                                 "size": f.size, "content_type": resources.content_type(f.content_type, f.path),
                                 "date_created": now})
        if new_resources:
            tx.resources.insert_many(new_resources)
        if new_versions:
            tx.versions.insert_many(new_versions)
        made = {v.sid: v for v in tx.versions.select_in("sid", [v["sid"] for v in new_versions])}
        fresh = iter(new_versions)
        rows = [reused[f] if isinstance(f, str) else made[str(next(fresh)["sid"])] for f in manifest.files]
        build = builds.freeze(ctx, tx, service, rows, builds.parse_dependencies(manifest.dependencies),
                              _runtime(manifest.runtime))
        pending = any(r.kind == "function" for r in rows) or bool(json.loads(build.dependencies))
        if pending:  # npm may take minutes: packaged in the background, the client waits and deploys
            return Deployed(build, builds.entries(tx, build.sid), rows, len(new_resources), pending=True)
    builds.finish(ctx, build.sid)
    with ctx.meta.read() as tx:
        build = tx.builds.one(sid=build.sid)
        entries = builds.entries(tx, build.sid)
    deployment = None
    if manifest.environment_sid and build.status == "completed":
        deployment = environments.deploy(ctx, account_sid, service.sid, manifest.environment_sid, build.sid)
    return Deployed(build, entries, rows, len(new_resources), deployment=deployment)


def _inspect(ctx: Context, manifest: Manifest) -> dict[str, media.Facts]:
    """The media facts of the content sent, not known yet, as the standard upload records them
    (for the media rules a build is checked against; `core/mediafiles.py`)."""
    first: dict[str, NewFile] = {}
    for f in manifest.new_files:
        first.setdefault(f.sha256, f)
    sent = [h for h, _ in manifest.upload]
    with ctx.meta.read() as tx:
        known = {m.blob_hash for m in tx.media.select_in("blob_hash", sent)}
    return {h: media.inspect(ctx.blobs.local_path(h), first[h].content_type, first[h].path)
            for h in sent if h not in known}


def _check_media_settings(tx: Tx, service_sid: str) -> None:
    """A service that strips image metadata at upload changes the bytes it is sent, which the
    hashes of a manifest cannot know: its deploys take the standard uploads."""
    if checks.settings(tx, service_sid).strip_metadata:
        raise Conflict("This service strips image metadata from uploads (MediaSettings StripMetadata): "
                       "deploy it with the standard uploads")


def _check_building(tx: Tx, account_sid: str) -> None:
    """The cap on builds in progress, checked before the bytes are read and again when the build
    is made."""
    if tx.builds.count(account_sid=account_sid, status="building") >= builds.MAX_BUILDING:
        raise TooMany(f"This account has {builds.MAX_BUILDING} builds in progress; create more once they are done")


def _runtime(runtime: str | None) -> str:
    runtime = runtime or builds.DEFAULT_RUNTIME
    if runtime not in builds.RUNTIMES:
        raise Invalid(f"Runtime must be one of {', '.join(builds.RUNTIMES)} (got {runtime[:40]!r})")
    return runtime
