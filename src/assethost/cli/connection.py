"""Where the API is and who we are: the options every networked command takes.

Credentials, first match wins: `--username/--password`; `TWILIO_API_KEY` + `TWILIO_API_SECRET`;
`TWILIO_ACCOUNT_SID` + `TWILIO_AUTH_TOKEN` (the variables Twilio's tools use). Signing protected
requests needs the account's Auth Token itself: `--auth-token`, else `TWILIO_AUTH_TOKEN`, else the
password when the username is an Account SID.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from assethost.cli.client import Client

DEFAULT_API_URL = "http://127.0.0.1:8080"


@dataclass(frozen=True)
class Connection:
    api_url: str
    username: str | None
    password: str | None

    def client(self) -> Client:
        if not self.username or not self.password:
            raise click.UsageError(
                "No credentials: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (or TWILIO_API_KEY and "
                "TWILIO_API_SECRET), or pass --username and --password."
            )
        return Client(self.api_url, self.username, self.password)

    def auth_token(self, explicit: str | None = None) -> str:
        token = explicit or os.environ.get("TWILIO_AUTH_TOKEN")
        if not token and self.username and self.username.startswith("AC"):
            token = self.password
        if not token:
            raise click.UsageError(
                "Signing needs the account's Auth Token (an API key secret cannot sign): "
                "pass --auth-token or set TWILIO_AUTH_TOKEN."
            )
        return token


def resolve(api_url: str | None, username: str | None, password: str | None) -> Connection:
    env = os.environ
    if not username:
        if env.get("TWILIO_API_KEY") and env.get("TWILIO_API_SECRET"):
            username, password = env["TWILIO_API_KEY"], password or env["TWILIO_API_SECRET"]
        else:
            username, password = env.get("TWILIO_ACCOUNT_SID"), password or env.get("TWILIO_AUTH_TOKEN")
    url = api_url or env.get("ASSETHOST_API_URL") or DEFAULT_API_URL
    return Connection(url.rstrip("/"), username or None, password or None)


def connection_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Adds --api-url, --username, --password and passes `conn: Connection` instead."""

    @click.option("--api-url", default=None, metavar="URL",
                  help=f"assethost API origin [env ASSETHOST_API_URL, default {DEFAULT_API_URL}].")
    @click.option("--username", "-u", default=None,
                  help="Account SID or API key SID [env TWILIO_ACCOUNT_SID / TWILIO_API_KEY].")
    @click.option("--password", "-p", default=None,
                  help="Auth Token or API key secret [env TWILIO_AUTH_TOKEN / TWILIO_API_SECRET].")
    @functools.wraps(f)
    def wrapper(*args: Any, api_url: str | None, username: str | None, password: str | None, **kw: Any) -> Any:
        return f(*args, conn=resolve(api_url, username, password), **kw)

    return wrapper
