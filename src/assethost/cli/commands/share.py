"""`assethost share URL --ttl 15m`: a link to a protected asset that works without a signature
until it expires (core/share.py holds the rule the edge checks; the link is signed here, with the
account's Auth Token, as `assethost sign` signs)."""

from __future__ import annotations

import re
import time
from urllib.parse import unquote, urlsplit, urlunsplit

import click

from assethost.cli.commands.signing import _TOKEN
from assethost.cli.connection import Connection, connection_options
from assethost.cli.output import emit_json, handles_errors, json_option
from assethost.core import share as rule

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_TTL = re.compile(r"^(\d{1,7})([smhd]?)$")


def ttl_seconds(text: str) -> int:
    found = _TTL.match(text.strip().lower())
    if not found:
        raise click.BadParameter(f"{text!r}: give a number with s, m, h or d (15m, 2h, 1d)", param_hint="--ttl")
    seconds = int(found.group(1)) * _UNITS[found.group(2) or "s"]
    if not 1 <= seconds <= rule.MAX_TTL_S:
        raise click.BadParameter(f"{text!r}: a link lives from 1 second to {rule.MAX_TTL_S // 86400} days",
                                 param_hint="--ttl")
    return seconds


@click.command()
@click.argument("url")
@click.option("--ttl", default="15m", show_default=True, help="How long the link works: 30s, 15m, 2h, 7d at most.")
@_TOKEN
@json_option
@connection_options
@handles_errors
def share(url: str, ttl: str, auth_token: str | None, as_json: bool, conn: Connection) -> None:
    """Print a link to URL (a protected asset) that fetches it without X-Twilio-Signature until it
    expires, or until the account's Auth Token rotates."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(f"{url!r} is not an http(s) URL", param_hint="URL")
    expires = int(time.time()) + ttl_seconds(ttl)
    signed = rule.query(conn.auth_token(auth_token), parts.hostname or "", unquote(parts.path) or "/", expires)
    link = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", f"{parts.query}&{signed}" if parts.query
                       else signed, ""))
    if as_json:
        emit_json({"url": link, "expires": expires})
    else:
        click.echo(link)
