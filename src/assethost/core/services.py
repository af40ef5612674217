"""Services: the top-level container whose unique name forms every environment's domain."""

from __future__ import annotations

import random

from assethost.core import clock, names, sids
from assethost.core.context import Context
from assethost.core.errors import Conflict, NotFound
from assethost.core.model import Service
from assethost.core.paging import Page, PageRequest, fetch
from assethost.core.ports import Duplicate, Tx, Value


def find(tx: Tx, account_sid: str, ref: str, kind: str = "serverless") -> Service:
    """A service of this account by SID or unique name; another account's is 'not found'."""
    row = None
    if sids.is_sid(ref, sids.SERVICE):
        row = tx.services.get(sid=ref, account_sid=account_sid, kind=kind)
    elif names.looks_like_service_name(ref) or kind != "serverless":
        row = tx.services.get(unique_name=ref, account_sid=account_sid, kind=kind)
    if row is None:
        raise NotFound.resource(f"/Services/{ref}")
    return row


def domain_base(tx: Tx, name: str) -> str:
    """`{name}-{4 random digits}`, free as a service domain and as a domain label."""
    for _ in range(200):
        candidate = f"{name.lower()}-{random.randint(1000, 9999)}"
        if tx.services.get(domain_base=candidate) is None:
            return candidate
    raise Conflict(f"No free domain left for the service name {name!r}")


def create(
    ctx: Context, account_sid: str, unique_name: str | None, friendly_name: str | None,
    include_credentials: str | None, ui_editable: str | None,
) -> Service:
    unique = names.service_unique_name(unique_name)
    friendly = names.friendly_name(friendly_name)
    include = names.boolean(include_credentials, "IncludeCredentials", True)
    editable = names.boolean(ui_editable, "UiEditable", False)
    sid, now = sids.new(sids.SERVICE), clock.now()
    with ctx.meta.write() as tx:
        if tx.services.get(account_sid=account_sid, unique_name=unique) is not None:
            raise Conflict(f"Service with UniqueName {unique!r} already exists")
        try:
            tx.services.insert(sid=sid, account_sid=account_sid, unique_name=unique, friendly_name=friendly,
                include_credentials=include, ui_editable=editable, domain_base=domain_base(tx, unique), kind="serverless",
                date_created=now, date_updated=now,
            )
        except Duplicate:
            raise Conflict(f"Service with UniqueName {unique!r} already exists") from None
        return tx.services.one(sid=sid)


def get(ctx: Context, account_sid: str, ref: str) -> Service:
    with ctx.meta.read() as tx:
        return find(tx, account_sid, ref)


def page(ctx: Context, account_sid: str, req: PageRequest) -> Page[Service]:
    with ctx.meta.read() as tx:
        return fetch(tx.services, {"account_sid": account_sid, "kind": "serverless"}, req)


def update(
    ctx: Context, account_sid: str, ref: str, friendly_name: str | None,
    include_credentials: str | None, ui_editable: str | None,
) -> Service:
    values: dict[str, Value] = {}
    if friendly_name is not None:
        values["friendly_name"] = names.friendly_name(friendly_name)
    if include_credentials is not None:
        values["include_credentials"] = names.boolean(include_credentials, "IncludeCredentials", True)
    if ui_editable is not None:
        values["ui_editable"] = names.boolean(ui_editable, "UiEditable", False)
    with ctx.meta.write() as tx:
        row = find(tx, account_sid, ref)
        if values:
            tx.services.update({"sid": row.sid}, date_updated=clock.now(), **values)
        if "include_credentials" in values:
            tx.bump_generation(service_sid=row.sid)  # every edge reloads its environments: the next call of a function has, or lacks, them
        row = tx.services.one(sid=row.sid)
    if "include_credentials" in values:
        ctx.changed()
    return row


def delete(ctx: Context, account_sid: str, ref: str) -> None:
    """Deletes the service with everything in it; its domains stop serving at once."""
    with ctx.meta.write() as tx:
        row = find(tx, account_sid, ref)
        tx.services.delete(sid=row.sid)
        tx.bump_generation(service_sid=row.sid)
    ctx.changed()
