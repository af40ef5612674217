"""Puts the process together: stores, migrations, the first account, and the ASGI application."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass

from starlette.types import ASGIApp

from assethost.api.app import create_api
from assethost.core import accounts, builds
from assethost.core.context import Context
from assethost.settings import Settings
from assethost.store.blobs import LocalBlobStore
from assethost.store.meta import MetaStore

log = logging.getLogger("assethost")
CREDENTIALS_FILE = "credentials.json"


@dataclass
class Assembly:
    ctx: Context
    app: ASGIApp
    notes: list[str]


def open_context(settings: Settings) -> Context:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    meta = MetaStore(settings.db_url)
    meta.migrate()
    blobs = LocalBlobStore(settings.blob_dir)
    return Context(meta=meta, blobs=blobs, limits=settings.limits, base_domain=settings.base_domain)


def _write_credentials(settings: Settings, creds: accounts.Credentials) -> str:
    path = settings.data_dir / CREDENTIALS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"account_sid": creds.account_sid, "auth_token": creds.secret}, f, indent=2)
        f.write("\n")
    os.chmod(path, 0o600)
    return str(path)


def bootstrap_account(settings: Settings, ctx: Context) -> list[str]:
    """The account this server serves: the TWILIO_* one if given, otherwise the first one,
    created with a random token on the first run."""
    if settings.account_sid or settings.auth_token:
        if not (settings.account_sid and settings.auth_token):
            raise SystemExit("Set both TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or neither.")
        created = accounts.ensure_account(ctx.meta, settings.account_sid, settings.auth_token)
        how = "created" if created else "existing"
        return [f"Account {settings.account_sid} ({how}; Auth Token from TWILIO_AUTH_TOKEN)"]
    existing = accounts.list_accounts(ctx.meta)
    if existing:
        where = settings.data_dir / CREDENTIALS_FILE
        hint = f"; credentials of the first run are in {where}" if where.exists() else ""
        return [f"Account {existing[0]}{hint}"]
    creds = accounts.create_account(ctx.meta, "Main account")
    path = _write_credentials(settings, creds)
    return [
        "Created an account on this first run (shown once; also saved, readable only by you, in "
        f"{path}):",
        f"  TWILIO_ACCOUNT_SID={creds.account_sid}",
        f"  TWILIO_AUTH_TOKEN={creds.secret}",
    ]


def assemble(settings: Settings) -> Assembly:
    ctx = open_context(settings)
    ctx.blobs.clean_tmp()
    notes = bootstrap_account(settings, ctx)
    builds.finish_pending(ctx)
    api = create_api(ctx, settings.fixed_origin)
    return Assembly(ctx=ctx, app=api, notes=notes)
