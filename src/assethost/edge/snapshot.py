"""The edge's view of what is live: every environment's domain, and the files of its build.

A request is a dict lookup by host, then by path: no database query on the serving path once a
build is loaded (the first request for one waits for its files to be read, in a thread).

- The sites (one small record per environment: its domain, build SID, Auth Token, variables) are
  all held, loaded at start and then kept current from the change feed (`core/live.py`): a
  change replaces only the sites it names, in a copy of the sites dict.
- The files of a build are loaded when first asked for (`BuildCache.load`, in a thread), and
  kept in a least-recently-served cache bounded by `--build-cache-files`; a build never changes,
  so what is loaded stays right until it is let go. A version's entry is shared by every
  resident build that has it, and its body counts once against `--memory-budget`.
"""

from __future__ import annotations

import calendar
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from assethost.config import EdgeOptions
from assethost.core import live, mediatypes, variants
from assethost.core.context import Context
from assethost.core.environments import domain_name
from assethost.core.model import BuildEntry
from assethost.edge import aliases
from assethost.edge.conditional import not_modified_headers
from assethost.edge.httpparts import http_date, serialize
from assethost.functions.call import FunctionEntry
from assethost.functions.package import language

log = logging.getLogger("assethost.edge")

SNIFF_BYTES = 512
RETRY_S = 10.0  # a build that could not be loaded is tried again after this long
_ACCEPT_RANGES = (b"accept-ranges", b"bytes")
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_ANY_ORIGIN = (b"access-control-allow-origin", b"*")
_VARY = (b"vary", b"Accept-Encoding")


@dataclass(slots=True)
class Variant:
    """A file compressed at build time (`core.variants`), for clients that accept its encoding."""

    encoding: str
    size: int
    file: str
    body: bytes | None  # in memory, like the file's own body, when small and within the budget
    headers: list[tuple[bytes, bytes]]  # the file's, with a weak ETag, Content-Encoding, Content-Length
    head: bytes  # the same, serialised
    not_modified_headers: list[tuple[bytes, bytes]]  # its 304's: those of `headers` a 304 carries
    not_modified_head: bytes  # the same, serialised


@dataclass(slots=True)
class FileEntry:
    """One asset version as the edge serves it. Its head is made from these fields when first
    served (most files of a loaded build never are), then kept; header values shared by many
    files (content type, cache control) are one object each."""

    version_sid: str
    path: str
    visibility: str
    blob_hash: str
    size: int
    file: str
    content_type: str
    last_modified: float
    compressible: bool
    body: bytes | None
    cache_control: bytes
    # Of a compressible file: those worth sending, best first; None when the store had none yet.
    variants: tuple[Variant, ...] | None = None
    _etag: str | None = None
    _ok_headers: list[tuple[bytes, bytes]] | None = None
    _ok_head: bytes | None = None
    _not_modified: tuple[list[tuple[bytes, bytes]], bytes] | None = None

    @property
    def etag(self) -> str:
        etag = self._etag
        if etag is None:
            etag = self._etag = f'"{self.blob_hash[:32]}"'
        return etag

    @property
    def ok_headers(self) -> list[tuple[bytes, bytes]]:
        """A whole-file 200's: `headers` and Content-Length (made once, at the first answer)."""
        found = self._ok_headers
        if found is None:
            found = [
                (b"content-type", self.content_type.encode("latin-1")),
                (b"etag", self.etag.encode()),
                (b"last-modified", http_date(self.last_modified).encode()),
                _ACCEPT_RANGES,
                _NOSNIFF,
                (b"cache-control", self.cache_control),
            ]
            if self.visibility == "public":
                found.append(_ANY_ORIGIN)
            if self.compressible:
                found.append(_VARY)
            found.append((b"content-length", str(self.size).encode()))
            self._ok_headers = found
        return found

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        """Every header but Content-Length, Content-Range and Date (a new list: callers add to it)."""
        return self.ok_headers[:-1]

    @property
    def ok_head(self) -> bytes:
        """`ok_headers`, serialised (once)."""
        head = self._ok_head
        if head is None:
            head = self._ok_head = serialize(self.ok_headers)
        return head

    @property
    def not_modified_headers(self) -> list[tuple[bytes, bytes]]:
        """A 304's: those of `headers` it carries (made once)."""
        return self._not_modified_parts()[0]

    @property
    def not_modified_head(self) -> bytes:
        return self._not_modified_parts()[1]

    def _not_modified_parts(self) -> tuple[list[tuple[bytes, bytes]], bytes]:
        found = self._not_modified
        if found is None:
            headers = not_modified_headers(self.headers)
            found = self._not_modified = (headers, serialize(headers))
        return found

    def memory(self) -> int:
        """Bytes it holds in memory: its body and its variants'."""
        held = len(self.body) if self.body is not None else 0
        return held + sum(len(v.body) for v in self.variants or () if v.body is not None)


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

    def entries(self) -> list[FileEntry]:
        return [*self.served.values(), *self.private.values()]


