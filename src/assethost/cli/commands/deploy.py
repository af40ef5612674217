"""`assethost deploy [DIR]`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import click

from assethost.cli import media_report
from assethost.cli import project as projects
from assethost.cli.connection import Connection, connection_options
from assethost.cli.deploy import Deployer, DeployResult
from assethost.cli.output import emit_json, handles_errors, json_option
from assethost.cli.progress import reporter_for
from assethost.cli.targets import parse_environment, service_name_for


@click.command()
@click.argument("directory", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--service-name", "-n", default=None,
              help="Service unique name (or ZS… SID) [default: package.json name, else the folder name].")
@click.option("--environment", "-e", default="dev", show_default=True,
              help="Environment domain suffix; production, prod or '' mean no suffix.")
@click.option("--production", is_flag=True, help="Deploy to the production environment (no domain suffix).")
@click.option("--dry-run", is_flag=True, help="Show what would be created, uploaded, reused and removed; change nothing.")
@click.option("--env", "env_file", default=None,
              help="File (in DIR) whose variables become the environment's Variables; '' for none "
                   "[default: .env, if there is one].")
@click.option("--assets-folder", default=None, help="Assets folder [default: assets/, else static/].")
@click.option("--functions-folder", default=None, help="Functions folder [default: functions/, else src/].")
@click.option("--runtime", default=None, help="Build runtime, one of Twilio's node8 … node22 [default: the server's, node22].")
@click.option("--workers", default=8, show_default=True, type=click.IntRange(1, 64),
              help="Parallel uploads.")
@click.option("--no-bulk", is_flag=True,
              help="Upload file by file through the standard Serverless API, as Twilio's tools do, even when "
                   "the server has assethost's bulk deploy.")
@click.option("--build-timeout", default=300.0, show_default=True, type=float, help="Seconds to wait for the build.")
@json_option
@connection_options
@handles_errors
def deploy(directory: Path, service_name: str | None, environment: str, production: bool, dry_run: bool,
           env_file: str | None, assets_folder: str | None, functions_folder: str | None, runtime: str | None,
           workers: int, no_bulk: bool, build_timeout: float, as_json: bool, conn: Connection) -> None:
    """Deploy the project in DIRECTORY (default: here) to an environment, uploading only what changed."""
    if env_file and not (directory / env_file).is_file():
        raise click.BadParameter(f"no file {directory / env_file}", param_hint="--env")
    if env_file is None:
        env_file = ".env"
    project = projects.scan(directory, env_file or None, assets_folder, functions_folder)
    name = service_name or service_name_for(project.root, project.package_name)
    target = parse_environment(environment, production)
    reporter = reporter_for(quiet=as_json)
    # Like twilio-run, the env file's ACCOUNT_SID and AUTH_TOKEN are credentials too.
    with conn.client(directory / env_file if env_file else None) as client:
        deployer = Deployer(client, project, name, target, reporter, dry_run=dry_run, workers=workers,
                            build_timeout=build_timeout, runtime=runtime, bulk=not no_bulk)
        try:
            result = deployer.run()
        except KeyboardInterrupt:
            _interrupted(deployer.deploying)
        media = media_report.after_deploy(client, result)
    if as_json:
        emit_json(result.to_json() | media)
    else:
        _print(result)
        for line in media_report.lines(media):
            click.echo(line)


def _interrupted(deploying: str | None) -> NoReturn:
    """Ctrl-C: leave now, with the shell's code for SIGINT (128 + 2). Uploads still running on
    other threads are cut rather than waited for (a normal exit would join them); the build is
    created only after every upload and deployed only after that, so none is half made or live."""
    if deploying:
        click.echo(f"\nInterrupted while deploying build {deploying}: `assethost list` shows whether it is live",
                   err=True)
    else:
        click.echo("\nInterrupted: no new build was deployed (what was already uploaded is reused by the next "
                   "deploy)", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


def _print(r: DeployResult) -> None:
    data = r.to_json()
    counts = data["counts"]
    env = r.environment
    what = "Would deploy" if r.dry_run else "Deployed"
    click.echo(f"{what} {counts['files']} files of service {r.service['unique_name']} "
               f"to {env.get('unique_name')} ({env.get('domain_name') or 'new domain'})"
               f"{' [dry run: nothing changed on the server]' if r.dry_run else ''}")
    verb = "would be " if r.dry_run else ""
    click.echo(f"  {counts['uploaded']} {verb}uploaded ({counts['uploaded_bytes']} bytes), "
               f"{counts['linked']} {verb}created from stored content, {counts['reused']} reused, "
               f"{counts['resources_created']} new assets/functions, {counts['removed']} {verb}removed")
    if r.service.get("created"):
        click.echo(f"  service {r.service['unique_name']} {verb or 'was '}created")
    if env.get("created"):
        click.echo(f"  environment {env.get('unique_name')} {verb or 'was '}created")
    for key in r.variables_created:
        click.echo(f"  variable {key} {verb}created")
    for key in r.variables_updated:
        click.echo(f"  variable {key} {verb}updated")
    if r.dry_run:
        for p in r.files:
            if p.action != "reuse":
                click.echo(f"  {p.action:<7} {p.file.visibility:<9} {p.file.path}  <- {p.file.rel}")
        for path in r.removed:
            click.echo(f"  remove  {path}")
        if not r.changed:
            click.echo("Nothing changed: the environment already runs these files.")
        return
    for path in r.removed:
        click.echo(f"  removed {path}")
    if not r.changed:
        click.echo(f"Nothing changed: {env.get('unique_name')} already runs build {r.build_sid}; no new build.")
    else:
        click.echo(f"  build {r.build_sid} (was {r.previous_build_sid or 'none'}) in {r.seconds:.2f} s")
    for p in sorted(r.files, key=lambda p: (p.file.kind, p.file.path)):
        url = r.url(p)
        kind = "function " if p.file.kind == "function" else ""
        click.echo(f"  {kind}{p.file.visibility:<9} {url or p.file.path + '  (private: not served)'}")
