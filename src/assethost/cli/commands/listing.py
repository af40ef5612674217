"""`assethost list`: services, their environments (domain, live build), builds, and the files of
each live build with their URLs, their immutable aliases and what their media are (kind, format,
GPS, the telephony checks they fail)."""

from __future__ import annotations

from typing import Any

import click

from assethost.cli.client import Client
from assethost.cli.connection import Connection, connection_options
from assethost.cli.edge import edge_url
from assethost.cli.output import emit_json, handles_errors, json_option
from assethost.cli.targets import TargetError, find_environment, parse_environment, require_service


@click.command("list")
@click.option("--service-name", "-n", default=None,
              help="Only this service (unique name or ZS… SID) [default: every service].")
@click.option("--environment", "-e", default=None, help="Only this environment (suffix, production, or ZE… SID).")
@click.option("--builds/--no-builds", "with_builds", default=True, show_default=True, help="List each service's builds.")
@click.option("--media/--no-media", "with_media", default=True, show_default=True,
              help="Show each asset's media facts, failed checks and immutable URL (one request per asset).")
@json_option
@connection_options
@handles_errors
def list_command(service_name: str | None, environment: str | None, with_builds: bool, with_media: bool,
                 as_json: bool, conn: Connection) -> None:
    """List services, environments, builds, and the assets live in each environment with their URLs."""
    with conn.client() as client:
        services = [require_service(client, service_name)] if service_name else client.services()
        data = [_service(client, s, environment, with_builds, with_media) for s in services]
    if as_json:
        emit_json({"services": data})
        return
    if not data:
        click.echo("No services.")
    for s in data:
        click.echo(f"service {s['unique_name']} ({s['sid']})")
        for e in s["environments"]:
            click.echo(f"  environment {e['unique_name']}  {e['url'] or '-'}  live build: {e['build_sid'] or 'none'}")
            for f in e["files"]:
                kind = "function " if f["kind"] == "function" else ""
                click.echo(f"    {kind}{f['visibility']:<9} {f['path']:<40} {f['url'] or '(private: not served)'}")
                if f.get("media"):
                    click.echo(f"      {_media_line(f['media'])}")
                if f.get("immutable_url"):
                    click.echo(f"      immutable: {f['immutable_url']}")
        if with_builds:
            for b in s["builds"]:
                click.echo(f"  build {b['sid']}  {b['status']:<9} {b['date_created']}  "
                           f"{b['assets']} assets, {b['functions']} functions"
                           + (f"  live in {', '.join(b['live_in'])}" if b["live_in"] else ""))


def _media_line(m: dict[str, Any]) -> str:
    facts = [m["kind"], m.get("format") or "?"]
    if m.get("codec"):
        facts.append(m["codec"])
    if m.get("sample_rate"):
        facts.append(f"{m['sample_rate']} Hz")
    if m.get("duration_seconds") is not None:
        facts.append(f"{m['duration_seconds']:.1f} s")
    if m.get("width"):
        facts.append(f"{m['width']}x{m['height']}")
    if m.get("has_gps"):
        facts.append("GPS in EXIF")
    failed = [c["rule"] for c in m.get("checks", []) if not c["ok"]]
    return "media: " + ", ".join(facts) + (f"; fails {', '.join(failed)}" if failed else "")


def _service(client: Client, service: dict[str, Any], environment: str | None, with_builds: bool,
             with_media: bool) -> dict[str, Any]:
    zs = service["sid"]
    envs = client.environments(zs)
    if environment is not None:
        env = find_environment(envs, parse_environment(environment))
        if env is None:
            raise TargetError(f"service {service['unique_name']} has no environment {environment!r}")
        envs = [env]
    out_envs = []
    for env in envs:
        files = []
        if env.get("build_sid"):
            build = client.build(zs, env["build_sid"])
            for kind in ("asset", "function"):
                for v in build.get(f"{kind}_versions", []):
                    served = v["visibility"] != "private"
                    entry = {
                        "kind": kind, "path": v["path"], "visibility": v["visibility"], "version_sid": v["sid"],
                        "url": edge_url(client.api_url, env["domain_name"], v["path"]) if served else None,
                    }
                    if with_media and kind == "asset":
                        described = client.version_media(zs, v["asset_sid"], v["sid"])
                        entry |= {"media": described["media"], "immutable_url": described["immutable_url"]}
                    files.append(entry)
        out_envs.append({
            "sid": env["sid"], "unique_name": env["unique_name"], "domain_suffix": env.get("domain_suffix"),
            "domain_name": env["domain_name"], "url": edge_url(client.api_url, env["domain_name"], "/"),
            "build_sid": env.get("build_sid"), "files": sorted(files, key=lambda f: (f["kind"], f["path"])),
        })
    builds = []
    if with_builds:
        live_in: dict[str, list[str]] = {}
        for env in client.environments(zs) if environment is not None else envs:
            if env.get("build_sid"):
                live_in.setdefault(env["build_sid"], []).append(env["unique_name"])
        for b in client.builds(zs):
            builds.append({
                "sid": b["sid"], "status": b["status"], "date_created": b["date_created"],
                "assets": len(b.get("asset_versions", [])), "functions": len(b.get("function_versions", [])),
                "live_in": live_in.get(b["sid"], []),
            })
    return {"sid": zs, "unique_name": service["unique_name"], "environments": out_envs, "builds": builds}