@dataclass(slots=True)
class Site:
    domain: str
    environment_sid: str
    service_sid: str
    account_sid: str
    auth_token: str
    build_sid: str | None  # its files: `Snapshot.files`
    # What this environment's functions get in `context`: read again at each change of a variable,
    # and sent to the worker with every call.
    variables: dict[str, str] = field(default_factory=dict)
    include_credentials: bool = False
    deployed: datetime | None = None  # when its build was deployed (UTC, whole seconds)


class BuildCache:
    """The files of the builds this process has served lately, most recent last; past
    `options.build_cache_files` files in all, the least recently served builds are let go (a
    request for one loads it again). Loads run one at a time, off the event loop; reading a
    resident build takes no lock."""

    def __init__(self, ctx: Context, options: EdgeOptions, on_load: Callable[[BuildFiles], None] | None = None) -> None:
        self.ctx = ctx
        self.options = options
        self.on_load = on_load
        self._builds: OrderedDict[str, BuildFiles] = OrderedDict()
        self._entries: dict[str, FileEntry] = {}  # by version SID: of the resident builds
        self._holders: dict[str, int] = {}  # by version SID: how many resident builds have it
        self._failed: dict[str, float] = {}  # by build SID: when its load last failed (monotonic)
        self._lock = threading.Lock()  # one load or eviction at a time
        self.files = 0  # entries of the resident builds, each build's counted
        self.memory_bytes = 0  # bodies held, each version once
        self.loads = 0
        self.evictions = 0

    def get(self, build_sid: str) -> BuildFiles | None:
        """The build if it is resident (then the most recent), else None."""
        build = self._builds.get(build_sid)
        if build is not None:
            try:
                self._builds.move_to_end(build_sid)
            except KeyError:  # let go meanwhile: what was read is still right for this request
                pass
        return build

    def resident(self, build_sid: str) -> bool:
        return build_sid in self._builds

    def builds(self) -> list[BuildFiles]:
        """The resident builds. Takes no lock (a load may hold it for long): one C-level copy,
        which no other thread interleaves with."""
        return list(self._builds.values())

    def load(self, build_sid: str) -> BuildFiles | None:
        """The build, read from the store unless resident; None if it cannot be served (deleted,
        a blob missing or the store failing: logged, and tried again after RETRY_S)."""
        build = self.get(build_sid)
        if build is not None:
            return build
        with self._lock:
            build = self.get(build_sid)  # loaded by whoever held the lock before
            if build is not None:
                return build
            failed = self._failed.get(build_sid)
            if failed is not None and time.monotonic() - failed < RETRY_S:
                return None
            try:
                found = live.build(self.ctx.meta, build_sid)
                if found is None:
                    raise LookupError("it was deleted")
                build = self._prepare(build_sid, found[1])
            except Exception:  # a blob missing here, or the object store or database failing
                log.exception("build %s cannot be served", build_sid)
                self._failed[build_sid] = time.monotonic()
                return None
            self._failed.pop(build_sid, None)
            self._admit(build)
            self.loads += 1
        if self.on_load is not None:
            self.on_load(build)
        return build

    def drop(self, build_sids: set[str]) -> None:
        """Let go of these builds (no environment serves them any more)."""
        with self._lock:
            for sid in build_sids:
                build = self._builds.pop(sid, None)
                if build is not None:
                    self._release(build)

    def _prepare(self, build_sid: str, rows: list[BuildEntry]) -> BuildFiles:
        served: dict[str, FileEntry] = {}
        private: dict[str, FileEntry] = {}
        functions: dict[str, FunctionEntry] = {}
        fresh: dict[str, FileEntry] = {}
        new = [r for r in rows if r.kind == "asset" and r.version_sid not in self._entries]
        self.ctx.blobs.prefetch([r.blob_hash for r in new], {
            r.blob_hash for r in new
            if r.visibility != "private" and variants.may_have(r.path, r.content_type, r.size,
                                                               self.options.compress_limit)
        })
        try:
            for row in rows:
                if row.kind == "function":
                    functions[row.path] = FunctionEntry(path=row.path, visibility=row.visibility,
                                                        language=language(row), function_sid=row.resource_sid,
                                                        version_sid=row.version_sid)
                    continue
                if row.kind != "asset":
                    continue
                entry = self._entries.get(row.version_sid) or fresh.get(row.version_sid)
                if entry is None:
                    entry = fresh[row.version_sid] = _entry(self.ctx, self.options, row, self._take)
                (private if row.visibility == "private" else served)[row.path] = entry
        except BaseException:
            self.memory_bytes -= sum(e.memory() for e in fresh.values())
            raise
        root = served.get("/")
        if root is None:
            legacy = served.get("/assets/index.html")
            if legacy is not None and legacy.content_type.startswith("text/html"):
                root = legacy
        return BuildFiles(build_sid=build_sid, served=served, private=private, root=root, functions=functions,
                          aliases=aliases.immutable(served))

    def _take(self, size: int) -> bool:
        """Whether a body of `size` bytes fits in the memory budget (then it is counted; a
        negative size gives bytes back)."""
        if self.memory_bytes + size > self.options.memory_budget:
            return False
        self.memory_bytes += size
        return True

    def _admit(self, build: BuildFiles) -> None:
        self._builds[build.build_sid] = build
        for entry in build.entries():
            self._entries[entry.version_sid] = entry
            self._holders[entry.version_sid] = self._holders.get(entry.version_sid, 0) + 1
            self.files += 1
        while self.files > self.options.build_cache_files and len(self._builds) > 1:
            _, oldest = self._builds.popitem(last=False)
            self._release(oldest)
            self.evictions += 1

    def _release(self, build: BuildFiles) -> None:
        for entry in build.entries():
            self.files -= 1
            left = self._holders[entry.version_sid] - 1
            if left:
                self._holders[entry.version_sid] = left
                continue
            del self._holders[entry.version_sid]
            del self._entries[entry.version_sid]
            self.memory_bytes -= entry.memory()


