"""Serverless API v1 endpoints. Each one authenticates, reads its parameters, calls core in a
worker thread (core is synchronous) and renders the result; none holds a rule of its own.

A request without a body checks its credentials and does its work in one worker thread
(`as_account`): each hop to a thread and back costs about as much CPU as a small query. One with
a form is authenticated before its body is read, so an unauthenticated client never has a body
parsed."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from assethost.api import bulk, openapi
from assethost.api.auth import as_account, authenticate
from assethost.api.render import Renderer
from assethost.core import builds, checks, environments, ingest, logs, mediafiles, resources, services, usage
from assethost.core.context import Context
from assethost.core.errors import Invalid
from assethost.core.paging import PageRequest
from assethost.web import multipart
from assethost.web.forms import read_form


def _ctx(request: Request) -> Context:
    return request.app.state.ctx


def _render(request: Request) -> Renderer:
    return request.app.state.renderer_for(request)


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    return await run_in_threadpool(fn, *args)


def _page_request(request: Request) -> PageRequest:
    q = request.query_params
    return PageRequest.parse(q.get("PageSize"), q.get("Page"), q.get("PageToken"))


def _json(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def _no_content() -> Response:
    return Response(status_code=204)


async def _form(request: Request) -> Any:
    # A build lists every version as a repeated field: up to the per-build limits of each kind,
    # more than Starlette's default of 1000 fields.
    limits = _ctx(request).limits
    most = 2 * limits.max_public_versions + limits.max_private_versions + limits.max_function_versions
    return await read_form(request, limits.max_form_bytes, max_fields=most + 64)


# --- collections and their members ----------------------------------------------------------
# Most resources are a collection (GET a page, POST a new member from form fields) and members
# (GET, POST an update, DELETE). The path's parameters, in order, name the member: the service,
# then the environment, then the SID; core's functions take them in that order after the account.

Render = Callable[[Renderer, Any], dict[str, Any]]
Endpoint = Callable[[Request], Awaitable[Response]]


def _collection(key: str, render: Render, page: Callable[..., Any], create: Callable[..., Any] | None = None,
                fields: tuple[str, ...] = ()) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        ctx, r = _ctx(request), _render(request)
        params = request.path_params.values()
        if request.method == "POST" and create is not None:
            account = await authenticate(request)
            f = await _form(request)
            return _json(render(r, await _call(create, ctx, account, *params, *(f.get(k) for k in fields))), 201)
        found = await as_account(request, lambda account: page(ctx, account, *params, _page_request(request)))
        return _json(r.listing(request.url.path, key, found, lambda row: render(r, row)))

    return endpoint


def _member(render: Render, get: Callable[..., Any], update: Callable[..., Any] | None = None,
            fields: tuple[str, ...] = (), delete: Callable[..., Any] | None = None) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        ctx, params = _ctx(request), request.path_params.values()
        if request.method == "DELETE" and delete is not None:
            await as_account(request, lambda account: delete(ctx, account, *params))
            return _no_content()
        if request.method == "POST" and update is not None:
            account = await authenticate(request)
            f = await _form(request)
            row = await _call(update, ctx, account, *params, *(f.get(k) for k in fields))
        else:
            row = await as_account(request, lambda account: get(ctx, account, *params))
        return _json(render(_render(request), row))

    return endpoint


# --- assets and functions -------------------------------------------------------------------


def _resource_routes(kind: str, collection: str) -> list[Route]:
    base = "/v1/Services/{service}/" + collection
    # Core takes the kind after the service: (ctx, account, service, kind, …).
    listing = _collection(
        f"{kind}s", Renderer.resource,
        lambda ctx, account, ref, req: resources.page(ctx, account, ref, kind, req),
        lambda ctx, account, ref, friendly: resources.create(ctx, account, ref, kind, friendly), ("FriendlyName",),
    )
    instance = _member(
        Renderer.resource,
        lambda ctx, account, ref, sid: resources.get(ctx, account, ref, kind, sid),
        lambda ctx, account, ref, sid, friendly: resources.update(ctx, account, ref, kind, sid, friendly),
        ("FriendlyName",),
        lambda ctx, account, ref, sid: resources.delete(ctx, account, ref, kind, sid),
    )
    version = _member(
        Renderer.version,
        lambda ctx, account, ref, sid, v: resources.get_version(ctx, account, ref, kind, sid, v),
    )

    async def versions(request: Request) -> Response:
        ref, sid = request.path_params["service"], request.path_params["sid"]
        ctx = _ctx(request)
        if request.method == "POST":
            return await _create_version(request, ctx, ref, kind, sid)
        page = await as_account(request, lambda account: resources.version_page(
            ctx, account, ref, kind, sid, _page_request(request)))
        r = _render(request)
        return _json(r.listing(request.url.path, f"{kind}_versions", page, r.version))

    routes = [
        Route(base, listing, methods=["GET", "POST"]),
        Route(base + "/{sid}", instance, methods=["GET", "POST", "DELETE"]),
        Route(base + "/{sid}/Versions", versions, methods=["GET", "POST"]),
        Route(base + "/{sid}/Versions/{version}", version, methods=["GET"]),
    ]
    if kind == "function":

        async def content(request: Request) -> Response:
            p = request.path_params
            ctx = _ctx(request)

            def read(account: str) -> tuple[Any, str]:
                row = resources.get_version(ctx, account, p["service"], kind, p["sid"], p["version"])
                return row, resources.function_source(ctx, row)

            row, text = await as_account(request, read)
            return _json(_render(request).function_content(row, text))

        routes.append(Route(base + "/{sid}/Versions/{version}/Content", content, methods=["GET"]))
    return routes


async def _create_version(request: Request, ctx: Context, ref: str, kind: str, sid: str) -> Response:
    # The credentials and the destination in one thread hop, both before the body is read.
    destination = await as_account(request, lambda account: ingest.NewVersion(account, ref, kind, sid).locate(ctx))
    received = await multipart.receive(request, ctx.blobs, ctx.limits.upload_ceiling(kind))
    row, warnings = await _call(ingest.store_and_check, ctx, destination, received)
    r = _render(request)
    # An extension field: Twilio's clients read the fields they know and ignore the others.
    return _json(r.version(row) | {"media_warnings": r.media_warnings(warnings)}, 201)


# --- builds ---------------------------------------------------------------------------------


def _build(request: Request, account: str) -> Any:
    return builds.get(_ctx(request), account, request.path_params["service"], request.path_params["sid"])


async def build_list(request: Request) -> Response:
    ref = request.path_params["service"]
    ctx, r = _ctx(request), _render(request)
    if request.method == "POST":
        account = await authenticate(request)
        f = await _form(request)
        row, entries = await _call(
            builds.create, ctx, account, ref, f.getlist("AssetVersions"), f.getlist("FunctionVersions"),
            f.get("Dependencies"), f.get("Runtime"),
        )
        return JSONResponse(r.build(row, entries), status_code=201,
                            background=BackgroundTask(ctx.background.submit, builds.finish, ctx, row.sid))
    page, by_build = await as_account(request, lambda account: builds.page(ctx, account, ref, _page_request(request)))
    return _json(r.listing(request.url.path, "builds", page, lambda b: r.build(b, by_build[b.sid])))


async def build_instance(request: Request) -> Response:
    ref, sid = request.path_params["service"], request.path_params["sid"]
    ctx = _ctx(request)
    if request.method == "DELETE":
        await as_account(request, lambda account: builds.delete(ctx, account, ref, sid))
        return _no_content()
    row, entries = await as_account(request, lambda account: builds.get(ctx, account, ref, sid))
    return _json(_render(request).build(row, entries))


async def build_status(request: Request) -> Response:
    row, _ = await as_account(request, lambda account: _build(request, account))
    return _json(_render(request).build_status(row))


# --- environments, deployments, variables, logs --------------------------------------------


async def log_list(request: Request) -> Response:
    """What the environment's functions printed, oldest first; FunctionSid, StartDate (default: a
    day before EndDate) and EndDate (default: now) filter it."""
    p, q = request.path_params, request.query_params
    filters = {k: q[k] for k in ("FunctionSid", "StartDate", "EndDate") if q.get(k)}
    page = await as_account(request, lambda account: logs.page(
        _ctx(request), account, p["service"], p["env"], _page_request(request),
        q.get("FunctionSid") or None, q.get("StartDate"), q.get("EndDate"),
    ))
    r = _render(request)
    return _json(r.listing(request.url.path, "logs", page, r.log, filters or None))


S = "/v1/Services/{service}"
_SERVICE_FIELDS = ("FriendlyName", "IncludeCredentials", "UiEditable")
_VARIABLE_FIELDS = ("Key", "Value")
routes = [
    Route("/v1/Services", _collection("services", Renderer.service, services.page, services.create,
                                      ("UniqueName", *_SERVICE_FIELDS)), methods=["GET", "POST"]),
    Route(S, _member(Renderer.service, services.get, services.update, _SERVICE_FIELDS, services.delete),
          methods=["GET", "POST", "DELETE"]),
    *_resource_routes("asset", "Assets"),
    *_resource_routes("function", "Functions"),
    Route(S + "/Builds", build_list, methods=["GET", "POST"]),
    Route(S + "/Builds/{sid}", build_instance, methods=["GET", "DELETE"]),
    Route(S + "/Builds/{sid}/Status", build_status, methods=["GET"]),
    Route(S + "/Environments", _collection("environments", Renderer.environment, environments.page,
                                           environments.create, ("UniqueName", "DomainSuffix")),
          methods=["GET", "POST"]),
    Route(S + "/Environments/{sid}", _member(Renderer.environment, environments.get, delete=environments.delete),
          methods=["GET", "DELETE"]),
    Route(S + "/Environments/{env}/Deployments", _collection("deployments", Renderer.deployment,
                                                             environments.deployment_page, environments.deploy,
                                                             ("BuildSid",)), methods=["GET", "POST"]),
    Route(S + "/Environments/{env}/Deployments/{sid}", _member(Renderer.deployment, environments.get_deployment),
          methods=["GET"]),
    Route(S + "/Environments/{env}/Variables", _collection("variables", Renderer.variable, environments.variable_page,
                                                           environments.create_variable, _VARIABLE_FIELDS),
          methods=["GET", "POST"]),
    Route(S + "/Environments/{env}/Variables/{sid}", _member(Renderer.variable, environments.get_variable,
                                                             environments.update_variable, _VARIABLE_FIELDS,
                                                             environments.delete_variable),
          methods=["GET", "POST", "DELETE"]),
    Route(S + "/Environments/{env}/Logs", log_list, methods=["GET"]),
    Route(S + "/Environments/{env}/Logs/{sid}", _member(Renderer.log, logs.get), methods=["GET"]),
]


# --- assethost extensions (no Twilio equivalent) --------------------------------------------


async def usage_instance(request: Request) -> Response:
    """Requests served this month (or ?Month=YYYY-MM) and what they cost."""
    ctx = _ctx(request)
    month = request.query_params.get("Month") or None

    def monthly(account: str) -> Any:
        if month is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
            raise Invalid(f"Month must look like 2026-11 (got {month!r})")
        return usage.monthly(ctx.meta, account, month, ctx.meter)

    result = await as_account(request, monthly)
    return _json(_render(request).usage(result))


async def service_versions(request: Request) -> Response:
    """Every version of the service with its content hash, so a deploy can tell what changed."""
    ctx, r = _ctx(request), _render(request)
    kind = request.query_params.get("Kind") or None
    page = await as_account(request, lambda account: resources.service_version_page(
        ctx, account, request.path_params["service"], kind, _page_request(request)))
    filters = {"Kind": kind} if kind else None
    return _json(r.listing(request.url.path, "versions", page, r.version_facts, filters))


def _version_by_hash(kind: str):  # type: ignore[no-untyped-def]
    async def create(request: Request) -> Response:
        """Create a version from content the account already stored (form: Path, Visibility,
        ContentSha256, optional ContentType)."""
        account = await authenticate(request)
        p, f = request.path_params, await _form(request)
        row = await _call(
            resources.add_version_from_content, _ctx(request), account, p["service"], kind, p["sid"],
            f.get("Path"), f.get("Visibility"), f.get("ContentSha256"), f.get("ContentType"),
        )
        return _json(_render(request).version_facts(row), 201)

    return create


async def build_details(request: Request) -> Response:
    """A build's status and, when it failed, why (e.g. the output of a failed npm install), and
    every file of it that fails a media rule."""
    ctx, p = _ctx(request), request.path_params
    row, warnings = await as_account(request, lambda account: mediafiles.build_summary(ctx, account, p["service"], p["sid"]))
    return _json(_render(request).build_details(row, warnings))


async def asset_version_media(request: Request) -> Response:
    """An asset version with what its bytes are, its media checks and its immutable URL."""
    ctx, p = _ctx(request), request.path_params
    found = await as_account(request, lambda account: mediafiles.get(ctx, account, p["service"], p["sid"], p["version"]))
    return _json(_render(request).version_media(found))


async def media_settings(request: Request) -> Response:
    """A service's media settings: StripMetadata (true|false) and StrictRules (rule names,
    comma-separated, '' for none), the rules that fail a build."""
    ctx, ref = _ctx(request), request.path_params["service"]
    if request.method == "POST":
        account = await authenticate(request)
        f = await _form(request)
        row = await _call(checks.update_settings, ctx, account, ref, f.get("StripMetadata"), f.get("StrictRules"))
    else:
        row = await as_account(request, lambda account: checks.get_settings(ctx, account, ref))
    return _json(_render(request).media_settings(row))


async def openapi_document(request: Request) -> Response:
    """This API's OpenAPI document. No authentication: it describes the API and holds no data."""
    return _json(openapi.document(_render(request).origin))


X = "/assethost/v1/Services/{service}"
routes += [
    Route("/assethost/v1/openapi.json", openapi_document, methods=["GET"]),
    Route(X + "/Builds/{sid}", build_details, methods=["GET"]),
    Route("/assethost/v1/Usage", usage_instance, methods=["GET"]),
    Route(X + "/Versions", service_versions, methods=["GET"]),
    Route(X + "/Assets/{sid}/Versions", _version_by_hash("asset"), methods=["POST"]),
    Route(X + "/Functions/{sid}/Versions", _version_by_hash("function"), methods=["POST"]),
    Route(X + "/Assets/{sid}/Versions/{version}", asset_version_media, methods=["GET"]),
    Route(X + "/MediaSettings", media_settings, methods=["GET", "POST"]),
    *bulk.routes,  # the bulk deploy, in its own module
]
