"""What core needs from persistence, as protocols: the metadata store and the blob store.

Core and the faces above it are written against these; `store/` implements them (SQLAlchemy in
`store/meta.py`, a local folder in `store/blobs/local.py`) and `app.py` picks the implementations
from the settings. A new backend implements the protocol and raises the errors defined here;
nothing above it changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Generic, Protocol, Self, TypeVar

from assethost.core import model

T = TypeVar("T")
# What a column holds, as conditions and new values name it.
Value = str | int | bool | datetime | None


class Duplicate(Exception):
    """An insert or update broke a uniqueness rule."""


class BlobTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"blob exceeds {limit} bytes")
        self.limit = limit


class StorageError(Exception):
    """The blob store refused a write. `full`: out of space (or quota); otherwise it cannot be
    written at all (read-only, permissions, I/O error, an object store that is down). The message
    names no path or credential: the faces turn it into 507 or 503."""

    def __init__(self, full: bool, reason: str) -> None:
        super().__init__(reason)
        self.full = full


# --- metadata ---------------------------------------------------------------------------------


class Rows(Protocol, Generic[T]):
    """One table, inside a transaction. `where` keywords are column = value conditions; lists come
    in creation order (the table's `id`)."""

    def get(self, **where: Value) -> T | None: ...

    def one(self, **where: Value) -> T:
        """The row, which must exist (one this transaction wrote or found): LookupError if not."""
        ...

    def lock(self, **where: Value) -> T | None:
        """Like get, but holds the row against other writers until the transaction ends."""
        ...

    def select(self, **where: Value) -> list[T]: ...

    def select_in(self, column: str, values: Sequence[Value], **where: Value) -> list[T]: ...

    def last(self, **where: Value) -> T | None:
        """The newest row matching."""
        ...

    def count(self, **where: Value) -> int: ...

    def page(
        self,
        where: Mapping[str, Value],
        *,
        limit: int,
        offset: int = 0,
        after_id: int | None = None,
        before_id: int | None = None,
        between: tuple[str, Value, Value] | None = None,
        newest_first: bool = False,
    ) -> list[T]:
        """Rows in creation order (the reverse with `newest_first`). Keyset when a page token
        gives one (`after_id`: the rows following that id in this order; `before_id`: the `limit`
        rows just before it, still in this order), else by offset; `between` = (column, low,
        high) keeps rows whose column lies in [low, high]."""
        ...

    def insert(self, **values: Value) -> None:
        """Raises Duplicate when a uniqueness rule is broken (the transaction stays usable)."""
        ...

    def insert_many(self, rows: Sequence[Mapping[str, Value]]) -> None: ...

    def insert_new(self, rows: Sequence[Mapping[str, Value]]) -> None:
        """Like insert_many, but a row that would break a uniqueness rule is skipped, not raised
        (rows that another transaction may have inserted meanwhile)."""
        ...

    def update(self, where: Mapping[str, Value], **values: Value) -> int:
        """Returns how many rows changed; raises Duplicate like insert."""
        ...

    def delete(self, **where: Value) -> int: ...

    def delete_before(self, column: str, value: Value) -> int:
        """Delete the rows whose column is below value (e.g. expired ones)."""
        ...


class Tx(Protocol):
    """One transaction over every table."""

    # Read-only properties, so that an implementation may hold its own Rows type.
    @property
    def accounts(self) -> Rows[model.Account]: ...

    @property
    def api_keys(self) -> Rows[model.ApiKey]: ...

    @property
    def services(self) -> Rows[model.Service]: ...

    @property
    def resources(self) -> Rows[model.Resource]: ...

    @property
    def versions(self) -> Rows[model.Version]: ...

    @property
    def builds(self) -> Rows[model.Build]: ...

    @property
    def build_entries(self) -> Rows[model.BuildEntry]: ...

    @property
    def environments(self) -> Rows[model.Environment]: ...

    @property
    def deployments(self) -> Rows[model.Deployment]: ...

    @property
    def variables(self) -> Rows[model.Variable]: ...

    @property
    def usage(self) -> Rows[model.Usage]: ...

    @property
    def console_sessions(self) -> Rows[model.ConsoleSession]: ...

    @property
    def logs(self) -> Rows[model.LogLine]: ...

    @property
    def media(self) -> Rows[model.Media]: ...

    @property
    def media_settings(self) -> Rows[model.MediaSettings]: ...

    def generation(self) -> int:
        """The deployment counter: every change of what some domain serves (or of an Auth Token)
        bumps it, so other processes notice with one cheap read."""
        ...

    def bump_generation(self, environment_sid: str | None = None, service_sid: str | None = None,
                        account_sid: str | None = None) -> int:
        """Bump the counter and record in the change feed what changed: the environment, every
        environment of the service, or of the account (none given: anything). Returns the new
        generation; other processes learn of it when the transaction commits."""
        ...

    def changes_after(self, generation: int, limit: int) -> list[model.Change]:
        """The change feed after `generation`, oldest first, at most `limit` entries."""
        ...

    def prune_changes(self, keep: int) -> int:
        """Delete all but the newest `keep` entries of the change feed (safe to run anywhere at
        once: a reader behind what is left reloads everything)."""
        ...

    def credentials_version(self) -> str:
        """A value that changes with every change of credentials (an Auth Token, a deleted API
        key) and never comes back, so a process that checked credentials can tell cheaply whether
        what it checked still holds."""
        ...

    def bump_credentials(self) -> None:
        """Give `credentials_version` a new value, in the transaction that changes credentials."""
        ...

    def get_or_set(self, key: str, make: Callable[[], str]) -> str:
        """The shared value stored under key, storing make() first if there is none (the first
        writer wins)."""
        ...

    def add_usage(self, account_sid: str, month: str, requests: int) -> None: ...


class MetaStore(Protocol):
    """Where records live. `write()` transactions exclude each other where the backend needs it."""

    is_sqlite: bool

    def read(self) -> AbstractContextManager[Tx]: ...

    def write(self) -> AbstractContextManager[Tx]: ...

    def migrate(self) -> None: ...

    def credentials_version(self) -> str:
        """`Tx.credentials_version`, read on its own (cheaper than a transaction)."""
        ...

    def dispose(self) -> None:
        """Close pooled connections (before forking workers, which open their own)."""
        ...

    def listen(self, wake: Callable[[], None]) -> ChangeListener | None:
        """Call `wake` soon after each change another process commits, where the backend can push
        them (PostgreSQL's NOTIFY); None where it cannot: then polling alone notices them."""
        ...


class ChangeListener(Protocol):
    connected: threading.Event  # set while changes are pushed

    def stop(self) -> None: ...


# --- blobs ------------------------------------------------------------------------------------


class BlobWriter(Protocol):
    """One blob being written: counted and hashed as it goes, stored under its SHA-256 only on
    commit. Leaving the `with` block without commit discards it."""

    @property
    def size(self) -> int:
        """Bytes written so far."""
        ...

    def write(self, chunk: bytes) -> None:
        """Raises BlobTooLarge past the writer's limit (the bytes are discarded) and
        StorageError when the store refuses."""
        ...

    @property
    def spooled(self) -> Path:
        """The local file holding the bytes written so far, to be read (never written) before
        commit: what core/media.py inspects and core/strip.py cleans."""
        ...

    def digest(self) -> str:
        """The SHA-256 hex of the bytes written so far: the name commit will give them."""
        ...

    def commit(self) -> tuple[str, int]:
        """Make the bytes durable under their hash: (sha256 hex, size). Idempotent per content:
        bytes already stored are kept once."""
        ...

    def abort(self) -> None:
        """Discard what was written; a no-op after commit."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


# A compressed variant to store: (the blob's SHA-256, its Content-Encoding, the compressed bytes).
Variant = tuple[str, str, bytes]


class BlobStore(Protocol):
    """Content-addressed, immutable bytes: a blob never changes once committed."""

    def writer(self, limit: int) -> BlobWriter: ...

    def commit_all(self, writers: Sequence[BlobWriter]) -> list[tuple[str, int]]:
        """Commit several writers of this store (each as `commit` would), in fewer flushes."""
        ...

    def put(self, data: bytes) -> tuple[str, int]: ...

    def exists(self, digest: str) -> bool: ...

    def read(self, digest: str) -> bytes:
        """The whole blob (for small ones: function sources)."""
        ...

    def local_path(self, digest: str) -> Path:
        """A local file holding the blob, for what must have one: the edge sends files with
        sendfile and builds hard-link private assets into function folders. A remote store
        downloads (and caches) it first; the file must not be written to."""
        ...

    def prefetch(self, digests: Sequence[str], with_variants: Collection[str] = ()) -> None:
        """Make these blobs local now, several at a time, and the variants of those also in
        `with_variants` (a remote store fills its cache; a local one has nothing to do). For the edge, off the request path,
        before it serves a new build. A blob that cannot be fetched is left for `local_path` to
        fail on."""
        ...

    def used(self, path: str) -> None:
        """The edge is about to send this local file (of `local_path` or `variant_path`): a cache
        keeps it before less recently used ones. Cheap enough to call per request."""
        ...

    def has_variant(self, digest: str, encoding: str) -> bool:
        """Whether the blob's compressed variant (`encoding`: "br" or "gzip") is stored."""
        ...

    def put_variants(self, variants: Sequence[Variant]) -> None:
        """Store each (digest, encoding, data): `data`, the blob compressed with `encoding` ("br"
        or "gzip"), beside the blob; a variant is visible under its name only once all its bytes
        are durable. Made from the blob's bytes alone, so one variant per blob and encoding:
        storing it again changes nothing. Holds a file open per variant until all are stored:
        callers pass bounded batches (`core.variants.BATCH`)."""
        ...

    def variant_path(self, digest: str, encoding: str) -> Path | None:
        """A local file holding the variant, fetched first by a remote store; None when the blob
        has no such variant."""
        ...

    def sweep(self) -> tuple[int, int]:
        """Remove what interrupted writes left behind, never a live writer's. Returns (files,
        bytes) removed. Called now and then by every process."""
        ...

    def check(self) -> None:
        """Whether the store can take and give blobs now, cheaply (for /readyz, called at each
        probe): raises StorageError saying what is wrong, without a path."""
        ...

