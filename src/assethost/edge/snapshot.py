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
from typing import Any

from assethost.core import mediatypes
from assethost.core.context import Context
from assethost.core.environments import domain_name
from assethost.edge.httpparts import http_date
from assethost.functions.call import FunctionEntry
from assethost.functions.package import language

log = logging.getLogger("assethost.edge")

SNIFF_BYTES = 512


@dataclass(frozen=True)
class EdgeOptions:
    """How the edge answers; all of it configurable from the command line."""

    memory_file_limit: int = 256 * 1024  # files up to this size are served from memory
    public_cache_control: str = "public, max-age=0, must-revalidate"
    # Protected responses must never be kept by a shared cache: it would hand them to anyone.
    protected_cache_control: str = "private, no-cache"
    compress_limit: int = 8 * 1024 * 1024  # larger compressible files are sent uncompressed


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
    not_modified_head: bytes


@dataclass(slots=True)
class BuildFiles:
    build_sid: str
    served: dict[str, FileEntry]  # public and protected, by path
    private: dict[str, FileEntry]  # for the build's own functions; never served by URL
    root: FileEntry | None
    # Looked up only when no asset has the path, so serving assets never pays for functions.
    functions: dict[str, FunctionEntry] = field(default_factory=dict)


@dataclass(slots=True)
class Site:
    domain: str
    environment_sid: str
    service_sid: str
    account_sid: str
    auth_token: str
    build: BuildFiles | None
    # What this environment's functions get in `context` (read at each reload, i.e. deployment).
    variables: dict[str, str] = field(default_factory=dict)
    include_credentials: bool = False


@dataclass
class Snapshot:
    sites: dict[str, Site] = field(default_factory=dict)  # by host: the full domain, lower case
    generation: int = -1


def _entry(ctx: Context, options: EdgeOptions, row: Any) -> FileEntry:
    blob = ctx.blobs.path(row.blob_hash)
    body = None
    if row.size <= options.memory_file_limit:
        body = blob.read_bytes()
        head = body[:SNIFF_BYTES]
    else:
        with open(blob, "rb") as f:
            head = f.read(SNIFF_BYTES)
    ctype = mediatypes.resolve(row.path, row.content_type, head)
    compressible = mediatypes.compressible(ctype) and 0 < row.size <= options.compress_limit
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
    return FileEntry(
        version_sid=row.version_sid, path=row.path, visibility=row.visibility, blob_hash=row.blob_hash, size=row.size, file=str(blob),
        content_type=ctype, etag=etag, last_modified=modified, compressible=compressible, body=body,
        headers=headers, ok_headers=ok_headers, ok_head=serialize(ok_headers), not_modified_head=serialize(headers),
    )


def serialize(headers: list[tuple[bytes, bytes]]) -> bytes:
    return b"".join(b"%s: %s\r\n" % (name, value) for name, value in headers)


def _build_files(
    ctx: Context, options: EdgeOptions, build_sid: str, rows: list[Any], known: dict[str, FileEntry],
) -> BuildFiles:
    """known: entries already prepared, by version SID (a version never changes), so a new build
    that differs from the last in one file reads one file."""
    served: dict[str, FileEntry] = {}
    private: dict[str, FileEntry] = {}
    functions: dict[str, FunctionEntry] = {}
    for row in rows:
        if row.kind == "function":
            functions[row.path] = FunctionEntry(path=row.path, visibility=row.visibility, language=language(row),
                                                function_sid=row.resource_sid, version_sid=row.version_sid)
            continue
        if row.kind != "asset":
            continue
        entry = known.get(row.version_sid)
        if entry is None:
            entry = known[row.version_sid] = _entry(ctx, options, row)
        (private if row.visibility == "private" else served)[row.path] = entry
    root = served.get("/")
    if root is None:
        legacy = served.get("/assets/index.html")
        if legacy is not None and legacy.content_type.startswith("text/html"):
            root = legacy
    return BuildFiles(build_sid=build_sid, served=served, private=private, root=root, functions=functions)


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
        with self.ctx.meta.read() as tx:
            generation = tx.generation()
            environments = tx.select("environments")
            account_sids = sorted({e.account_sid for e in environments})
            tokens = {a.sid: a.auth_token for a in tx.select_in("accounts", "sid", account_sids)}
            service_sids = sorted({e.service_sid for e in environments})
            credentials = {s.sid: bool(s.include_credentials)
                           for s in tx.select_in("services", "sid", service_sids)}
            variables: dict[str, dict[str, str]] = {}
            for v in tx.select_in("variables", "environment_sid", [e.sid for e in environments]):
                variables.setdefault(v.environment_sid, {})[v.key] = v.value
            known: dict[str, BuildFiles] = {}
            for site in previous.sites.values():
                if site.build is not None:
                    known[site.build.build_sid] = site.build
            wanted = sorted({e.build_sid for e in environments if e.build_sid and e.build_sid not in known})
            rows_by_build: dict[str, list[Any]] = {b: [] for b in wanted}
            for row in tx.select_in("build_entries", "build_sid", wanted):
                rows_by_build[row.build_sid].append(row)
        for build_sid, rows in rows_by_build.items():
            try:
                known[build_sid] = _build_files(self.ctx, self.options, build_sid, rows, self._entries)
            except OSError as exc:
                log.error("build %s cannot be served: %s", build_sid, exc)
        sites = {}
        for env in environments:
            build = known.get(env.build_sid) if env.build_sid else None
            # Stored without the base domain: the one this server was started with completes it.
            domain = domain_name(env.domain_label, self.ctx.base_domain)
            sites[domain] = Site(
                domain=domain, environment_sid=env.sid, service_sid=env.service_sid,
                account_sid=env.account_sid, auth_token=tokens.get(env.account_sid, ""), build=build,
                variables=variables.get(env.sid, {}), include_credentials=credentials.get(env.service_sid, False),
            )
        live = {s.build.build_sid: s.build for s in sites.values() if s.build is not None}
        self._entries = {
            e.version_sid: e for b in live.values() for e in (*b.served.values(), *b.private.values())
        }
        return Snapshot(sites=sites, generation=generation)
