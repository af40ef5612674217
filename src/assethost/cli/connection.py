"""Where the API is and who we are: the options every networked command takes, and the saved login.

Credentials, first complete pair wins (docs/cli.md, "Connection and credentials"):

1. `--username` and `--password`;
2. `TWILIO_API_KEY` + `TWILIO_API_SECRET`, then `TWILIO_ACCOUNT_SID` + `TWILIO_AUTH_TOKEN` (the
   variables Twilio's tools use; `--password` alone replaces the secret or token);
3. `ACCOUNT_SID` + `AUTH_TOKEN` in the project's `.env`, as twilio-run reads them;
4. the login `assethost login` saved in `$XDG_CONFIG_HOME/assethost/login.json` (else
   `~/.config/assethost/login.json`).

The API's address: `--api-url`, else `ASSETHOST_API_URL`, else the saved login's, else
http://127.0.0.1:8080. Signing protected requests needs the account's Auth Token itself:
`--auth-token`, else `TWILIO_AUTH_TOKEN`, else the password when the username is an Account SID.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from assethost.cli.client import Client

DEFAULT_API_URL = "http://127.0.0.1:8080"
LOGIN_FILE = "login.json"


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "assethost"


def login_path() -> Path:
    return config_dir() / LOGIN_FILE


def read_login() -> dict[str, str]:
    """The saved login ({api_url, username, password}), or {} when there is none."""
    try:
        data = json.loads(login_path().read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise click.UsageError(f"cannot read the saved login {login_path()}: {exc}") from None
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str) and v}


def save_login(api_url: str, username: str, password: str) -> Path:
    """Write the login readable only by this user (and the folder, when it is made here: it
    names the account)."""
    path = login_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    # O_CREAT's mode does not change a file that was already there: narrow it before writing.
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"api_url": api_url, "username": username, "password": password}, f, indent=2)
        f.write("\n")
    return path


@dataclass(frozen=True)
class Credentials:
    api_url: str
    username: str | None
    password: str | None
    source: str  # where they came from, named in a refusal


@dataclass(frozen=True)
class Connection:
    """The connection options as given; `credentials()` completes them from the other sources."""

    api_url: str | None
    username: str | None
    password: str | None

    def credentials(self, env_file: Path | None = Path(".env")) -> Credentials:
        return resolve(self.api_url, self.username, self.password, env_file)

    def client(self, env_file: Path | None = Path(".env")) -> Client:
        creds = self.credentials(env_file)
        if not creds.username or not creds.password:
            raise click.UsageError(
                "No credentials: run `assethost login`, set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (or "
                "TWILIO_API_KEY and TWILIO_API_SECRET), put ACCOUNT_SID and AUTH_TOKEN in the project's .env, "
                "or pass --username and --password."
            )
        return Client(creds.api_url, creds.username, creds.password, source=creds.source)

    def auth_token(self, explicit: str | None = None) -> str:
        token = explicit or os.environ.get("TWILIO_AUTH_TOKEN")
        if not token:
            creds = self.credentials()
            if creds.username and creds.username.startswith("AC"):
                token = creds.password
        if not token:
            raise click.UsageError(
                "Signing needs the account's Auth Token (an API key secret cannot sign): "
                "pass --auth-token or set TWILIO_AUTH_TOKEN."
            )
        return token


def resolve(api_url: str | None, username: str | None, password: str | None,
            env_file: Path | None = Path(".env")) -> Credentials:
    """The connection options as given, completed from the other sources in the module's order.
    env_file: the project's .env (None: do not read one)."""
    env = os.environ
    # The saved login is read only when it is needed, so a broken one stands in nobody's way.
    url = (api_url or env.get("ASSETHOST_API_URL") or read_login().get("api_url") or DEFAULT_API_URL).rstrip("/")
    if username:
        return Credentials(url, username, password, "--username/--password")
    for user_var, secret_var in (("TWILIO_API_KEY", "TWILIO_API_SECRET"),
                                 ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")):
        if env.get(user_var) and (password or env.get(secret_var)):
            return Credentials(url, env[user_var], password or env[secret_var], f"{user_var}/{secret_var}")
    dotenv = _dotenv_credentials(env_file)
    if dotenv:
        return Credentials(url, dotenv[0], password or dotenv[1], f"ACCOUNT_SID/AUTH_TOKEN in {env_file}")
    login = read_login()
    if login.get("username") and login.get("password"):
        return Credentials(url, login["username"], password or login["password"],
                           f"the saved login ({login_path()})")
    return Credentials(url, None, None, "none")


def _dotenv_credentials(env_file: Path | None) -> tuple[str, str] | None:
    if env_file is None or not env_file.is_file():
        return None
    from dotenv import dotenv_values

    values = dotenv_values(env_file)
    sid, token = values.get("ACCOUNT_SID"), values.get("AUTH_TOKEN")
    return (sid, token) if sid and token else None


def connection_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Adds --api-url, --username, --password and passes `conn: Connection` instead."""

    @click.option("--api-url", default=None, metavar="URL",
                  help=f"assethost API origin [env ASSETHOST_API_URL, else the saved login's, "
                       f"else {DEFAULT_API_URL}].")
    @click.option("--username", "-u", default=None,
                  help="Account SID or API key SID [env TWILIO_API_KEY / TWILIO_ACCOUNT_SID, .env ACCOUNT_SID, "
                       "or the saved login].")
    @click.option("--password", "-p", default=None,
                  help="Auth Token or API key secret [env TWILIO_API_SECRET / TWILIO_AUTH_TOKEN, .env AUTH_TOKEN, "
                       "or the saved login].")
    @functools.wraps(f)
    def wrapper(*args: Any, api_url: str | None, username: str | None, password: str | None, **kw: Any) -> Any:
        return f(*args, conn=Connection(api_url, username, password), **kw)

    return wrapper
