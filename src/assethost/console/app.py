"""The web console as a Starlette application, served under `/console` on the API origin.

`with_console(api, console)` puts it in front of the API: requests whose path is `/console` or
starts with `/console/` go to the console, a browser opening `/` is redirected to `/console`,
everything else goes to the API unchanged. Asset domains
never reach it: the host dispatcher sends those to the edge first.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from starlette.applications import Starlette
from starlette.responses import RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from assethost.console import views
from assethost.console.session import SessionMiddleware
from assethost.core.context import Context
from assethost.core.errors import AssetHostError

PREFIX = "/console"
# 302, not 301: a browser must not remember it, in case `/` means something else one day.
ROOT_REDIRECT = RedirectResponse(PREFIX, status_code=302)
HERE = Path(__file__).parent


def create_console(ctx: Context, public_url: str | None = None) -> ASGIApp:
    """public_url: the server's --public-url, if any; runtime URLs then take its scheme and port
    (otherwise those of each console request)."""
    p = PREFIX
    routes = [
        Route(p, views.home, methods=["GET"]),
        Route(p + "/", views.home, methods=["GET"]),
        Route(p + "/signin", views.signin, methods=["GET", "POST"], name="signin"),
        Route(p + "/signout", views.signout, methods=["POST"], name="signout"),
        Route(p + "/services", views.service_list, methods=["GET", "POST"], name="services"),
        Route(p + "/services/{service}", views.service_page, methods=["GET"], name="service"),
        Route(p + "/services/{service}/environments", views.environment_create, methods=["POST"],
              name="environment_create"),
        Route(p + "/services/{service}/environments/{environment}/logs", views.environment_logs, methods=["GET"],
              name="environment_logs"),
        Route(p + "/services/{service}/editing", views.allow_editing, methods=["POST"], name="allow_editing"),
        Route(p + "/services/{service}/upload", views.asset_upload, methods=["POST"], name="asset_upload"),
        Route(p + "/services/{service}/new-asset", views.asset_new, methods=["GET", "POST"], name="asset_new"),
        Route(p + "/services/{service}/deploy", views.deploy_all, methods=["POST"], name="deploy_all"),
        Route(p + "/services/{service}/assets/{asset}/visibility", views.asset_visibility, methods=["POST"],
              name="asset_visibility"),
        Route(p + "/services/{service}/assets/{sid}/content", views.asset_content, methods=["GET"],
              name="asset_content"),
        Route(p + "/services/{service}/assets/{sid}/signed", views.open_signed, methods=["GET"], name="open_signed"),
        Route(p + "/services/{service}/assets/{sid}/share", views.share_create, methods=["POST"], name="share_create"),
        Route(p + "/services/{service}/{collection}/{sid}", views.editor_page, methods=["GET"], name="editor"),
        Route(p + "/services/{service}/{collection}/{sid}/save", views.editor_save, methods=["POST"],
              name="editor_save"),
        Route(p + "/services/{service}/{collection}/{sid}/rename", views.editor_rename, methods=["POST"],
              name="editor_rename"),
        Route(p + "/services/{service}/{collection}/{sid}/delete", views.resource_delete, methods=["POST"],
              name="resource_delete"),
        Route(p + "/legacy", views.legacy_page, methods=["GET"], name="legacy"),
        Route(p + "/legacy/upload", views.legacy_upload, methods=["POST"], name="legacy_upload"),
        Route(p + "/legacy/{asset}/delete", views.legacy_delete, methods=["POST"], name="legacy_delete"),
        Route(p + "/usage", views.usage_page, methods=["GET"], name="usage"),
        Mount(p + "/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={
        404: views.not_found, 405: views.not_found, AssetHostError: views.domain_error,
    })
    app.state.ctx = ctx
    app.state.public_url = public_url.rstrip("/") if public_url else None
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["human_size"] = views.human_size
    app.state.templates = templates
    secure = bool(public_url and public_url.lower().startswith("https://"))
    return SecurityHeaders(SessionMiddleware(app, ctx, always_secure=secure))


class SecurityHeaders:
    """No framing, no inline script, no caching of signed-in pages."""

    CSP = (
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
        b"connect-src 'self'; "
        b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    HEADERS: ClassVar[tuple[tuple[bytes, bytes], ...]] = (
        (b"content-security-policy", CSP),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        is_static = scope["path"].startswith(PREFIX + "/static/")

        async def send_with_headers(message):  # type: ignore[no-untyped-def]
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(self.HEADERS)
                if not is_static:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ConsoleDispatch:
    """`/console…` to the console, a GET or HEAD of `/` redirected there, anything else to the API.

    Twilio's clients never ask for `/` (every API path starts with `/v1` or `/assethost/v1`), so
    the only one who opens the bare origin is a person with a browser, who is better served by the
    console than by a JSON 404. The redirect is relative, so it works behind a proxy as well."""

    def __init__(self, api: ASGIApp, console: ASGIApp) -> None:
        self.api = api
        self.console = console

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path == PREFIX or path.startswith(PREFIX + "/"):
                return await self.console(scope, receive, send)
            if path == "/" and scope["method"] in ("GET", "HEAD"):
                return await ROOT_REDIRECT(scope, receive, send)
        await self.api(scope, receive, send)


def with_console(api: ASGIApp, ctx: Context, public_url: str | None = None) -> ASGIApp:
    return ConsoleDispatch(api, create_console(ctx, public_url))
