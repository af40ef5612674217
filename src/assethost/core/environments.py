"""Environments (each with its own domain), the Deployments that switch their live build, and
their Variables."""

from __future__ import annotations

from typing import Any

from assethost.core import clock, names, services, sids
from assethost.core.context import Context
from assethost.core.errors import Conflict, Invalid, NotFound
from assethost.core.paging import Page, PageRequest, fetch
from assethost.store.meta import Duplicate, Tx

_DUPLICATE = "Environment with this UniqueName or DomainSuffix already exists."


def domain_label(domain_base: str, suffix: str | None) -> str:
    """What is stored of an environment's domain: its own part, without the base domain."""
    return (f"{domain_base}-{suffix}" if suffix else domain_base).lower()


def domain_name(label: str, base_domain: str) -> str:
    """The domain an environment is served at, under the server's current base domain."""
    return f"{label}.{base_domain}"


def find(tx: Tx, account_sid: str, service_ref: str, sid: str) -> tuple[Any, Any]:
    service = services.find(tx, account_sid, service_ref)
    row = tx.get("environments", sid=sid, service_sid=service.sid) if sids.is_sid(sid, sids.ENVIRONMENT) else None
    if row is None:
        raise NotFound.resource(f"/Services/{service_ref}/Environments/{sid}")
    return service, row


def create(ctx: Context, account_sid: str, service_ref: str, unique_name: str | None, suffix: str | None) -> Any:
    unique = names.environment_unique_name(unique_name)
    suffix = names.domain_suffix(suffix)
    sid, now = sids.new(sids.ENVIRONMENT), clock.now()
    with ctx.meta.write() as tx:
        service = services.find(tx, account_sid, service_ref)
        label = domain_label(service.domain_base, suffix)
        clash = (
            tx.get("environments", service_sid=service.sid, unique_name=unique)
            or tx.get("environments", domain_label=label)
        )
        if clash is not None:
            raise Conflict(_DUPLICATE)
        try:
            tx.insert(
                "environments", sid=sid, account_sid=account_sid, service_sid=service.sid, unique_name=unique,
                domain_suffix=suffix, domain_label=label, build_sid=None, date_created=now, date_updated=now,
            )
        except Duplicate:
            raise Conflict(_DUPLICATE) from None
        tx.bump_generation()  # the edge then knows the domain ("nothing deployed", not "unknown")
        row = tx.get("environments", sid=sid)
    ctx.changed()
    return row


def get(ctx: Context, account_sid: str, service_ref: str, sid: str) -> Any:
    with ctx.meta.read() as tx:
        return find(tx, account_sid, service_ref, sid)[1]


def page(ctx: Context, account_sid: str, service_ref: str, req: PageRequest) -> Page:
    with ctx.meta.read() as tx:
        service = services.find(tx, account_sid, service_ref)
        return fetch(tx, "environments", {"service_sid": service.sid}, req)


def delete(ctx: Context, account_sid: str, service_ref: str, sid: str) -> None:
    """Removes the environment with its deployments and variables; its domain stops serving."""
    with ctx.meta.write() as tx:
        _, row = find(tx, account_sid, service_ref, sid)
        tx.delete("environments", sid=row.sid)
        tx.bump_generation()
    ctx.changed()


# --- deployments ----------------------------------------------------------------------------


def deploy(
    ctx: Context, account_sid: str, service_ref: str, environment_sid: str, build_sid: str | None,
) -> Any:
    """Switch the environment to the build (or to nothing, without one) in one transaction."""
    build_sid = build_sid or None
    if build_sid is not None and not sids.is_sid(build_sid, sids.BUILD):
        raise Invalid(f"BuildSid {build_sid!r} is not a Build SID (ZB…)")
    with ctx.meta.write() as tx:
        service, env = find(tx, account_sid, service_ref, environment_sid)
        deployment = switch(tx, service, env, build_sid)
    ctx.changed()
    return deployment


