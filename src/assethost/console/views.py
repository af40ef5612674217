"""The console's pages and actions. Like the API, each one calls core (in a worker thread: core is
synchronous) and renders the result; the rules themselves live in core.

Plain forms answer with a redirect and a flash message; the upload endpoints, called by the
console's JavaScript one file at a time, answer JSON (`{"message": …}` on errors, with the
status of the core error, so the page can show the server's own words next to the file).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from assethost.console.session import Session, session_of
from assethost.core import (
    checks,
    environments,
    ingest,
    legacy,
    logs,
    mediafiles,
    services,
    sessions,
    usage,
    workspace,
)
from assethost.core.checks import Result
from assethost.core.context import Context
from assethost.core.errors import AssetHostError, Invalid, NotFound, Unauthorized
from assethost.core.model import Media, Service
from assethost.core.paging import MAX_SIZE, PageRequest
from assethost.web import multipart
from assethost.web.forms import read_form

Handler = Callable[[Request], Awaitable[Response]]

ASSETS_PER_PAGE = 100  # the Assets pane is filtered and paginated: a service may hold 1000 assets
MAX_LISTED = 5  # paths or warnings named in one flash message (flashes travel in the session cookie)
# "Share link…" offers these lifetimes; "Open with a signature" makes a link for OPEN_SIGNED_TTL_S.
SHARE_TTLS = {"15m": ("15 minutes", 15 * 60), "1h": ("1 hour", 3600), "1d": ("1 day", 86400)}
OPEN_SIGNED_TTL_S = 5 * 60


# ------------------------------------------------------------------------------------ plumbing


def _ctx(request: Request) -> Context:
    return request.app.state.ctx


def _session(request: Request) -> Session:
    return session_of(request.scope)


async def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await run_in_threadpool(functools.partial(fn, *args, **kwargs))


async def _form(request: Request) -> Any:
    return await read_form(request, _ctx(request).limits.max_form_bytes)


def _wants_json(request: Request) -> bool:
    return request.headers.get("x-requested-with") == "assethost-console"


def _error_json(exc: AssetHostError) -> JSONResponse:
    return JSONResponse({"message": exc.message}, status_code=exc.status)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def signed_in(handler: Handler) -> Handler:
    """The page or action needs a signed-in account (request.state.account)."""

    @functools.wraps(handler)
    async def wrapper(request: Request) -> Response:
        account = _session(request).account
        if account is None:
            if _wants_json(request):
                return JSONResponse({"message": "Your session has ended: sign in again"}, status_code=401)
            target = request.url.path if request.method == "GET" else "/console"
            return _redirect(f"/console/signin?next={target}")
        request.state.account = account
        return await handler(request)  # core's errors: domain_error

    return wrapper


async def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    session = _session(request)
    values = {
        "request": request,
        "account": session.account,
        "csrf": session.csrf,
        "flashes": session.take_flashes(),
        "limits": _ctx(request).limits,
        **context,
    }
    return request.app.state.templates.TemplateResponse(request, template, values, status_code=status)


def _domain(request: Request, env: Any) -> str:
    """An environment's domain under this server's base domain."""
    return environments.domain_name(env.domain_label, _ctx(request).base_domain)


def runtime_origin(request: Request, domain: str) -> str:
    """`scheme://domain[:port]` of a runtime domain served by this server: the scheme and port of
    --public-url if given, otherwise those of the console request itself."""
    base = request.app.state.public_url
    if base:
        parts = urlsplit(base)
        scheme, port = parts.scheme, parts.port
    else:
        scheme, port = request.url.scheme, request.url.port
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{domain}" + (f":{port}" if port and port != default else "")


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/console") and "//" not in value and "\\" not in value:
        return value
    return "/console/services"


def human_size(size: int | None) -> str:
    if size is None:
        return "—"
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


# ------------------------------------------------------------------------------------ sign-in


async def home(request: Request) -> Response:
    if _session(request).account is None:
        return _redirect("/console/signin")
    return _redirect("/console/services")


async def signin(request: Request) -> Response:
    session = _session(request)
    nxt = _safe_next(request.query_params.get("next"))
    if request.method == "GET":
        if session.account is not None:
            return _redirect(nxt)
        return await _page(request, "signin.html", {"title": "Sign in", "next": nxt, "username": ""})
    form = await _form(request)
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    nxt = _safe_next(str(form.get("next") or ""))
    try:
        token, signin = await _call(sessions.sign_in, _ctx(request).meta, username, password)
    except Unauthorized:
        return await _page(request, "signin.html", {
            "title": "Sign in", "next": nxt, "username": username,
            "error": "Those credentials were not accepted. Use an Account SID (AC…) with its Auth Token, "
                     "or an API key SID (SK…) with its secret.",
        }, 401)
    session.sign_in(token, signin.account_sid)
    return _redirect(nxt)


async def signout(request: Request) -> Response:
    session = _session(request)
    if session.token is not None:
        await _call(sessions.close, _ctx(request).meta, session.token)
    session.sign_out()
    session.flash("info", "You are signed out.")
    return _redirect("/console/signin")


# ------------------------------------------------------------------------------------ services


@signed_in
async def service_list(request: Request) -> Response:
    ctx, account, session = _ctx(request), request.state.account, _session(request)
    if request.method == "POST":
        form = await _form(request)
        unique = str(form.get("unique_name") or "").strip()
        friendly = str(form.get("friendly_name") or "").strip() or unique
        try:
            row = await _call(services.create, ctx, account, unique, friendly, None, "true")  # made here: edited here
        except AssetHostError as exc:
            session.flash("error", exc.message)
            return _redirect("/console/services")
        session.flash("success", f"Service {row.unique_name} created.")
        return _redirect(f"/console/services/{row.sid}")
    page = await _call(services.page, ctx, account, PageRequest(size=MAX_SIZE))
    return await _page(request, "services.html", {"title": "Services", "services": page.rows, "nav": "services"})


@dataclass(frozen=True)
class AssetRow:
    sid: str
    kind: str  # asset or function
    path: str
    visibility: str | None
    size: str
    live: bool
    dropped: bool
    url: str | None
    version_sid: str | None
    # Filled by _with_media, for the rows a page shows:
    facts: list[tuple[str, str]] = field(default_factory=list)  # what the bytes are; empty when unknown
    warnings: list[Result] = field(default_factory=list)  # the telephony checks it fails
    has_gps: bool = False
    immutable_url: str | None = None  # the alias a live build serves the content under


def media_facts(m: Media) -> list[tuple[str, str]]:
    """(label, value) of what core/media.py read, as the API's `media` names them."""
    facts = [("Kind", m.kind), ("Format", m.format or "unknown")]
    if m.codec:
        facts.append(("Codec", m.codec))
    if m.duration_ms is not None:
        facts.append(("Duration", f"{m.duration_ms / 1000:.1f} s"))
    if m.sample_rate:
        facts.append(("Sample rate", f"{m.sample_rate} Hz"))
    if m.channels:
        facts.append(("Channels", "mono" if m.channels == 1 else "stereo" if m.channels == 2 else str(m.channels)))
    if m.width and m.height:
        facts.append(("Dimensions", f"{m.width}×{m.height}"))
    return facts