@dataclass
class Snapshot:
    sites: dict[str, Site] = field(default_factory=dict)  # by host: the full domain, lower case
    generation: int = -1
    builds: BuildCache | None = None  # where the files of the sites' builds are loaded

    def files(self, site: Site) -> BuildFiles | None:
        """The site's build if it is resident."""
        if site.build_sid is None or self.builds is None:
            return None
        return self.builds.get(site.build_sid)


_shared: dict[str, str] = {}  # one string per content type, however many files have it


def _entry(ctx: Context, options: EdgeOptions, row: BuildEntry, take: Callable[[int], bool]) -> FileEntry:
    """`take(size)`: whether a body of that size may be held in memory (then counted)."""
    blob = ctx.blobs.local_path(row.blob_hash)
    in_memory = row.size <= options.memory_file_limit and take(row.size)
    try:
        try:
            body, head = _read(blob, in_memory)
        except FileNotFoundError:  # evicted from the cache since: fetched again
            blob = ctx.blobs.local_path(row.blob_hash)
            body, head = _read(blob, in_memory)
    except BaseException:
        if in_memory:
            take(-row.size)
        raise
    ctype = mediatypes.resolve(row.path, row.content_type, head)
    ctype = _shared.setdefault(ctype, ctype)
    compressible = variants.compressible(ctype, row.size, options.compress_limit)
    public = row.visibility == "public"
    entry = FileEntry(
        version_sid=row.version_sid, path=row.path, visibility=row.visibility, blob_hash=row.blob_hash,
        size=row.size, file=str(blob), content_type=ctype,
        last_modified=float(calendar.timegm(row.version_date_created.timetuple())), compressible=compressible,
        body=body, cache_control=_cache_control(options.public_cache_control if public
                                                else options.protected_cache_control),
    )
    if compressible and row.visibility != "private":
        entry.variants = _variants(ctx, options, row, entry.headers, take)
    return entry


