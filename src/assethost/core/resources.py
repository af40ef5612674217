"""Assets and Functions (named containers) and their immutable Versions."""

from __future__ import annotations

import mimetypes
import re

from assethost.core import clock, limits, lookup, names, services, sids
from assethost.core.context import Context
from assethost.core.errors import Conflict, Invalid, NotFound
from assethost.core.model import Resource, Service, Version
from assethost.core.paging import Page, PageRequest, fetch
from assethost.core.ports import Tx

KINDS = ("asset", "function")
_COLLECTION = {"asset": "Assets", "function": "Functions"}


def find(tx: Tx, account_sid: str, service_ref: str, kind: str, sid: str) -> tuple[Service, Resource]:
    service = services.find(tx, account_sid, service_ref)
    uri = f"/Services/{service_ref}/{_COLLECTION[kind]}/{sid}"
    return service, lookup.child(tx.resources, sids.RESOURCE, sid, uri, service_sid=service.sid, kind=kind)


def create(ctx: Context, account_sid: str, service_ref: str, kind: str, friendly_name: str | None) -> Resource:
    friendly = names.friendly_name(friendly_name)
    sid, now = sids.new(sids.RESOURCE), clock.now()
    with ctx.meta.write() as tx:
        service = services.find(tx, account_sid, service_ref)
        tx.resources.insert(sid=sid, account_sid=account_sid, service_sid=service.sid, kind=kind,
            friendly_name=friendly, date_created=now, date_updated=now,
        )
        return tx.resources.one(sid=sid)


def get(ctx: Context, account_sid: str, service_ref: str, kind: str, sid: str) -> Resource:
    with ctx.meta.read() as tx:
        return find(tx, account_sid, service_ref, kind, sid)[1]


def page(ctx: Context, account_sid: str, service_ref: str, kind: str, req: PageRequest) -> Page[Resource]:
    with ctx.meta.read() as tx:
        service = services.find(tx, account_sid, service_ref)
        return fetch(tx.resources, {"service_sid": service.sid, "kind": kind}, req)


def update(
    ctx: Context, account_sid: str, service_ref: str, kind: str, sid: str, friendly_name: str | None,
) -> Resource:
    friendly = names.friendly_name(friendly_name)
    with ctx.meta.write() as tx:
        _, row = find(tx, account_sid, service_ref, kind, sid)
        tx.resources.update({"sid": row.sid}, friendly_name=friendly, date_updated=clock.now())
        return tx.resources.one(sid=row.sid)


def delete(ctx: Context, account_sid: str, service_ref: str, kind: str, sid: str, allow_live: bool = False) -> None:
    """Through the API, refused while a version of it is live in some environment, as Twilio does.
    The console allows it (`allow_live`): builds are frozen copies, so the live build keeps
    serving the file until the next deploy leaves it out."""
    with ctx.meta.write() as tx:
        service, row = find(tx, account_sid, service_ref, kind, sid)
        live = [e.build_sid for e in tx.environments.select(service_sid=service.sid) if e.build_sid]
        if not allow_live and any(tx.build_entries.count(build_sid=b, resource_sid=row.sid) for b in set(live)):
            raise Conflict(
                f"Cannot delete {kind} {row.sid} because a version of it is part of an active Deployment"
            )
        tx.resources.delete(sid=row.sid)


# --- versions -------------------------------------------------------------------------------


def check_upload(ctx: Context, kind: str, path: str | None, visibility: str | None, size: int) -> tuple[str, str]:
    """Validate an upload's fields once its bytes have been counted. Returns (path, visibility)."""
    clean_path = names.version_path(path)
    clean_visibility = names.visibility(visibility)
    limits.check_file(ctx.limits, kind, clean_visibility, clean_path, size)
    return clean_path, clean_visibility