def _asset_rows(request: Request, statuses: list[workspace.AssetStatus], env: Any | None) -> list[AssetRow]:
    origin = runtime_origin(request, _domain(request, env)) if env is not None else None
    rows = []
    for s in statuses:
        v = s.version
        path = v.path if v is not None else s.asset.friendly_name
        url = origin + path if origin and v is not None and v.visibility != "private" else None
        rows.append(AssetRow(s.asset.sid, s.asset.kind, path, v.visibility if v else None,
                             human_size(v.size if v else None), s.live, s.dropped, url, v.sid if v else None))
    return sorted(rows, key=lambda r: r.path)


async def _with_media(request: Request, rows: list[AssetRow], statuses: list[workspace.AssetStatus]) -> list[AssetRow]:
    """The rows with their media facts, failed checks and immutable URLs (core/mediafiles.py), read
    for these rows only: a page of the pane, or the opened asset."""
    wanted = {r.version_sid for r in rows if r.kind == "asset"}
    versions = [s.version for s in statuses if s.version is not None and s.version.sid in wanted]
    if not versions:
        return rows
    ctx = _ctx(request)
    described = await _call(mediafiles.describe_all, ctx, versions)
    out = []
    for r in rows:
        vm = described.get(r.version_sid or "")
        if vm is None:
            out.append(r)
            continue
        alias = vm.immutable_url
        alias_url = runtime_origin(request, environments.domain_name(alias.domain_label, ctx.base_domain)) \
            + alias.path if alias is not None else None
        out.append(replace(r, facts=media_facts(vm.media) if vm.media else [], warnings=checks.failures(vm.checks),
                           has_gps=bool(vm.media and vm.media.has_gps), immutable_url=alias_url))
    return out


