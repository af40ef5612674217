"""`assethost serve` and the admin commands that work on the database directly (`accounts`, `keys`).

Loaded only when one of them runs (see main.py), since they import the server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from assethost.cli.serve_options import serve_options, settings_from, store_options
from assethost.config import Settings
from assethost.functions.sandbox import Sandbox

if TYPE_CHECKING:
    from assethost.core.accounts import Credentials
    from assethost.core.context import Context

T = TypeVar("T")


@click.command()
@serve_options
def serve(**values: Any) -> None:
    """Run the API (and the runtime edge) on one port."""
    import os

    from assethost import startup
    from assethost.app import prepare
    from assethost.server import run

    settings = settings_from(
        values,
        # The same variables the Twilio tools use, so the token Twilio signs with works here.
        account_sid=os.environ.get("TWILIO_ACCOUNT_SID") or None,
        auth_token=os.environ.get("TWILIO_AUTH_TOKEN") or None,
    )
    sock = _checked(startup.check, settings)
    notes = prepare(settings)
    host, port = settings.host, settings.port
    origin = settings.fixed_origin or f"http://<request host>:{port}"
    click.echo(f"assethost {_version()} listening on http://{host}:{port}")
    if not settings.edge_only:
        click.echo(f"  API:      {origin}/v1")
        click.echo(f"  console:  {origin}/console")
    click.echo(f"  database: {_safe_url(settings.db_url)}")
    click.echo(f"  blobs:    {settings.blob_dir}")
    if settings.api_only:
        click.echo(f"  domains:  *.{settings.base_domain} answered 421 (--api-only: served by edge nodes)")
    else:
        click.echo(f"  domains:  *.{settings.base_domain}  (e.g. http://myservice-1234.{settings.base_domain}:{port}/)")
    click.echo(f"  workers:  {settings.workers}")
    sandbox = Sandbox(settings.functions.bwrap, settings.functions.uid_base, settings.functions.uid_count)
    problem = sandbox.problem()
    how = f"sandboxed with bubblewrap; {sandbox.cgroup_note}"
    if settings.api_only:  # builds are still packaged here; their functions run on the edge nodes
        how = f"run on the edge nodes; builds packaged here, {how}"
    click.echo(f"  functions: {'cannot run: ' + problem if problem else how}")
    for line in notes:
        click.echo(line)
    run(settings, sock)


@click.group()
def accounts() -> None:
    """Manage accounts (directly in the database)."""


@accounts.command("create")
@store_options
@click.option("--friendly-name", default="Account", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def accounts_create(data_dir: Path, database_url: str | None, friendly_name: str, as_json: bool) -> None:
    """Create an account with a random Auth Token and print both."""
    from assethost.core import accounts as core_accounts

    ctx = _open(data_dir, database_url)
    creds = core_accounts.create_account(ctx.meta, friendly_name)
    if as_json:
        click.echo(json.dumps({"account_sid": creds.account_sid, "auth_token": creds.secret}))
    else:
        click.echo(f"TWILIO_ACCOUNT_SID={creds.account_sid}\nTWILIO_AUTH_TOKEN={creds.secret}")


@accounts.command("rotate-token")
@store_options
@click.option("--account", "account_sid", envvar="TWILIO_ACCOUNT_SID", default=None,
              help="Account whose Auth Token to replace [default: TWILIO_ACCOUNT_SID, or the only account].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def accounts_rotate_token(data_dir: Path, database_url: str | None, account_sid: str | None, as_json: bool) -> None:
    """Give an account a new random Auth Token and print it, once. The old one stops working on the
    API at once, on every server's edge within a second, and console sessions signed in with it end."""
    from assethost.core import accounts as core_accounts

    ctx = _open(data_dir, database_url)
    creds = _admin_call(core_accounts.rotate_token, ctx.meta, _account(ctx, account_sid))
    _update_credentials_file(data_dir, creds)
    if as_json:
        click.echo(json.dumps({"account_sid": creds.account_sid, "auth_token": creds.secret}))
    else:
        click.echo(f"TWILIO_ACCOUNT_SID={creds.account_sid}\nTWILIO_AUTH_TOKEN={creds.secret}\n"
                   "(a server started with TWILIO_AUTH_TOKEN needs the new value before its next start)")


