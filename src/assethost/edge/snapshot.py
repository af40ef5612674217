"""In-memory snapshots of every live build, with each response header computed once.

A request is then a dict lookup by host and path: no database query on the serving path. A
build never changes, so its files are prepared once and shared by every environment serving it;
what a reload re-reads is the small list of environments and their live build SIDs.
"""

from __future__ import annotations

import calendar
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from assethost.config import EdgeOptions
from assethost.core import live, mediatypes, variants
from assethost.core.context import Context
from assethost.core.environments import domain_name
from assethost.core.model import BuildEntry
from assethost.core.ports import StorageError
from assethost.edge import aliases
from assethost.edge.conditional import not_modified_headers
from assethost.edge.httpparts import http_date
from assethost.functions.call import FunctionEntry
from assethost.functions.package import language

log = logging.getLogger("assethost.edge")

SNIFF_BYTES = 512


@dataclass(slots=True)
class Variant:
    """A file compressed at build time (`core.variants`), for clients that accept its encoding."""

    encoding: str
    size: int
    file: str
    body: bytes | None  # in memory, like the file's own body, when small and within the budget
    headers: list[tuple[bytes, bytes]]  # the file's, with a weak ETag, Content-Encoding, Content-Length
    head: bytes  # the same, serialised


@dataclass(slots=True)
class FileEntry:
    version_sid: str
    path: str
    visibility: str
    blob_hash: str
    size: int
    file: str
    content_type: str
    etag: str
    last_modified: float
    compressible: bool
    body: bytes | None
    headers: list[tuple[bytes, bytes]]  # every header but Content-Length, Content-Range, Date
    ok_headers: list[tuple[bytes, bytes]]  # a whole-file 200: `headers` and Content-Length
    ok_head: bytes  # the same, serialised
    not_modified_headers: list[tuple[bytes, bytes]]  # a 304's: those of `headers` it carries
    not_modified_head: bytes  # the same, serialised
    # Of a compressible file: those worth sending, best first; None when the store had none yet.
    variants: tuple[Variant, ...] | None = None


@dataclass(slots=True)
class BuildFiles:
    build_sid: str
    served: dict[str, FileEntry]  # public and protected, by path
    private: dict[str, FileEntry]  # for the build's own functions; never served by URL
    root: FileEntry | None
    # Looked up only when no asset has the path, so serving assets never pays for functions.
    functions: dict[str, FunctionEntry] = field(default_factory=dict)
    # Immutable aliases (`/greeting~<hash>.mp3`) of the served files, by alias path (edge/aliases.py).
    aliases: dict[str, FileEntry] = field(default_factory=dict)


@dataclass(slots=True)
class Site:
    domain: str
    environment_sid: str
    service_sid: str
    account_sid: str
    auth_token: str
    build: BuildFiles | None
    # What this environment's functions get in `context`: read at each reload, which a change of a
    # variable causes as a deployment does, and sent to the worker with every call.
    variables: dict[str, str] = field(default_factory=dict)
    include_credentials: bool = False
    deployed: datetime | None = None  # when its build was deployed (UTC, whole seconds)


@dataclass
class Snapshot:
    sites: dict[str, Site] = field(default_factory=dict)  # by host: the full domain, lower case
    generation: int = -1


class _Budget:
    """The file bodies one snapshot holds in memory, at most `--memory-budget` bytes in all; each
    version counts once, however many builds share its entry."""

    def __init__(self, limit: int) -> None:
        self.left = limit
        self.held: set[str] = set()  # version SIDs whose bodies are counted

    def take(self, version_sid: str, size: int) -> bool:
        if version_sid in self.held:
            return True
        if size > self.left:
            return False
        self.left -= size
        self.held.add(version_sid)
        return True


