"""The one upload use case: a file sent to any face becomes a stored version.

A face (the API's Versions endpoint, the console's Assets pane, its Assets (Legacy) page) first
names where the file goes and has it `locate`d, so that a wrong address fails before the body is
read; then it streams the body into an uncommitted blob writer (`web/multipart.py`) and hands the
result to `store`, which checks the fields against the destination's rules, commits the bytes
and adds the version. Between the check and the commit, `core/mediafiles.py` strips an image's
metadata when asked (`StripMetadata=true`, or the service's setting) and inspects new content.
Bytes are committed only once every check has passed: a refused upload, like a failed one, leaves
nothing stored. (The checks that depend on other uploads are repeated
when the version is added, in its transaction: one that a concurrent upload makes fail there
leaves its blob unreferenced, which costs its bytes and nothing else: blobs are named by their
content, and the next upload of the same bytes uses it.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from assethost.core import checks, legacy, mediafiles, names, resources, services, workspace
from assethost.core.context import Context
from assethost.core.errors import Invalid, storage_refusal
from assethost.core.model import Version
from assethost.core.ports import BlobStore, BlobWriter, StorageError


@dataclass
class Received:
    """An upload as the client sent it: its text fields (`Path`, `Visibility`) and its bytes,
    counted and hashed but not yet committed."""

    fields: dict[str, str]
    content: BlobWriter
    filename: str | None  # of the Content part
    content_type: str | None  # declared by the Content part


class Destination(Protocol):
    def locate(self, ctx: Context) -> Destination:
        """The destination with its references resolved; raises NotFound for a wrong one."""
        ...

    def check(self, ctx: Context, path: str | None, visibility: str | None, size: int) -> tuple[str, str]:
        """The clean (path, visibility), or the error that refuses the file."""
        ...

    def add(self, ctx: Context, path: str, visibility: str, blob_hash: str, size: int,
            declared_type: str | None) -> Version: ...

    def media_service(self) -> str | None:
        """The service whose media settings apply to the upload (once located), if any."""
        ...


@dataclass(frozen=True)
class NewVersion:
    """A version of an existing Asset or Function (the API)."""

    account_sid: str
    service_ref: str
    kind: str
    resource_sid: str

    def locate(self, ctx: Context) -> NewVersion:
        with ctx.meta.read() as tx:
            service, resource = resources.find(tx, self.account_sid, self.service_ref, self.kind,
                                               self.resource_sid)
        return NewVersion(self.account_sid, service.sid, self.kind, resource.sid)

    def check(self, ctx: Context, path: str | None, visibility: str | None, size: int) -> tuple[str, str]:
        return resources.check_upload(ctx, self.kind, path, visibility, size)

    def add(self, ctx: Context, path: str, visibility: str, blob_hash: str, size: int,
            declared_type: str | None) -> Version:
        return resources.add_version(ctx, self.account_sid, self.service_ref, self.kind, self.resource_sid,
                                     path, visibility, blob_hash, size, declared_type)

    def media_service(self) -> str | None:
        return self.service_ref


@dataclass(frozen=True)
class WorkspaceFile:
    """A file of the console's Assets pane: a new asset, or a new version of the one with its path
    (keeping its visibility when the upload names none), refused when Deploy All would then break
    a build limit or the service is not editable in the console."""

    account_sid: str
    service_ref: str

    def locate(self, ctx: Context) -> WorkspaceFile:
        service = services.get(ctx, self.account_sid, self.service_ref)
        workspace.require_editable(service)  # before the body is read
        return WorkspaceFile(self.account_sid, service.sid)

    def check(self, ctx: Context, path: str | None, visibility: str | None, size: int) -> tuple[str, str]:
        if not visibility:  # an upload over an existing asset keeps its visibility unless told otherwise
            existing = workspace.visibility_of(ctx, self.account_sid, self.service_ref, names.version_path(path))
            visibility = existing or "public"
        clean_path, clean_visibility = resources.check_upload(ctx, "asset", path, visibility, size)
        workspace.check_room(ctx, self.account_sid, self.service_ref, clean_path, clean_visibility, size)
        return clean_path, clean_visibility

    def add(self, ctx: Context, path: str, visibility: str, blob_hash: str, size: int,
            declared_type: str | None) -> Version:
        return workspace.add_file(ctx, self.account_sid, self.service_ref, path, visibility, blob_hash, size,
                                  declared_type)

    def media_service(self) -> str | None:
        return self.service_ref


@dataclass(frozen=True)
class LegacyFile:
    """A file of Assets (Legacy), named by its `Path` field (a file name), live at once."""

    account_sid: str

    def locate(self, ctx: Context) -> LegacyFile:
        return self

    def check(self, ctx: Context, path: str | None, visibility: str | None, size: int) -> tuple[str, str]:
        return legacy.check_upload(ctx, self.account_sid, path, visibility, size)

    def add(self, ctx: Context, path: str, visibility: str, blob_hash: str, size: int,
            declared_type: str | None) -> Version:
        return legacy.upload(ctx, self.account_sid, path, visibility, blob_hash, size, declared_type)

    def media_service(self) -> str | None:
        return None  # the hidden service of Assets (Legacy) has no settings: only the form field applies


def store(ctx: Context, destination: Destination, received: Received) -> Version:
    """Check, commit, add: the version made, or the error that refused it (nothing stored)."""
    try:
        path, visibility = destination.check(ctx, received.fields.get("Path"), received.fields.get("Visibility"),
                                             received.content.size)
        facts = mediafiles.prepare(ctx, received, path, destination.media_service())  # may replace the content
        try:
            blob_hash, size = received.content.commit()
        except StorageError as exc:
            raise storage_refusal(exc) from None
    finally:
        received.content.abort()  # a no-op once committed
    mediafiles.remember(ctx, blob_hash, facts)
    return destination.add(ctx, path, visibility, blob_hash, size, received.content_type)


def store_and_check(ctx: Context, destination: Destination, received: Received) -> tuple[Version, list[checks.Result]]:
    """`store`, and the media rules the new version fails (what the upload's answer warns of), in
    the caller's one thread hop."""
    version = store(ctx, destination, received)
    return version, mediafiles.warnings(ctx, version)


def store_expected(blobs: BlobStore, files: Sequence[tuple[BlobWriter, str, str]]) -> None:
    """Commit files whose SHA-256 the client declared before sending them ((writer, sha256,
    name) each; the bulk deploy, `core/bulk.py`), all at once (`BlobStore.commit_all`). If any
    does not match, none is committed. The versions are added later, by the caller, once every
    file is stored."""
    try:
        for content, sha256, name in files:
            if content.digest() != sha256:
                raise Invalid(f"The bytes sent for {name} have the SHA-256 {content.digest()}, not {sha256} as the "
                              "manifest says: they were not stored")
        try:
            blobs.commit_all([content for content, _, _ in files])
        except StorageError as exc:
            raise storage_refusal(exc) from None
    finally:
        for content, _, _ in files:
            content.abort()  # a no-op once committed
