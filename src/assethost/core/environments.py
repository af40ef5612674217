"""Environments (each with its own domain), the Deployments that switch their live build, and
their Variables.

A change of a variable bumps the generation counter as a deployment does: every edge then reloads
its snapshot (reusing the files of unchanged builds) and the next function call gets the new
values in its `context`, without a redeploy, as on Twilio."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from assethost.core import clock, lookup, names, services, sids
from assethost.core.context import Context
from assethost.core.errors import Conflict, Invalid, NotFound
from assethost.core.model import Deployment, Environment, Service, Variable
from assethost.core.paging import Identified, Page, PageRequest, fetch
from assethost.core.ports import Duplicate, Rows, Tx

T = TypeVar("T", bound=Identified)
_DUPLICATE = "Environment with this UniqueName or DomainSuffix already exists."


def domain_label(domain_base: str, suffix: str | None) -> str:
    """What is stored of an environment's domain: its own part, without the base domain."""
    return (f"{domain_base}-{suffix}" if suffix else domain_base).lower()


def domain_name(label: str, base_domain: str) -> str:
    """The domain an environment is served at, under the server's current base domain."""
    return f"{label}.{base_domain}"


def find(tx: Tx, account_sid: str, service_ref: str, sid: str) -> tuple[Service, Environment]:
    service = services.find(tx, account_sid, service_ref)
    uri = f"/Services/{service_ref}/Environments/{sid}"
    return service, lookup.child(tx.environments, sids.ENVIRONMENT, sid, uri, service_sid=service.sid)


def create(ctx: Context, account_sid: str, service_ref: str, unique_name: str | None, suffix: str | None) -> Environment:
    unique = names.environment_unique_name(unique_name)
    suffix = names.domain_suffix(suffix)
    sid, now = sids.new(sids.ENVIRONMENT), clock.now()
    with ctx.meta.write() as tx:
        service = services.find(tx, account_sid, service_ref)
        label = domain_label(service.domain_base, suffix)
        clash = (
            tx.environments.get(service_sid=service.sid, unique_name=unique)
            or tx.environments.get(domain_label=label)
        )
        if clash is not None:
            raise Conflict(_DUPLICATE)
        try:
            tx.environments.insert(sid=sid, account_sid=account_sid, service_sid=service.sid, unique_name=unique,
                domain_suffix=suffix, domain_label=label, build_sid=None, date_created=now, date_updated=now,
            )
        except Duplicate:
            raise Conflict(_DUPLICATE) from None
        tx.bump_generation(environment_sid=sid)  # the edge then knows the domain ("nothing deployed", not "unknown")
        row = tx.environments.one(sid=sid)
    ctx.changed()
    return row


def get(ctx: Context, account_sid: str, service_ref: str, sid: str) -> Environment:
    with ctx.meta.read() as tx:
        return find(tx, account_sid, service_ref, sid)[1]


def page(ctx: Context, account_sid: str, service_ref: str, req: PageRequest) -> Page[Environment]:
    with ctx.meta.read() as tx:
        service = services.find(tx, account_sid, service_ref)
        return fetch(tx.environments, {"service_sid": service.sid}, req)


def delete(ctx: Context, account_sid: str, service_ref: str, sid: str) -> None:
    """Removes the environment with its deployments and variables; its domain stops serving."""
    with ctx.meta.write() as tx:
        _, row = find(tx, account_sid, service_ref, sid)
        tx.environments.delete(sid=row.sid)
        tx.bump_generation(environment_sid=row.sid)
    ctx.changed()


# --- deployments ----------------------------------------------------------------------------


def deploy(
    ctx: Context, account_sid: str, service_ref: str, environment_sid: str, build_sid: str | None,
) -> Deployment:
    """Switch the environment to the build (or to nothing, without one) in one transaction."""
    build_sid = build_sid or None
    if build_sid is not None and not sids.is_sid(build_sid, sids.BUILD):
        raise Invalid(f"BuildSid {build_sid!r} is not a Build SID (ZB…)")
    with ctx.meta.write() as tx:
        service, env = find(tx, account_sid, service_ref, environment_sid)
        deployment = switch(tx, service, env, build_sid)
    ctx.changed()
    return deployment


