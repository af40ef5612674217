"""The console's pages and actions. Like the API, each one calls core (in a worker thread: core is
synchronous) and renders the result; the rules themselves live in core.

Plain forms answer with a redirect and a flash message; the upload endpoints, called by the
console's JavaScript one file at a time, answer JSON (`{"message": …}` on errors, with the
status of the core error, so the page can show the server's own words next to the file).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from assethost.console.session import Session, session_of
from assethost.core import environments, ingest, legacy, resources, services, sessions, usage, workspace
from assethost.core.context import Context
from assethost.core.errors import AssetHostError, NotFound, Unauthorized
from assethost.core.model import Service
from assethost.core.paging import MAX_SIZE, PageRequest
from assethost.web import multipart
from assethost.web.forms import read_form

Handler = Callable[[Request], Awaitable[Response]]

# The environments the page offers to create, as the Serverless Toolkit names them.
PRESET_ENVIRONMENTS = {"dev": "dev", "stage": "stage", "production": None}


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
            row = await _call(services.create, ctx, account, unique, friendly, None, None)
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
    path: str
    visibility: str | None
    size: str
    live: bool
    url: str | None


def _asset_rows(request: Request, statuses: list[workspace.AssetStatus], env: Any | None) -> list[AssetRow]:
    origin = runtime_origin(request, _domain(request, env)) if env is not None else None
    rows = []
    for s in statuses:
        v = s.version
        path = v.path if v is not None else s.asset.friendly_name
        url = origin + path if origin and v is not None and v.visibility != "private" else None
        rows.append(AssetRow(s.asset.sid, path, v.visibility if v else None, human_size(v.size if v else None),
                             s.live, url))
    return sorted(rows, key=lambda r: r.path)


def _choose_environment(envs: list[Any], wanted: str | None) -> Any | None:
    for env in envs:
        if env.sid == wanted:
            return env
    for name in PRESET_ENVIRONMENTS:  # dev first, as in the Serverless Toolkit
        for env in envs:
            if env.unique_name == name:
                return env
    return envs[0] if envs else None


@signed_in
async def service_page(request: Request) -> Response:
    ctx, account = _ctx(request), request.state.account
    service = await _call(services.get, ctx, account, request.path_params["service"])
    envs = (await _call(environments.page, ctx, account, service.sid, PageRequest(size=MAX_SIZE))).rows
    env = _choose_environment(envs, request.query_params.get("env"))
    statuses = await _call(workspace.assets, ctx, account, service.sid, env.sid if env else None)
    missing = [name for name in PRESET_ENVIRONMENTS if name not in {e.unique_name for e in envs}]
    return await _page(request, "service.html", {
        "title": service.friendly_name, "nav": "services", "service": service, "environments": envs,
        "environment": env, "assets": _asset_rows(request, statuses, env), "missing_environments": missing,
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
    name = str(form.get("name") or "")
    if name not in PRESET_ENVIRONMENTS:
        session.flash("error", "Choose dev, stage or production")
        return _redirect(_service_url(service.sid, None))
    try:
        env = await _call(environments.create, ctx, account, service.sid, name, PRESET_ENVIRONMENTS[name])
    except AssetHostError as exc:
        session.flash("error", exc.message)
        return _redirect(_service_url(service.sid, None))
    session.flash("success", f"Environment {env.unique_name} created at {_domain(request, env)}.")
    return _redirect(_service_url(service.sid, env.sid))


# ------------------------------------------------------------------------------------ assets pane


@signed_in
async def asset_upload(request: Request) -> Response:
    """One file: multipart `Path`, `Visibility`, `Content`, streamed to the blob store."""
    ctx, account = _ctx(request), request.state.account
    try:
        destination = await _call(ingest.WorkspaceFile(account, request.path_params["service"]).locate, ctx)
        received = await multipart.receive(request, ctx.blobs, ctx.limits.upload_ceiling("asset"))
        version = await _call(ingest.store, ctx, destination, received)
    except AssetHostError as exc:
        return _error_json(exc)
    return JSONResponse({"asset_sid": version.resource_sid, "version_sid": version.sid, "path": version.path,
                         "visibility": version.visibility, "size": version.size}, status_code=201)


@signed_in
async def deploy_all(request: Request) -> Response:
    ctx, account, session, service, form = await _service_form(request)
    env_sid = str(form.get("environment") or "")
    try:
        env = await _call(environments.get, ctx, account, service.sid, env_sid)
        deployment = await _call(workspace.deploy_all, ctx, account, service.sid, env.sid)
    except AssetHostError as exc:
        session.flash("error", f"Deploy failed: {exc.message}")
        return _redirect(_service_url(service.sid, env_sid or None))
    if deployment is None:
        session.flash("info", f"Everything is live on {env.unique_name} already.")
    else:
        session.flash("success", f"Deployed build {deployment.build_sid} to {env.unique_name} ({_domain(request, env)}).")
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
    return _redirect(_service_url(service.sid, env_sid))


@signed_in
async def asset_delete(request: Request) -> Response:
    ctx, account, session, service, form = await _service_form(request)
    env_sid = str(form.get("environment") or "") or None
    asset_sid = request.path_params["asset"]
    try:
        current = await _call(resources.get, ctx, account, service.sid, "asset", asset_sid)
        await _call(resources.delete, ctx, account, service.sid, "asset", asset_sid, allow_live=True)
    except AssetHostError as exc:
        session.flash("error", exc.message)
    else:
        session.flash("success", f"Deleted {current.friendly_name}. A deployed build keeps serving it until the "
                                 "next Deploy All.")
    return _redirect(_service_url(service.sid, env_sid))


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
        "human_size": human_size,
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
