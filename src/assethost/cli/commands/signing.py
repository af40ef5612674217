"""`assethost sign URL` and `assethost fetch URL`: check protected assets by hand."""

from __future__ import annotations

import sys

import click
import httpx

from assethost.cli.connection import Connection, connection_options
from assethost.cli.edge import send, signature
from assethost.cli.output import emit_json, handles_errors, json_option


def _params(values: tuple[str, ...]) -> list[tuple[str, str]]:
    out = []
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.UsageError(f"--param {item!r}: expected KEY=VALUE")
        out.append((key, value))
    return out


_PARAM = click.option("--param", "-d", "params", multiple=True, metavar="KEY=VALUE",
                      help="A POST parameter (repeatable); it is part of the signature.")
_TOKEN = click.option("--auth-token", default=None,
                      help="Auth Token to sign with [default: TWILIO_AUTH_TOKEN, or the password of an AC… user from "
                           "--password, .env or the saved login].")


@click.command()
@click.argument("url")
@_PARAM
@_TOKEN
@connection_options
@handles_errors
def sign(url: str, params: tuple[str, ...], auth_token: str | None, conn: Connection) -> None:
    """Print the X-Twilio-Signature of URL (and POST params) for the account's Auth Token."""
    click.echo(signature(conn.auth_token(auth_token), url, _params(params)))


@click.command()
@click.argument("url")
@_PARAM
@_TOKEN
@click.option("--method", "-X", default=None, type=click.Choice(["GET", "HEAD", "POST", "OPTIONS"]),
              help="[default: GET, or POST when --param is given]")
@click.option("--unsigned", is_flag=True, help="Send no signature.")
@json_option
@connection_options
@handles_errors
def fetch(url: str, params: tuple[str, ...], auth_token: str | None, method: str | None, unsigned: bool,
          as_json: bool, conn: Connection) -> None:
    """Send a signed request to URL and print the status, headers and body. Exits 1 on 4xx/5xx."""
    token = None if unsigned else conn.auth_token(auth_token)
    try:
        resp = send(url, token, _params(params), method)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"{url}: {exc}") from None
    if as_json:
        emit_json({"status": resp.status_code, "headers": dict(resp.headers),
                   "body": resp.text if _textual(resp) else None, "size": len(resp.content)})
    else:
        click.echo(f"HTTP/1.1 {resp.status_code} {resp.reason_phrase}")
        for key, value in resp.headers.multi_items():
            click.echo(f"{key}: {value}")
        click.echo("")
        if _textual(resp):
            click.echo(resp.text, nl=not resp.text.endswith("\n"))
        else:
            click.echo(f"<{len(resp.content)} bytes of {resp.headers.get('content-type', 'binary data')}>")
    if resp.status_code >= 400:
        sys.exit(1)


def _textual(resp: httpx.Response) -> bool:
    ctype = resp.headers.get("content-type", "")
    return ctype.startswith("text/") or any(t in ctype for t in ("json", "xml", "javascript"))
