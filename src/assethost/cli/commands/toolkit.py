"""`assethost toolkit -- ARGS`: Twilio's own Serverless Toolkit (`twilio-run`), unmodified, against
this assethost.

twilio-run has no setting for its API's address, so this runs it with our Node preload
(`cli/twilio-run-preload.js`, which sends its Serverless API calls to `ASSETHOST_API_URL`) and, for
the commands that talk to the API, the credentials the other commands use when none are given.
The process is replaced by twilio-run: its output, exit code and Ctrl-C are its own.
"""

from __future__ import annotations

import os
import shutil
from importlib import resources
from pathlib import Path

import click

from assethost.cli.connection import DEFAULT_API_URL, resolve

# twilio-run's commands that call the API and take --username/--password.
_API_COMMANDS = frozenset({"deploy", "list", "promote", "activate", "logs", "env"})


def preload_path() -> Path:
    return Path(str(resources.files("assethost.cli").joinpath("twilio-run-preload.js")))


def toolkit_command(binary: str, args: tuple[str, ...], api_url: str | None,
                    environ: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that run twilio-run against assethost."""
    conn = resolve(api_url, None, None)
    argv = [binary, *args]
    given = any(a in ("--username", "-u") or a.startswith("--username=") for a in args)
    if args and args[0] in _API_COMMANDS and not given and conn.username and conn.password:
        argv += ["--username", conn.username, "--password", conn.password]
    options = f"--require {preload_path()}"
    env = dict(environ, ASSETHOST_API_URL=conn.api_url,
               NODE_OPTIONS=f"{options} {environ['NODE_OPTIONS']}" if environ.get("NODE_OPTIONS") else options)
    return argv, env


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--api-url", default=None, metavar="URL",
              help=f"assethost API origin [env ASSETHOST_API_URL, default {DEFAULT_API_URL}].")
@click.option("--twilio-run", "binary", default=None, metavar="PATH",
              help="The twilio-run executable [default: twilio-run on PATH].")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def toolkit(api_url: str | None, binary: str | None, args: tuple[str, ...]) -> None:
    """Run Twilio's twilio-run against assethost, e.g. `assethost toolkit -- deploy --service-name demo`.

    Credentials for deploy, list, promote, activate, logs and env come from TWILIO_ACCOUNT_SID and
    TWILIO_AUTH_TOKEN (or TWILIO_API_KEY and TWILIO_API_SECRET) unless --username is among ARGS.
    """
    found = binary or shutil.which("twilio-run")
    if found is None:
        raise click.UsageError("twilio-run is not on PATH: install it (npm install -g twilio-run@5) "
                               "or pass --twilio-run PATH")
    argv, env = toolkit_command(found, args, api_url, dict(os.environ))
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        raise click.ClickException(f"cannot run {argv[0]}: {exc.strerror}") from None