def content_type(declared: str | None, path: str) -> str:
    """The type the uploader declared, unless it said nothing useful; then the extension's."""
    declared = (declared or "").strip()
    if declared and declared.lower() != "application/octet-stream":
        return declared
    guessed, _ = mimetypes.guess_type(path)
    return guessed or declared or "application/octet-stream"


def add_version(
    ctx: Context, account_sid: str, service_ref: str, kind: str, resource_sid: str,
    path: str, visibility: str, blob_hash: str, size: int, declared_type: str | None,
) -> Version:
    sid = sids.new(sids.VERSION)
    with ctx.meta.write() as tx:
        service, resource = find(tx, account_sid, service_ref, kind, resource_sid)
        tx.versions.insert(sid=sid, account_sid=account_sid, service_sid=service.sid,
            resource_sid=resource.sid, kind=kind, path=path, visibility=visibility, blob_hash=blob_hash,
            size=size, content_type=content_type(declared_type, path), date_created=clock.now(),
        )
        return tx.versions.one(sid=sid)


def find_version(tx: Tx, account_sid: str, service_ref: str, kind: str, resource_sid: str, sid: str) -> Version:
    _, resource = find(tx, account_sid, service_ref, kind, resource_sid)
    uri = f"/Services/{service_ref}/{_COLLECTION[kind]}/{resource_sid}/Versions/{sid}"
    return lookup.child(tx.versions, sids.VERSION, sid, uri, resource_sid=resource.sid)


def get_version(ctx: Context, account_sid: str, service_ref: str, kind: str, resource_sid: str, sid: str) -> Version:
    with ctx.meta.read() as tx:
        return find_version(tx, account_sid, service_ref, kind, resource_sid, sid)


def version_page(
    ctx: Context, account_sid: str, service_ref: str, kind: str, resource_sid: str, req: PageRequest
) -> Page[Version]:
    with ctx.meta.read() as tx:
        _, resource = find(tx, account_sid, service_ref, kind, resource_sid)
        return fetch(tx.versions, {"resource_sid": resource.sid}, req)


def function_source(ctx: Context, version: Version) -> str:
    return ctx.blobs.read(version.blob_hash).decode("utf-8", errors="replace")


# --- assethost extensions: reuse of stored content ------------------------------------------

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def add_version_from_content(
    ctx: Context, account_sid: str, service_ref: str, kind: str, resource_sid: str,
    path: str | None, visibility: str | None, sha256: str | None, declared_type: str | None,
) -> Version:
    """A new version whose bytes this account has uploaded before, named by their SHA-256, so a
    deploy sends only content the server does not hold. Only the account's own content can be
    named: whether other accounts hold some bytes is never revealed."""
    sha256 = (sha256 or "").lower()
    if not _SHA256.match(sha256):
        raise Invalid("ContentSha256 must be the 64 hex digits of the content's SHA-256")
    with ctx.meta.read() as tx:
        find(tx, account_sid, service_ref, kind, resource_sid)
        known = tx.versions.get(account_sid=account_sid, blob_hash=sha256)
    if known is None or not ctx.blobs.exists(sha256):
        raise NotFound(f"No content with SHA-256 {sha256} is stored for this account; upload it instead")
    clean_path, clean_visibility = check_upload(ctx, kind, path, visibility, known.size)
    return add_version(
        ctx, account_sid, service_ref, kind, resource_sid, clean_path, clean_visibility, sha256, known.size,
        declared_type or known.content_type,
    )


def service_version_page(
    ctx: Context, account_sid: str, service_ref: str, kind: str | None, req: PageRequest,
) -> Page[Version]:
    """Every version of a service's assets and/or functions, with content hashes."""
    if kind is not None and kind not in KINDS:
        raise Invalid(f"Kind must be asset or function (got {kind!r})")
    with ctx.meta.read() as tx:
        service = services.find(tx, account_sid, service_ref)
        where = {"service_sid": service.sid} | ({"kind": kind} if kind else {})
        return fetch(tx.versions, where, req)