def _choose_environment(envs: list[Any], wanted: str | None) -> Any | None:
    return next((e for e in envs if e.sid == wanted), None) or workspace.default_environment(envs)


def _page_number(value: str | None) -> int:
    try:
        return max(1, int(value or "1"))
    except ValueError:
        return 1


@signed_in
async def service_page(request: Request) -> Response:
    ctx, account = _ctx(request), request.state.account
    service = await _call(services.get, ctx, account, request.path_params["service"])
    envs = (await _call(environments.page, ctx, account, service.sid, PageRequest(size=MAX_SIZE))).rows
    env = _choose_environment(envs, request.query_params.get("env"))
    env_sid = env.sid if env else None
    statuses = await _call(workspace.assets, ctx, account, service.sid, env_sid)
    functions = await _call(workspace.assets, ctx, account, service.sid, env_sid, "function")
    rows = _asset_rows(request, statuses, env)
    query = (request.query_params.get("q") or "").strip()
    shown = [r for r in rows if query.lower() in r.path.lower()] if query else rows
    pages = max(1, -(-len(shown) // ASSETS_PER_PAGE))
    number = min(_page_number(request.query_params.get("page")), pages)
    shown_page = shown[(number - 1) * ASSETS_PER_PAGE:number * ASSETS_PER_PAGE]
    root = workspace.root_asset(statuses)
    return await _page(request, "service.html", {
        "title": service.friendly_name, "nav": "services", "service": service, "environments": envs,
        "environment": env, "assets": await _with_media(request, shown_page, statuses),
        "asset_count": len(rows), "shown_count": len(shown), "query": query, "page_number": number, "pages": pages,
        "functions": _asset_rows(request, functions, env), "root": root,
        "strip_default": (await _call(checks.get_settings, ctx, account, service.sid)).strip_metadata,
        "dropped": [r for r in rows if r.dropped],
        "existing": {r.path: r.visibility for r in rows if r.visibility},
        "missing_environments": workspace.creatable_presets(envs), "editable": service.ui_editable,
        "is_production": workspace.is_production,
        "origin_of": lambda e: runtime_origin(request, _domain(request, e)),
    })


def _service_url(service_sid: str, env_sid: str | None) -> str:
    return f"/console/services/{service_sid}" + (f"?env={env_sid}" if env_sid else "")


async def _service_form(request: Request) -> tuple[Context, str, Session, Service, Any]:
    """What a form posted to a service's page works with: the service (not found unless it is
    the account's) and the form."""
    ctx, account = _ctx(request), request.state.account
    service = await _call(services.get, ctx, account, request.path_params["service"])
    return ctx, account, _session(request), service, await _form(request)


@signed_in
async def environment_create(request: Request) -> Response:
    ctx, account, session, service, form = await _service_form(request)
    try:
        env = await _call(workspace.create_preset, ctx, account, service.sid, str(form.get("name") or ""))
    except AssetHostError as exc:
        session.flash("error", exc.message)
        return _redirect(_service_url(service.sid, None))
    session.flash("success", f"Environment {env.unique_name} created at {_domain(request, env)}.")
    return _redirect(_service_url(service.sid, env.sid))


@signed_in
async def allow_editing(request: Request) -> Response:
    ctx, account, session, service, form = await _service_form(request)
    await _call(workspace.allow_editing, ctx, account, service.sid)
    session.flash("success", f"Editing {service.unique_name} in the console is on. A CLI deploy of its project "
                             "will still replace what is live.")
    return _redirect(_service_url(service.sid, str(form.get("environment") or "") or None))


# ------------------------------------------------------------------------------------ assets pane


@signed_in
async def asset_upload(request: Request) -> Response:
    """One file: multipart `Path`, `Visibility` (left out: keep the replaced asset's), `Content`,
    streamed to the blob store."""
    ctx, account = _ctx(request), request.state.account
    try:
        destination = await _call(ingest.WorkspaceFile(account, request.path_params["service"]).locate, ctx)
        received = await multipart.receive(request, ctx.blobs, ctx.limits.upload_ceiling("asset"))
        version, warnings = await _call(ingest.store_and_check, ctx, destination, received)
    except AssetHostError as exc:
        return _error_json(exc)
    _session(request).flash("success", f"Uploaded {version.path} ({version.visibility}). Deploy All to make it live.")
    if warnings:
        _session(request).flash("warning", f"{version.path}: " + "; ".join(f"{w.rule}: {w.message}"
                                                                          for w in warnings[:MAX_LISTED]))
    return JSONResponse({"asset_sid": version.resource_sid, "version_sid": version.sid, "path": version.path,
                         "visibility": version.visibility, "size": version.size,
                         "warnings": [{"rule": w.rule, "message": w.message} for w in warnings]}, status_code=201)


@signed_in
async def asset_new(request: Request) -> Response:
    """Add+ → New Asset: an empty text asset at the typed path, opened in the editor. (The pane's
    script asks for the path in a dialog; without it, the menu item opens this page's form.)"""
    if request.method == "GET":
        service = await _call(services.get, _ctx(request), request.state.account, request.path_params["service"])
        return await _page(request, "new_asset.html", {"title": "New Asset", "nav": "services", "service": service,
                                                       "environment_sid": request.query_params.get("env") or ""})
    ctx, account, session, service, form = await _service_form(request)
    env_sid = str(form.get("environment") or "") or None
    try:
        version = await _call(workspace.new_asset, ctx, account, service.sid, str(form.get("path") or ""))
    except AssetHostError as exc:
        session.flash("error", exc.message)
        return _redirect(_service_url(service.sid, env_sid))
    session.flash("success", f"Created {version.path}. Deploy All to make it live.")
    return _redirect(_editor_url(service.sid, "asset", version.resource_sid, env_sid))


@signed_in
async def deploy_all(request: Request) -> Response:
    """Deploy All. To an environment without a domain suffix (production: the service's bare
    domain) only once the user has confirmed it on a page that names the domain."""
    ctx, account, session, service, form = await _service_form(request)
    env_sid = str(form.get("environment") or "")
    try:
        env = await _call(environments.get, ctx, account, service.sid, env_sid)
        if workspace.is_production(env) and form.get("confirmed") != env.sid:
            return await _page(request, "confirm_deploy.html", {
                "title": f"Deploy to {env.unique_name}?", "nav": "services", "service": service,
                "environment": env, "origin": runtime_origin(request, _domain(request, env)),
            })
        done = await _call(workspace.deploy_all, ctx, account, service.sid, env.sid)
    except AssetHostError as exc:
        session.flash("error", f"Deploy failed: {exc.message}")
        return _redirect(_service_url(service.sid, env_sid or None))
    if done is None:
        session.flash("info", f"Everything is live on {env.unique_name} already.")
        return _redirect(_service_url(service.sid, env.sid))
    session.flash("success", f"Deployed build {done.deployment.build_sid} to {env.unique_name} "
                             f"({_domain(request, env)}).")
    if done.changed_paths:
        origin = runtime_origin(request, _domain(request, env))
        listed = ", ".join(origin + p for p in done.changed_paths[:MAX_LISTED])
        more = f" and {len(done.changed_paths) - MAX_LISTED} more" if len(done.changed_paths) > MAX_LISTED else ""
        session.flash("changed", f"These URLs now serve new bytes: {listed}{more}. A cache (Twilio's media proxy "
                                 "among them) may still answer them with the old ones: use each asset's immutable "
                                 "URL (Copy URL).")
    return _redirect(_service_url(service.sid, env.sid))


@signed_in
async def asset_visibility(request: Request) -> Response:
    ctx, account, session, service, form = await _service_form(request)
    env_sid = str(form.get("environment") or "") or None
    try:
        version = await _call(workspace.change_visibility, ctx, account, service.sid, request.path_params["asset"],
                              str(form.get("visibility") or ""))
    except AssetHostError as exc:
        session.flash("error", exc.message)
    else:
        session.flash("success", f"{version.path} is now {version.visibility}. Deploy All to make the change live.")
    return _redirect(_back(request, form, service.sid, env_sid))


def _back(request: Request, form: Any, service_sid: str, env_sid: str | None) -> str:
    """Where a form goes back to: the editor it came from (`back=editor`), else the pane."""
    if form.get("back") == "editor":
        kind = _KINDS.get(request.path_params.get("collection", "assets"), "asset")
        sid = request.path_params.get("sid") or request.path_params.get("asset", "")
        return _editor_url(service_sid, kind, sid, env_sid)
    return _service_url(service_sid, env_sid)


@signed_in
async def resource_delete(request: Request) -> Response:
    ctx, account, session, service, form = await _service_form(request)
    env_sid = str(form.get("environment") or "") or None
    kind = _kind(request)
    try:
        row = await _call(workspace.delete, ctx, account, service.sid, kind, request.path_params["sid"])
    except AssetHostError as exc:
        session.flash("error", exc.message)
    else:
        session.flash("success", f"Deleted {row.friendly_name}. A deployed build keeps serving it until the "
                                 "next Deploy All.")
    return _redirect(_service_url(service.sid, env_sid))


# ------------------------------------------------------------------------------------ editor

_KINDS = {"assets": "asset", "functions": "function"}
_COLLECTIONS = {v: k for k, v in _KINDS.items()}
LOG_LINES = 50


def _kind(request: Request) -> str:
    kind = _KINDS.get(request.path_params["collection"])
    if kind is None:
        raise NotFound("There is no such page.")
    return kind


def _editor_url(service_sid: str, kind: str, sid: str, env_sid: str | None) -> str:
    return f"/console/services/{service_sid}/{_COLLECTIONS[kind]}/{sid}" + (f"?env={env_sid}" if env_sid else "")


async def _log_lines(ctx: Context, account: str, service_sid: str, env_sid: str) -> list[dict[str, str]]:
    page = await _call(logs.page, ctx, account, service_sid, env_sid, PageRequest(size=LOG_LINES), None, None, None)
    return [{"sid": line.sid, "date": line.date_created.strftime("%Y-%m-%d %H:%M:%S"), "level": line.level,
             "function_sid": line.function_sid, "message": line.message} for line in page.rows]


@signed_in
async def editor_page(request: Request) -> Response:
    """An asset or function opened: its content (edited, previewed or played), rename, visibility,
    Copy URL below the content, and the environment's function logs below that."""
    ctx, account = _ctx(request), request.state.account
    kind = _kind(request)
    service = await _call(services.get, ctx, account, request.path_params["service"])
    envs = (await _call(environments.page, ctx, account, service.sid, PageRequest(size=MAX_SIZE))).rows
    env = _choose_environment(envs, request.query_params.get("env"))
    statuses = await _call(workspace.assets, ctx, account, service.sid, env.sid if env else None, kind)
    status = next((s for s in statuses if s.asset.sid == request.path_params["sid"]), None)
    if status is None or status.version is None:
        raise NotFound(f"No {kind} {request.path_params['sid']} with a version in this service")
    row = (await _with_media(request, _asset_rows(request, [status], env), [status]))[0]
    opened = await _call(workspace.open_version, ctx, status.version)
    root = workspace.root_asset(await _call(workspace.assets, ctx, account, service.sid, None)) if kind == "asset" \
        else None
    return await _page(request, "editor.html", {
        "title": row.path, "nav": "services", "service": service, "environment": env, "kind": kind,
        "collection": _COLLECTIONS[kind], "row": row, "version": status.version, "opened": opened,
        "serves_root": root is not None and root.asset.sid == row.sid, "editable": service.ui_editable,
        "logs": await _log_lines(ctx, account, service.sid, env.sid) if env else [],
        "max_editable": workspace.MAX_EDITABLE_BYTES, "share_ttls": SHARE_TTLS,
    })


@signed_in
async def editor_save(request: Request) -> Response:
    ctx, account, session, service, form = await _service_form(request)
    kind, sid = _kind(request), request.path_params["sid"]
    env_sid = str(form.get("environment") or "") or None
    text = str(form.get("content") or "")
    if form.get("newline") != "crlf":  # browsers send a textarea's lines with CRLF: keep the file's own
        text = text.replace("\r\n", "\n")
    try:
        version = await _call(workspace.save_content, ctx, account, service.sid, kind, sid, text.encode("utf-8"))
    except AssetHostError as exc:
        session.flash("error", f"Not saved: {exc.message}")
    else:
        session.flash("success", f"Saved {version.path} as version {version.sid}. Deploy All to make it live.")
    return _redirect(_editor_url(service.sid, kind, sid, env_sid))


@signed_in
async def editor_rename(request: Request) -> Response:
    ctx, account, session, service, form = await _service_form(request)
    kind, sid = _kind(request), request.path_params["sid"]
    env_sid = str(form.get("environment") or "") or None
    try:
        version = await _call(workspace.rename, ctx, account, service.sid, kind, sid, str(form.get("path") or ""))
    except AssetHostError as exc:
        session.flash("error", f"Not renamed: {exc.message}")
    else:
        session.flash("success", f"The path is now {version.path}. Deploy All to make it live.")
    return _redirect(_editor_url(service.sid, kind, sid, env_sid))


# Previewed in the editor's <img> or <audio>: never a type a browser would run as a page or script.
_PREVIEWABLE = ("image/", "audio/")


@signed_in
async def asset_content(request: Request) -> Response:
    """The latest version's bytes of an image or audio asset, for the editor's preview and player
    (the console origin never serves an asset as a page: other types are refused, and the answer
    is sandboxed)."""
    ctx, account = _ctx(request), request.state.account
    statuses = await _call(workspace.assets, ctx, account, request.path_params["service"], None)
    status = next((s for s in statuses if s.asset.sid == request.path_params["sid"]), None)
    if status is None or status.version is None:
        raise NotFound("No such asset")
    opened = await _call(workspace.open_version, ctx, status.version)
    if opened.view not in ("image", "audio"):
        raise NotFound("Only images and audio are previewed here")
    data = await _call(ctx.blobs.read, status.version.blob_hash)
    mime = status.version.content_type
    if not mime.startswith(_PREVIEWABLE):
        mime = "application/octet-stream"
    return Response(data, media_type=mime, headers={"Content-Security-Policy": "default-src 'none'; sandbox",
                                                    "Cache-Control": "private, no-store"})


@signed_in
async def environment_logs(request: Request) -> Response:
    """The newest log lines of the environment's functions, for the editor's logs pane."""
    ctx, account = _ctx(request), request.state.account
    service = await _call(services.get, ctx, account, request.path_params["service"])
    lines = await _log_lines(ctx, account, service.sid, request.path_params["environment"])
    return JSONResponse({"logs": lines})


async def _share_url(request: Request, ttl_s: int, env_sid: str | None) -> tuple[str, int]:
    """A share link to the asset on the chosen environment's domain, made now."""
    ctx, account = _ctx(request), request.state.account
    service = await _call(services.get, ctx, account, request.path_params["service"])
    envs = (await _call(environments.page, ctx, account, service.sid, PageRequest(size=MAX_SIZE))).rows
    env = _choose_environment(envs, env_sid)
    if env is None:
        raise Invalid("Create an environment and deploy the asset first: a share link opens it on its domain")
    domain = _domain(request, env)
    link = await _call(workspace.share_link, ctx, account, service.sid, request.path_params["sid"], domain, ttl_s,
                       time.time())
    return f"{runtime_origin(request, domain)}{quote(link.path)}?{link.query}", link.expires


@signed_in
async def open_signed(request: Request) -> Response:
    """"Open with a signature": a protected asset opened as Twilio would fetch it, by a share
    link made at the click (so it is fresh however long the page was open) and short-lived."""
    url, _ = await _share_url(request, OPEN_SIGNED_TTL_S, request.query_params.get("env"))
    return _redirect(url)


@signed_in
async def share_create(request: Request) -> Response:
    """"Share link…": a link with the chosen lifetime, in JSON for the page's script, else in a
    flash message on the editor."""
    form = await _form(request)
    choice = SHARE_TTLS.get(str(form.get("ttl") or ""))
    env_sid = str(form.get("environment") or "") or None
    try:
        if choice is None:
            raise Invalid(f"Choose how long the link works: {', '.join(label for label, _ in SHARE_TTLS.values())}")
        url, expires = await _share_url(request, choice[1], env_sid)
    except AssetHostError as exc:
        if _wants_json(request):
            return _error_json(exc)
        _session(request).flash("error", f"No share link: {exc.message}")
        return _redirect(_editor_url(request.path_params["service"], "asset", request.path_params["sid"], env_sid))
    until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(expires))
    if _wants_json(request):
        return JSONResponse({"url": url, "expires": expires, "until": until}, status_code=201)
    _session(request).flash("success", f"Share link, valid until {until}: {url}")
    return _redirect(_editor_url(request.path_params["service"], "asset", request.path_params["sid"], env_sid))


# ------------------------------------------------------------------------------------ legacy


@signed_in
async def legacy_page(request: Request) -> Response:
    ctx, account = _ctx(request), request.state.account
    domain = await _call(legacy.runtime_domain, ctx, account)
    origin = runtime_origin(request, domain)
    files = await _call(legacy.files, ctx, account, origin)
    rows = sorted(files, key=lambda f: f.asset.friendly_name.lower())
    return await _page(request, "legacy.html", {
        "title": "Assets (Legacy)", "nav": "legacy", "domain": domain, "origin": origin, "files": rows,
        "human_size": human_size, "existing": {f.asset.friendly_name: f.version.visibility for f in rows},
    })


@signed_in
async def legacy_upload(request: Request) -> Response:
    """One file: multipart `Path` (the file name), `Visibility`, `Content`. Live at once."""
    ctx, account = _ctx(request), request.state.account
    filename = None
    try:
        received = await multipart.receive(request, ctx.blobs, ctx.limits.upload_ceiling("asset"))
        filename = received.fields.get("Path")
        version = await _call(ingest.store, ctx, ingest.LegacyFile(account), received)
    except AssetHostError as exc:
        if filename and filename not in exc.message:
            exc = type(exc)(f"{filename}: {exc.message}")
        return _error_json(exc)
    domain = await _call(legacy.runtime_domain, ctx, account)
    url = None if version.visibility == "private" else runtime_origin(request, domain) + version.path
    _session(request).flash("success", f"Uploaded {version.path[len(legacy.PREFIX):]} ({version.visibility}): "
                                       + (f"live at {url}." if url else "stored; private files have no URL."))
    return JSONResponse({"asset_sid": version.resource_sid, "path": version.path, "url": url,
                         "visibility": version.visibility, "size": version.size}, status_code=201)


@signed_in
async def legacy_delete(request: Request) -> Response:
    ctx, account, session = _ctx(request), request.state.account, _session(request)
    asset_sid = request.path_params["asset"]
    domain = await _call(legacy.runtime_domain, ctx, account)
    files = await _call(legacy.files, ctx, account, runtime_origin(request, domain))
    name = next((f.asset.friendly_name for f in files if f.asset.sid == asset_sid), asset_sid)
    try:
        await _call(legacy.delete, ctx, account, asset_sid)
    except AssetHostError as exc:
        session.flash("error", exc.message)
    else:
        session.flash("success", f"Deleted {name}.")
    return _redirect("/console/legacy")


# ------------------------------------------------------------------------------------ usage


@signed_in
async def usage_page(request: Request) -> Response:
    ctx, account = _ctx(request), request.state.account
    result = await _call(usage.monthly, ctx.meta, account, None, ctx.meter)
    return await _page(request, "usage.html", {
        "title": "Usage", "nav": "usage", "usage": result, "free_limit": usage.FREE_REQUESTS,
        "price": usage.PRICE_PER_REQUEST,
    })


# ------------------------------------------------------------------------------------ errors


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AssetHostError)
    if _wants_json(request):
        return _error_json(exc)
    title = "Not found" if isinstance(exc, NotFound) else "Something went wrong"
    return await _page(request, "error.html", {"title": title, "message": exc.message}, exc.status)


async def not_found(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    return await _page(request, "error.html", {"title": "Not found", "message": "There is no such page."}, status)