def switch(tx: Tx, service: Service, env: Environment, build_sid: str | None) -> Deployment:
    """Point the environment at the build and record the deployment; the caller commits and then
    tells the edge (`ctx.changed()`)."""
    sid, now = sids.new(sids.DEPLOYMENT), clock.now()
    locked = tx.environments.lock(sid=env.sid)
    if locked is None:  # deleted by another transaction since it was found
        raise NotFound(f"Environment {env.sid} was deleted")
    env = locked
    if build_sid is not None:
        build = tx.builds.get(sid=build_sid, service_sid=service.sid)
        if build is None:
            raise NotFound(f"BuildSid: the build {build_sid} was not found in this service")
        if build.status != "completed":
            raise Invalid(f"Build {build_sid} cannot be deployed: its status is {build.status}, not completed")
    if env.build_sid == build_sid:
        raise Conflict("Environment already has requested deployment.")
    tx.environments.update({"sid": env.sid}, build_sid=build_sid, date_updated=now)
    tx.deployments.insert(sid=sid, account_sid=service.account_sid, service_sid=service.sid, environment_sid=env.sid,
        build_sid=build_sid, date_created=now, date_updated=now,
    )
    tx.bump_generation(environment_sid=env.sid)
    return tx.deployments.one(sid=sid)


def get_deployment(ctx: Context, account_sid: str, service_ref: str, environment_sid: str, sid: str) -> Deployment:
    with ctx.meta.read() as tx:
        _, env = find(tx, account_sid, service_ref, environment_sid)
        uri = f"/Services/{service_ref}/Environments/{environment_sid}/Deployments/{sid}"
        return lookup.child(tx.deployments, sids.DEPLOYMENT, sid, uri, environment_sid=env.sid)


def deployment_page(
    ctx: Context, account_sid: str, service_ref: str, environment_sid: str, req: PageRequest,
) -> Page[Deployment]:
    return _page_in(ctx, lambda tx: tx.deployments, account_sid, service_ref, environment_sid, req)


def _page_in(
    ctx: Context, rows: Callable[[Tx], Rows[T]], account_sid: str, service_ref: str, environment_sid: str,
    req: PageRequest,
) -> Page[T]:
    """A page of the environment's deployments or variables (`rows`)."""
    with ctx.meta.read() as tx:
        _, env = find(tx, account_sid, service_ref, environment_sid)
        return fetch(rows(tx), {"environment_sid": env.sid}, req)


# --- variables ------------------------------------------------------------------------------


def _find_variable(tx: Tx, account_sid: str, service_ref: str, environment_sid: str, sid: str) -> Variable:
    _, env = find(tx, account_sid, service_ref, environment_sid)
    uri = f"/Services/{service_ref}/Environments/{environment_sid}/Variables/{sid}"
    return lookup.child(tx.variables, sids.VARIABLE, sid, uri, environment_sid=env.sid)


def _duplicate_key(key: str) -> Conflict:
    return Conflict(f"Variable with Key {key!r} already exists in this Environment")


def create_variable(
    ctx: Context, account_sid: str, service_ref: str, environment_sid: str, key: str | None, value: str | None,
) -> Variable:
    key, value = names.variable_key(key), names.variable_value(value)
    sid, now = sids.new(sids.VARIABLE), clock.now()
    with ctx.meta.write() as tx:
        service, env = find(tx, account_sid, service_ref, environment_sid)
        try:
            tx.variables.insert(sid=sid, account_sid=account_sid, service_sid=service.sid, environment_sid=env.sid,
                key=key, value=value, date_created=now, date_updated=now,
            )
        except Duplicate:
            raise _duplicate_key(key) from None
        tx.bump_generation(environment_sid=env.sid)  # every edge reloads it, so the next call of a function sees it
        row = tx.variables.one(sid=sid)
    ctx.changed()
    return row


def get_variable(ctx: Context, account_sid: str, service_ref: str, environment_sid: str, sid: str) -> Variable:
    with ctx.meta.read() as tx:
        return _find_variable(tx, account_sid, service_ref, environment_sid, sid)


def variable_page(
    ctx: Context, account_sid: str, service_ref: str, environment_sid: str, req: PageRequest,
) -> Page[Variable]:
    return _page_in(ctx, lambda tx: tx.variables, account_sid, service_ref, environment_sid, req)


def update_variable(
    ctx: Context, account_sid: str, service_ref: str, environment_sid: str, sid: str,
    key: str | None, value: str | None,
) -> Variable:
    values: dict[str, str] = {}
    if key is not None:
        values["key"] = names.variable_key(key)
    if value is not None:
        values["value"] = names.variable_value(value)
    with ctx.meta.write() as tx:
        row = _find_variable(tx, account_sid, service_ref, environment_sid, sid)
        if values:
            try:
                tx.variables.update({"sid": row.sid}, date_updated=clock.now(), **values)
            except Duplicate:
                raise _duplicate_key(values["key"]) from None
            tx.bump_generation(environment_sid=row.environment_sid)
        row = tx.variables.one(sid=row.sid)
    if values:
        ctx.changed()
    return row


def delete_variable(ctx: Context, account_sid: str, service_ref: str, environment_sid: str, sid: str) -> None:
    with ctx.meta.write() as tx:
        row = _find_variable(tx, account_sid, service_ref, environment_sid, sid)
        tx.variables.delete(sid=row.sid)
        tx.bump_generation(environment_sid=row.environment_sid)
    ctx.changed()
