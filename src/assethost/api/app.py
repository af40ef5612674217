"""The API as a Starlette application."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assethost.api.auth import Authenticator
from assethost.api.errors import handle_domain_error, handle_http_error, handle_unexpected, log
from assethost.api.render import Renderer
from assethost.api.routes import routes
from assethost.core.context import Context
from assethost.core.errors import AssetHostError
from assethost.web.errors import twilio_error


def create_api(ctx: Context, fixed_origin: str | None) -> ASGIApp:
    app = Starlette(
        routes=routes,
        exception_handlers={
            AssetHostError: handle_domain_error,
            HTTPException: handle_http_error,
            # Starlette's last-resort middleware answers with this instead of its text/plain 500,
            # then re-raises: CatchAll, around the whole API origin, logs the error.
            Exception: handle_unexpected,
        },
    )
    app.state.ctx = ctx
    app.state.authenticator = Authenticator(ctx.meta)
    fixed = Renderer(fixed_origin, ctx.base_domain) if fixed_origin else None

    def renderer_for(request: Request) -> Renderer:
        return fixed or Renderer(f"{request.url.scheme}://{request.url.netloc}", ctx.base_domain)

    app.state.renderer_for = renderer_for
    return app


class CatchAll:
    """The one guard of the API origin (the API and the console in front of it) against
    unexpected errors: they are logged and the connection stays usable.

    Starlette's last-resort middleware answers an error with a 500 (Twilio's body, for the API)
    and then always re-raises, and uvicorn drops a connection whose application raised, even
    after a complete response. So: nothing sent yet (an error outside the Starlette apps),
    answer Twilio's 500 here; a response complete (Starlette's 500, or an error in a background
    task after the response), swallow the error. Only an error in the middle of a response body
    still ends the connection, since the client cannot tell a cut body from a whole one otherwise.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = complete = False

        async def tracking_send(message: Message) -> None:
            nonlocal started, complete
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                complete = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if started and not complete:
                raise  # uvicorn logs it and closes the connection
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await twilio_error(500, 20500, "Internal Server Error")(scope, receive, send)
