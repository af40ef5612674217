"""`assethost login` and `assethost logout`: a saved login, so that a shell needs no exports."""

from __future__ import annotations

import os

import click

from assethost.cli.client import ApiError, Client
from assethost.cli.connection import DEFAULT_API_URL, login_path, save_login
from assethost.cli.output import emit_json, handles_errors, json_option


@click.command()
@click.option("--api-url", default=None, metavar="URL",
              help=f"assethost API origin [env ASSETHOST_API_URL, else {DEFAULT_API_URL}].")
@click.option("--account-sid", default=None, help="Account SID (AC…) or API key SID (SK…) [asked if not given].")
@click.option("--auth-token", default=None, help="Auth Token or API key secret [asked, unseen, if not given].")
@json_option
@handles_errors
def login(api_url: str | None, account_sid: str | None, auth_token: str | None, as_json: bool) -> None:
    """Check credentials against the server and save them (readable only by you) for every later
    command: $XDG_CONFIG_HOME/assethost/login.json, else ~/.config/assethost/login.json."""
    url = (api_url or os.environ.get("ASSETHOST_API_URL") or DEFAULT_API_URL).rstrip("/")
    sid = account_sid or click.prompt("Account SID (AC…) or API key SID (SK…)", err=True).strip()
    token = auth_token or click.prompt("Auth Token or API key secret", hide_input=True, err=True).strip()
    with Client(url, sid, token, source="assethost login") as client:
        try:
            # The cheapest request that needs valid credentials.
            client.get("/v1/Services", PageSize=1)
        except ApiError as exc:
            refused = f"{url} did not accept them, " if exc.status == 401 else ""
            exc.message = f"{refused}nothing was saved: {exc.message}"
            raise
    path = save_login(url, sid, token)
    if as_json:
        emit_json({"api_url": url, "username": sid, "path": str(path)})
    else:
        click.echo(f"Logged in to {url} as {sid}; saved in {path} (readable only by you)")


@click.command()
@json_option
def logout(as_json: bool) -> None:
    """Forget the saved login (the credentials stay valid on the server)."""
    path = login_path()
    try:
        path.unlink()
        removed = True
    except FileNotFoundError:
        removed = False
    if as_json:
        emit_json({"path": str(path), "removed": removed})
    elif removed:
        click.echo(f"Logged out: removed {path}")
    else:
        click.echo(f"Not logged in (no {path})")