def switch(tx: Tx, service: Any, env: Any, build_sid: str | None) -> Any:
    """Point the environment at the build and record the deployment; the caller commits and then
    tells the edge (`ctx.changed()`)."""
    sid, now = sids.new(sids.DEPLOYMENT), clock.now()
    env = tx.lock("environments", sid=env.sid)
    if build_sid is not None:
        build = tx.get("builds", sid=build_sid, service_sid=service.sid)
        if build is None:
            raise NotFound(f"BuildSid: the build {build_sid} was not found in this service")
        if build.status != "completed":
            raise Invalid(f"Build {build_sid} cannot be deployed: its status is {build.status}, not completed")
    if env.build_sid == build_sid:
        raise Conflict("Environment already has requested deployment.")
    tx.update("environments", {"sid": env.sid}, build_sid=build_sid, date_updated=now)
    tx.insert(
        "deployments", sid=sid, account_sid=service.account_sid, service_sid=service.sid, environment_sid=env.sid,
        build_sid=build_sid, date_created=now, date_updated=now,
    )
    tx.bump_generation()
    return tx.get("deployments", sid=sid)


def get_deployment(ctx: Context, account_sid: str, service_ref: str, environment_sid: str, sid: str) -> Any:
    with ctx.meta.read() as tx:
        _, env = find(tx, account_sid, service_ref, environment_sid)
        row = tx.get("deployments", sid=sid, environment_sid=env.sid) if sids.is_sid(sid, sids.DEPLOYMENT) else None
        if row is None:
            raise NotFound.resource(f"/Services/{service_ref}/Environments/{environment_sid}/Deployments/{sid}")
        return row


def deployment_page(ctx: Context, account_sid: str, service_ref: str, environment_sid: str, req: PageRequest) -> Page:
    with ctx.meta.read() as tx:
        _, env = find(tx, account_sid, service_ref, environment_sid)
        return fetch(tx, "deployments", {"environment_sid": env.sid}, req)


# --- variables ------------------------------------------------------------------------------


def _find_variable(tx: Tx, account_sid: str, service_ref: str, environment_sid: str, sid: str) -> Any:
    _, env = find(tx, account_sid, service_ref, environment_sid)
    row = tx.get("variables", sid=sid, environment_sid=env.sid) if sids.is_sid(sid, sids.VARIABLE) else None
    if row is None:
        raise NotFound.resource(f"/Services/{service_ref}/Environments/{environment_sid}/Variables/{sid}")
    return row


def _duplicate_key(key: str) -> Conflict:
    return Conflict(f"Variable with Key {key!r} already exists in this Environment")


def create_variable(
    ctx: Context, account_sid: str, service_ref: str, environment_sid: str, key: str | None, value: str | None,
) -> Any:
    key, value = names.variable_key(key), names.variable_value(value)
    sid, now = sids.new(sids.VARIABLE), clock.now()
    with ctx.meta.write() as tx:
        service, env = find(tx, account_sid, service_ref, environment_sid)
        try:
            tx.insert(
                "variables", sid=sid, account_sid=account_sid, service_sid=service.sid, environment_sid=env.sid,
                key=key, value=value, date_created=now, date_updated=now,
            )
        except Duplicate:
            raise _duplicate_key(key) from None
        return tx.get("variables", sid=sid)


def get_variable(ctx: Context, account_sid: str, service_ref: str, environment_sid: str, sid: str) -> Any:
    with ctx.meta.read() as tx:
        return _find_variable(tx, account_sid, service_ref, environment_sid, sid)


def variable_page(ctx: Context, account_sid: str, service_ref: str, environment_sid: str, req: PageRequest) -> Page:
    with ctx.meta.read() as tx:
        _, env = find(tx, account_sid, service_ref, environment_sid)
        return fetch(tx, "variables", {"environment_sid": env.sid}, req)


def update_variable(
    ctx: Context, account_sid: str, service_ref: str, environment_sid: str, sid: str,
    key: str | None, value: str | None,
) -> Any:
    values: dict[str, Any] = {}
    if key is not None:
        values["key"] = names.variable_key(key)
    if value is not None:
        values["value"] = names.variable_value(value)
    with ctx.meta.write() as tx:
        row = _find_variable(tx, account_sid, service_ref, environment_sid, sid)
        if values:
            try:
                tx.update("variables", {"sid": row.sid}, date_updated=clock.now(), **values)
            except Duplicate:
                raise _duplicate_key(values["key"]) from None
        return tx.get("variables", sid=row.sid)


def delete_variable(ctx: Context, account_sid: str, service_ref: str, environment_sid: str, sid: str) -> None:
    with ctx.meta.write() as tx:
        row = _find_variable(tx, account_sid, service_ref, environment_sid, sid)
        tx.delete("variables", sid=row.sid)