@click.group()
def keys() -> None:
    """Manage API keys (directly in the database)."""


@keys.command("create")
@store_options
@click.option("--account", "account_sid", envvar="TWILIO_ACCOUNT_SID", default=None,
              help="Account the key acts for [default: TWILIO_ACCOUNT_SID, or the only account].")
@click.option("--friendly-name", default="assethost key", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def keys_create(data_dir: Path, database_url: str | None, account_sid: str | None, friendly_name: str,
                as_json: bool) -> None:
    """Create an API key (SK…) and print its secret, once."""
    from assethost.core import accounts as core_accounts

    ctx = _open(data_dir, database_url)
    creds = _admin_call(core_accounts.create_key, ctx.meta, _account(ctx, account_sid), friendly_name)
    if as_json:
        click.echo(json.dumps({"sid": creds.sid, "secret": creds.secret, "account_sid": creds.account_sid}))
    else:
        click.echo(f"API key {creds.sid} for account {creds.account_sid}\nsecret: {creds.secret}\n"
                   "(the secret is shown only now)")


@keys.command("delete")
@store_options
@click.argument("key_sid")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def keys_delete(data_dir: Path, database_url: str | None, key_sid: str, as_json: bool) -> None:
    """Delete an API key: the API refuses it at once and console sessions signed in with it end."""
    from assethost.core import accounts as core_accounts

    ctx = _open(data_dir, database_url)
    account_sid = _admin_call(core_accounts.delete_key, ctx.meta, key_sid)
    if as_json:
        click.echo(json.dumps({"sid": key_sid, "account_sid": account_sid, "deleted": True}))
    else:
        click.echo(f"API key {key_sid} of account {account_sid} deleted")


def _account(ctx: Context, account_sid: str | None) -> str:
    """The account a command names, or the only one there is."""
    from assethost.core import accounts as core_accounts

    if account_sid:
        return account_sid
    existing = core_accounts.list_accounts(ctx.meta)
    if len(existing) != 1:
        raise click.UsageError("Say which account with --account (or TWILIO_ACCOUNT_SID).")
    return existing[0]


def _admin_call(fn: Callable[..., T], *args: Any) -> T:
    """Run a core operation; its refusals become a one-line error, not a traceback."""
    from assethost.core.errors import AssetHostError

    try:
        return fn(*args)
    except AssetHostError as exc:
        raise click.ClickException(exc.message) from None


def _update_credentials_file(data_dir: Path, creds: Credentials) -> None:
    """The first run saved its account's token in {data}/credentials.json: keep it current."""
    from assethost.app import CREDENTIALS_FILE, write_credentials

    path = data_dir / CREDENTIALS_FILE
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if isinstance(saved, dict) and saved.get("account_sid") == creds.account_sid:
        write_credentials(data_dir, creds)


def _open(data_dir: Path, database_url: str | None) -> Context:
    from assethost import startup
    from assethost.app import open_context

    settings = Settings(data_dir=data_dir, database_url=database_url)
    _checked(startup.check_store, settings)
    return open_context(settings)


def _checked(check: Callable[[Settings], T], settings: Settings) -> T:
    """Run a startup check; a failure is one line on stderr and its documented exit code."""
    import sys

    from assethost.startup import StartupError

    try:
        return check(settings)
    except StartupError as exc:
        click.echo(f"assethost: {exc}", err=True)
        sys.exit(exc.code)


def _version() -> str:
    from assethost import __version__

    return __version__


def _safe_url(url: str) -> str:
    """The database URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