def _read(blob: Path, whole: bool) -> tuple[bytes | None, bytes]:
    """(the body if `whole`, the first bytes for sniffing)."""
    if whole:
        body = blob.read_bytes()
        return body, body[:SNIFF_BYTES]
    with open(blob, "rb") as f:
        return None, f.read(SNIFF_BYTES)


def _variants(ctx: Context, options: EdgeOptions, row: BuildEntry, headers: list[tuple[bytes, bytes]],
              take: Callable[[int], bool]) -> tuple[Variant, ...] | None:
    """The file's stored variants worth sending; None when the store has none (a build made
    before there were variants)."""
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
            if size <= options.memory_file_limit and take(size):
                try:
                    body = path.read_bytes()
                except BaseException:
                    take(-size)
                    raise
        except FileNotFoundError:  # evicted meanwhile: the file is served without this variant
            continue
        etag = next(value for name, value in headers if name == b"etag")
        hdrs = [h for h in headers if h[0] != b"etag"] + [
            (b"etag", b"W/" + etag),  # other bytes than the identity response: not the same strong validator
            (b"content-encoding", encoding.encode()),
            (b"content-length", str(size).encode()),
        ]
        not_modified = not_modified_headers(hdrs)
        found.append(Variant(encoding, size, str(path), body, hdrs, serialize(hdrs), not_modified, serialize(not_modified)))
    return tuple(found) if stored else None


_cache_controls: dict[str, bytes] = {}


def _cache_control(value: str) -> bytes:
    found = _cache_controls.get(value)
    if found is None:
        found = _cache_controls[value] = value.encode("latin-1")
    return found


class SnapshotLoader:
    """Makes new snapshots from the metadata store: all of it at start (or when the change feed
    has a gap), else only the environments the feed names since the snapshot's generation."""

    def __init__(self, ctx: Context, options: EdgeOptions, builds: BuildCache | None = None) -> None:
        self.ctx = ctx
        self.options = options
        self.builds = builds or BuildCache(ctx, options)
        self.full_loads = 0
        self.environments_loaded = 0  # sites made, by full loads and by changes

    def load(self, previous: Snapshot) -> Snapshot:
        """The snapshot after `previous`: `previous` itself if nothing changed."""
        changes = live.changes(self.ctx.meta, previous.generation) if previous.generation >= 0 else None
        if changes is None:
            state = live.read(self.ctx.meta)
            self.full_loads += 1
            sites: dict[str, Site] = {}
            for found in state.environments:
                site = self._site(found)
                sites[site.domain] = site
            self._settle(list(previous.sites.values()), sites, sites.values())
            return Snapshot(sites=sites, generation=state.generation, builds=self.builds)
        if changes.generation == previous.generation:
            return previous
        sites = {}
        replaced: list[Site] = []
        for domain, site in previous.sites.items():
            if changes.names(site):
                replaced.append(site)
            else:
                sites[domain] = site
        made = [self._site(found) for found in changes.environments]
        for site in made:
            sites[site.domain] = site
        self._settle(replaced, sites, made)
        return Snapshot(sites=sites, generation=changes.generation, builds=self.builds)

    def _site(self, found: live.LiveEnvironment) -> Site:
        env = found.environment
        self.environments_loaded += 1
        # Stored without the base domain: the one this server was started with completes it.
        domain = domain_name(env.domain_label, self.ctx.base_domain)
        return Site(
            domain=domain, environment_sid=env.sid, service_sid=env.service_sid, account_sid=env.account_sid,
            auth_token=found.auth_token, build_sid=env.build_sid, variables=found.variables,
            include_credentials=found.include_credentials, deployed=env.date_updated if env.build_sid else None,
        )

    def _settle(self, replaced: list[Site], sites: dict[str, Site], made: Iterable[Site]) -> None:
        """Before the new sites are served: load the new build of each environment whose old build
        was resident (a site being served then never waits for a load), and let go of the builds
        of the replaced sites that no site serves any more."""
        before = {site.environment_sid: site.build_sid for site in replaced}
        for site in made:
            old = before.get(site.environment_sid)
            if site.build_sid is not None and old is not None and old != site.build_sid \
                    and self.builds.resident(old):
                self.builds.load(site.build_sid)
        gone = {sid for sid in before.values() if sid is not None and self.builds.resident(sid)}
        if gone:
            gone -= {site.build_sid for site in sites.values()}
            self.builds.drop(gone)
