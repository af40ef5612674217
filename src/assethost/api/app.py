"""The API as a Starlette application."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assethost.api.errors import handle_domain_error, handle_http_error, log, twilio_error
from assethost.api.render import Renderer
from assethost.api.routes import routes
from assethost.core.context import Context
from assethost.core.errors import AssetHostError


def create_api(ctx: Context, fixed_origin: str | None) -> ASGIApp:
    app = Starlette(
        routes=routes,
        exception_handlers={
            AssetHostError: handle_domain_error,
            HTTPException: handle_http_error,
        },
    )
    app.state.ctx = ctx
    fixed = Renderer(fixed_origin) if fixed_origin else None

    def renderer_for(request: Request) -> Renderer:
        return fixed or Renderer(f"{request.url.scheme}://{request.url.netloc}")

    app.state.renderer_for = renderer_for
    return CatchAll(app)


class CatchAll:
    """Answers an unexpected error with Twilio's 500 body and keeps the connection usable
    (Starlette's own last-resort handler re-raises, and the server then drops the connection)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await twilio_error(500, 20500, "Internal Server Error")(scope, receive, send)