def _entry(ctx: Context, options: EdgeOptions, row: BuildEntry, budget: _Budget) -> FileEntry:
    blob = ctx.blobs.local_path(row.blob_hash)
    body = None
    in_memory = row.size <= options.memory_file_limit and budget.take(row.version_sid, row.size)
    try:
        body, head = _read(blob, in_memory)
    except FileNotFoundError:  # evicted from the cache since: fetched again
        blob = ctx.blobs.local_path(row.blob_hash)
        body, head = _read(blob, in_memory)
    ctype = mediatypes.resolve(row.path, row.content_type, head)
    compressible = variants.compressible(ctype, row.size, options.compress_limit)
    etag = f'"{row.blob_hash[:32]}"'
    modified = float(calendar.timegm(row.version_date_created.timetuple()))
    headers = [
        (b"content-type", ctype.encode("latin-1")),
        (b"etag", etag.encode()),
        (b"last-modified", http_date(modified).encode()),
        (b"accept-ranges", b"bytes"),
        (b"x-content-type-options", b"nosniff"),
    ]
    if row.visibility == "public":
        headers.append((b"cache-control", options.public_cache_control.encode("latin-1")))
        headers.append((b"access-control-allow-origin", b"*"))
    else:
        headers.append((b"cache-control", options.protected_cache_control.encode("latin-1")))
    if compressible:
        headers.append((b"vary", b"Accept-Encoding"))
    ok_headers = headers + [(b"content-length", str(row.size).encode())]
    found = _variants(ctx, options, row, headers, budget) if compressible and row.visibility != "private" else None
    not_modified = not_modified_headers(headers)
    return FileEntry(
        version_sid=row.version_sid, path=row.path, visibility=row.visibility, blob_hash=row.blob_hash, size=row.size, file=str(blob),
        content_type=ctype, etag=etag, last_modified=modified, compressible=compressible, body=body,
        headers=headers, ok_headers=ok_headers, ok_head=serialize(ok_headers),
        not_modified_headers=not_modified, not_modified_head=serialize(not_modified), variants=found,
    )


def _read(blob: Path, whole: bool) -> tuple[bytes | None, bytes]:
    """(the body if `whole`, the first bytes for sniffing)."""
    if whole:
        body = blob.read_bytes()
        return body, body[:SNIFF_BYTES]
    with open(blob, "rb") as f:
        return None, f.read(SNIFF_BYTES)


def _variants(ctx: Context, options: EdgeOptions, row: BuildEntry, headers: list[tuple[bytes, bytes]],
              budget: _Budget) -> tuple[Variant, ...] | None:
    """The file's stored variants worth sending; None when the store has none (a build made
    before there were variants: asked again when a new build holds the file)."""
    found: list[Variant] = []
    stored = False
    for encoding in variants.ENCODINGS:
        path = ctx.blobs.variant_path(row.blob_hash, encoding)
        if path is None:
            continue
        stored = True
        try:
            size = path.stat().st_size
            if not variants.worth_sending(size, row.size):
                continue
            body = None
            if size <= options.memory_file_limit and budget.take(f"{row.version_sid}.{encoding}", size):
                body = path.read_bytes()
        except FileNotFoundError:  # evicted meanwhile: the file is served without this variant
            continue
        etag = next(value for name, value in headers if name == b"etag")
        hdrs = [h for h in headers if h[0] != b"etag"] + [
            (b"etag", b"W/" + etag),  # other bytes than the identity response: not the same strong validator
            (b"content-encoding", encoding.encode()),
            (b"content-length", str(size).encode()),
        ]
        found.append(Variant(encoding, size, str(path), body, hdrs, serialize(hdrs)))
    return tuple(found) if stored else None


def _charge(budget: _Budget, entry: FileEntry) -> bool:
    """Charge the budget with what an entry kept from an earlier load holds in memory; False when
    this snapshot has no room for some of it."""
    if entry.body is not None and not budget.take(entry.version_sid, len(entry.body)):
        return False
    return all(v.body is None or budget.take(f"{entry.version_sid}.{v.encoding}", v.size)
               for v in entry.variants or ())


def serialize(headers: list[tuple[bytes, bytes]]) -> bytes:
    return b"".join(b"%s: %s\r\n" % (name, value) for name, value in headers)


