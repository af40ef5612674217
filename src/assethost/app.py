"""Puts the process together: stores, migrations, the first account, and the ASGI application
that sends each request to the edge or to the API by its Host header."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from assethost.api.app import CatchAll, create_api
from assethost.config import Settings
from assethost.console.app import PREFIX as CONSOLE_PREFIX
from assethost.console.app import with_console
from assethost.core import accounts, builds
from assethost.core.context import Context
from assethost.core.variants import Variants
from assethost.edge.asgi import EdgeApp
from assethost.edge.runtime import Edge
from assethost.functions.package import Packager
from assethost.ops.app import Ops
from assethost.ops.logs import access_writer
from assethost.store.blobs import open_blob_store
from assethost.store.meta import MetaStore
from assethost.web.traffic import OPERATOR_PATHS, Counted

log = logging.getLogger("assethost")
CREDENTIALS_FILE = "credentials.json"


def open_context(settings: Settings, migrate: bool = True) -> Context:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    meta = MetaStore(settings.db_url)
    if migrate:
        meta.migrate()
    scratch = settings.data_dir / "scratch"
    scratch.mkdir(exist_ok=True)
    ctx = Context(meta=meta, blobs=open_blob_store(settings.blob_dir, settings.blob_url, settings.cache_size), limits=settings.limits,
                  scratch_dir=scratch, base_domain=settings.base_domain)
    # A completed build with functions gets its own folder (sources, private assets, npm
    # dependencies) while still `building`; see assethost.functions.package.
    ctx.packagers["functions"] = Packager(settings.data_dir, settings.functions)
    # Its compressible assets get their brotli and gzip variants, once per blob (core.variants).
    ctx.packagers["variants"] = Variants(settings.edge.compress_limit)
    return ctx


def write_credentials(data_dir: Path, creds: accounts.Credentials) -> str:
    """Save an account's SID and token, readable only by this user."""
    path = data_dir / CREDENTIALS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"account_sid": creds.account_sid, "auth_token": creds.secret}, f, indent=2)
        f.write("\n")
    os.chmod(path, 0o600)
    return str(path)


def bootstrap_account(settings: Settings, ctx: Context) -> list[str]:
    """The account this server serves: the TWILIO_* one if given, otherwise the first one,
    created with a random token on the first run."""
    if settings.account_sid and settings.auth_token:  # both or neither: startup.check saw to it
        created = accounts.ensure_account(ctx.meta, settings.account_sid, settings.auth_token)
        how = "created" if created else "existing"
        return [f"Account {settings.account_sid} ({how}; Auth Token from TWILIO_AUTH_TOKEN)"]
    existing = accounts.list_accounts(ctx.meta)
    if existing:
        where = settings.data_dir / CREDENTIALS_FILE
        hint = f"; credentials of the first run are in {where}" if where.exists() else ""
        return [f"Account {existing[0]}{hint}"]
    creds = accounts.create_account(ctx.meta, "Main account")
    path = write_credentials(settings.data_dir, creds)
    return [
        f"Created an account on this first run (shown once; also saved, readable only by you, in {path}):",
        f"  TWILIO_ACCOUNT_SID={creds.account_sid}",
        f"  TWILIO_AUTH_TOKEN={creds.secret}",
    ]


class HostDispatch:
    """One port for everything: subdomains of the base domain are environments (the edge), any
    other host is the API, and on it `OPERATOR_PATHS` are the operator's (`ops`; with --edge-only
    too). With --api-only the edge still claims the environments' domains, to answer them 421. Also runs the edge's background work over the ASGI lifespan."""

    def __init__(self, edge: Edge, edge_app: ASGIApp, api: ASGIApp | None, ops: ASGIApp | None = None) -> None:
        self.edge = edge
        self.edge_app = edge_app
        self.api = api
        self.ops = ops

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            for name, value in scope["headers"]:
                if name == b"host":
                    if self.edge.claims(value.decode("latin-1")):
                        return await self.edge_app(scope, receive, send)
                    break
            if self.ops is not None and scope["path"] in OPERATOR_PATHS:
                return await self.ops(scope, receive, send)
            if self.api is not None:
                return await self.api(scope, receive, send)
            return await self.edge_app(scope, receive, send)  # edge-only: unknown hosts get its 404
        if kind == "lifespan":
            return await self._lifespan(receive, send)
        if self.api is not None:
            await self.api(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.edge.meter.owned_by(asyncio.get_running_loop())
                self.edge.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.edge.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


@dataclass
class Assembly:
    ctx: Context
    edge: Edge
    app: ASGIApp


def prepare(settings: Settings) -> list[str]:
    """Once per server, before any worker starts: migrate, make sure of the account, finish
    builds a stop interrupted (long enough ago: see `stale_build_age`). Returns what to tell the person who started it."""
    ctx = open_context(settings)
    if settings.metrics_dir is not None:  # the counts of the workers of a previous run
        shutil.rmtree(settings.metrics_dir, ignore_errors=True)
    try:
        ctx.blobs.sweep()
        notes = bootstrap_account(settings, ctx)
        builds.finish_pending(ctx, stale_build_age(settings))
    finally:
        ctx.meta.dispose()  # workers open their own connections
    return notes


def stale_build_age(settings: Settings) -> timedelta:
    """How long a build may stay `building` before it is taken for one a stopped process left:
    longer than a live packaging can take (the build's npm install and the shared runtime's, each
    bounded by --npm-timeout, then writing its folder), which may be running on another node."""
    return timedelta(seconds=2 * settings.functions.npm_timeout + 60)


def assemble(settings: Settings) -> Assembly:
    """One worker's application (after `prepare`, which has migrated the database)."""
    ctx = open_context(settings, migrate=False)
    packager = ctx.packagers["functions"]
    assert isinstance(packager, Packager)
    edge = Edge(ctx, settings.base_domain, settings.edge, packager=packager, function_options=settings.functions,
                public_scheme=settings.public_scheme, trust_forwarded=settings.trust_forwarded,
                serves_environments=not settings.api_only)
    edge.access = access_writer(settings.access_log)
    edge_app = EdgeApp(edge, settings.front.max_body_bytes)
    api = None
    if not settings.edge_only:  # the console sits on the API origin, in front of the API
        # The builds a stopped node left, finished by a node that makes builds (off the poll thread).
        stale = stale_build_age(settings)
        edge.every_sweep.append(lambda: ctx.background.submit(builds.finish_pending, ctx, stale))
        api = Counted(CatchAll(with_console(create_api(ctx, settings.fixed_origin), ctx, settings.public_url)),
                      edge.traffic, _api_role, edge.access, settings.trust_forwarded)
    ops = Counted(Ops(ctx, edge, settings.metrics_dir), edge.traffic, lambda _path: "ops", edge.access,
                  settings.trust_forwarded)
    return Assembly(ctx=ctx, edge=edge, app=HostDispatch(edge, edge_app, api, ops))


def _api_role(path: str) -> str:
    return "console" if path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/") else "api"
