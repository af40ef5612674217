"""`assethost promote` and `assethost rollback`: deploy an existing build to an environment."""

from __future__ import annotations

from typing import Any

import click

from assethost.cli.client import Client
from assethost.cli.connection import Connection, connection_options
from assethost.cli.edge import edge_url
from assethost.cli.output import emit_json, handles_errors, json_option
from assethost.cli.targets import (
    TargetError,
    default_service_name,
    find_environment,
    is_sid,
    parse_environment,
    require_environment,
    require_service,
)

_SERVICE_HELP = "Service unique name or ZS… SID [default: package.json name here, else this folder's name]."


@click.command()
@click.option("--service-name", "-n", default=None, help=_SERVICE_HELP)
@click.option("--from", "source", default=None, help="Environment whose live build is promoted (suffix, production, ZE…).")
@click.option("--build-sid", default=None, help="Promote this build (ZB…) instead of --from's.")
@click.option("--to", "target", required=True, help="Environment to deploy to (suffix; production or prod: no suffix).")
@click.option("--create", is_flag=True, help="Create the target environment if it does not exist.")
@json_option
@connection_options
@handles_errors
def promote(service_name: str | None, source: str | None, build_sid: str | None, target: str, create: bool,
            as_json: bool, conn: Connection) -> None:
    """Deploy the build live in one environment (--from) to another (--to), e.g. dev to production."""
    if bool(source) == bool(build_sid):
        raise click.UsageError("Say what to promote: --from ENVIRONMENT or --build-sid ZB…")
    if build_sid and not is_sid(build_sid, "ZB"):
        raise click.UsageError(f"--build-sid {build_sid!r} is not a build SID (ZB…)")
    to = parse_environment(target)
    with conn.client() as client:
        service = require_service(client, default_service_name(service_name))
        zs = service["sid"]
        src = require_environment(client, service, parse_environment(source)) if source else None
        if src is not None:
            build_sid = src.get("build_sid")
        if not build_sid:  # only --from's can be missing: --build-sid was checked above
            raise TargetError(f"environment {src['unique_name'] if src else source} has nothing deployed to promote")
        env = find_environment(client.environments(zs), to)
        created = False
        if env is None:
            if not create or to.sid:
                raise TargetError(f"service {service['unique_name']} has no environment {to.label!r} "
                                  "(add --create to create it)")
            env, created = client.create_environment(zs, to.unique_name, to.suffix), True
        result = _activate(client, zs, env, build_sid, created)
    _report(result, as_json, "promoted")


@click.command()
@click.option("--service-name", "-n", default=None, help=_SERVICE_HELP)
@click.option("--environment", "-e", default="dev", show_default=True,
              help="Environment to roll back (suffix; production or prod: no suffix).")
@click.option("--production", is_flag=True, help="Roll back the production environment.")
@json_option
@connection_options
@handles_errors
def rollback(service_name: str | None, environment: str, production: bool, as_json: bool, conn: Connection) -> None:
    """Deploy again the build the environment had before its current one (from its Deployments)."""
    with conn.client() as client:
        service = require_service(client, default_service_name(service_name))
        zs = service["sid"]
        env = require_environment(client, service, parse_environment(environment, production))
        current = env.get("build_sid")
        deployments = client.deployments(zs, env["sid"])
        deployments.sort(key=lambda d: d.get("date_created") or "")  # stable: list order breaks ties
        previous = next((d["build_sid"] for d in reversed(deployments) if d["build_sid"] != current), None)
        if previous is None:
            raise TargetError(f"environment {env['unique_name']} has no earlier build to roll back to")
        result = _activate(client, zs, env, previous, False)
    _report(result, as_json, "rolled back")


def _activate(client: Client, zs: str, env: dict[str, Any], build_sid: str, created: bool) -> dict[str, Any]:
    previous = env.get("build_sid")
    changed = previous != build_sid
    if changed:
        client.deploy(zs, env["sid"], build_sid)
    return {
        "service_sid": zs, "environment": env["unique_name"], "environment_sid": env["sid"],
        "domain_name": env["domain_name"], "url": edge_url(client.api_url, env["domain_name"], "/"),
        "build_sid": build_sid, "previous_build_sid": previous, "changed": changed,
        "environment_created": created,
    }


def _report(result: dict[str, Any], as_json: bool, verb: str) -> None:
    if as_json:
        emit_json(result)
    elif not result["changed"]:
        click.echo(f"Nothing changed: {result['environment']} already runs build {result['build_sid']}.")
    else:
        click.echo(f"{verb.capitalize()}: {result['environment']} now runs build {result['build_sid']} "
                   f"(was {result['previous_build_sid'] or 'none'}) at {result['url']}")