def _build_files(
    ctx: Context, options: EdgeOptions, build_sid: str, rows: list[BuildEntry], known: dict[str, FileEntry],
    budget: _Budget,
) -> BuildFiles:
    """known: entries already prepared, by version SID (a version never changes), so a new build
    that differs from the last in one file reads one file."""
    served: dict[str, FileEntry] = {}
    private: dict[str, FileEntry] = {}
    functions: dict[str, FunctionEntry] = {}
    fresh = [r for r in rows if r.kind == "asset" and r.version_sid not in known]
    ctx.blobs.prefetch([r.blob_hash for r in fresh], {
        r.blob_hash for r in fresh
        if r.visibility != "private" and variants.may_have(r.path, r.content_type, r.size, options.compress_limit)
    })
    for row in rows:
        if row.kind == "function":
            functions[row.path] = FunctionEntry(path=row.path, visibility=row.visibility, language=language(row),
                                                function_sid=row.resource_sid, version_sid=row.version_sid)
            continue
        if row.kind != "asset":
            continue
        entry = known.get(row.version_sid)
        if entry is not None and not _charge(budget, entry):
            entry = None  # kept from an earlier build, but this snapshot has no room for its body
        elif entry is not None and entry.compressible and entry.variants is None and entry.visibility != "private":
            entry = None  # loaded before its variants were made: this new build may have made them
        if entry is None:
            entry = known[row.version_sid] = _entry(ctx, options, row, budget)
        (private if row.visibility == "private" else served)[row.path] = entry
    root = served.get("/")
    if root is None:
        legacy = served.get("/assets/index.html")
        if legacy is not None and legacy.content_type.startswith("text/html"):
            root = legacy
    return BuildFiles(build_sid=build_sid, served=served, private=private, root=root, functions=functions,
                      aliases=aliases.immutable(served))


class SnapshotLoader:
    """Builds new snapshots from the metadata store, reusing the files of unchanged builds."""

    def __init__(self, ctx: Context, options: EdgeOptions) -> None:
        self.ctx = ctx
        self.options = options
        self._lock = threading.Lock()
        self._entries: dict[str, FileEntry] = {}  # by version SID, for the builds of the last load

    def load(self, previous: Snapshot) -> Snapshot:
        with self._lock:  # one load at a time: the API thread and the poller may both ask
            return self._load(previous)

    def _load(self, previous: Snapshot) -> Snapshot:
        known: dict[str, BuildFiles] = {}
        for site in previous.sites.values():
            if site.build is not None:
                known[site.build.build_sid] = site.build
        state = live.read(self.ctx.meta, set(known))
        budget = self._budget(known, state)
        for build_sid, rows in state.entries.items():
            try:
                known[build_sid] = _build_files(self.ctx, self.options, build_sid, rows, self._entries, budget)
            except (OSError, StorageError) as exc:  # a blob missing here, or from the object store
                log.error("build %s cannot be served: %s", build_sid, exc)
        sites = {}
        for found in state.environments:
            env = found.environment
            build = known.get(env.build_sid) if env.build_sid else None
            # Stored without the base domain: the one this server was started with completes it.
            domain = domain_name(env.domain_label, self.ctx.base_domain)
            sites[domain] = Site(
                domain=domain, environment_sid=env.sid, service_sid=env.service_sid,
                account_sid=env.account_sid, auth_token=found.auth_token, build=build,
                variables=found.variables, include_credentials=found.include_credentials,
                deployed=env.date_updated if env.build_sid else None,
            )
        deployed = {s.build.build_sid: s.build for s in sites.values() if s.build is not None}
        self._entries = {
            e.version_sid: e for b in deployed.values() for e in (*b.served.values(), *b.private.values())
        }
        return Snapshot(sites=sites, generation=state.generation)

    def _budget(self, known: dict[str, BuildFiles], state: live.LiveState) -> _Budget:
        """The budget of this load, charged first with the bodies of the loaded builds that stay
        deployed: what the builds it drops held is given back, unless a new build reuses it."""
        budget = _Budget(self.options.memory_budget)
        staying = {sid for e in state.environments if (sid := e.environment.build_sid) in known}
        for sid in staying:
            for entry in (*known[sid].served.values(), *known[sid].private.values()):
                _charge(budget, entry)
        return budget
