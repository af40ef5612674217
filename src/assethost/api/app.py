"""The API as a Starlette application."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request

from assethost.api.errors import handle_domain_error, handle_http_error, handle_unexpected
from assethost.api.render import Renderer
from assethost.api.routes import routes
from assethost.core.context import Context
from assethost.core.errors import AssetHostError


def create_api(ctx: Context, fixed_origin: str | None) -> Starlette:
    app = Starlette(
        routes=routes,
        exception_handlers={
            AssetHostError: handle_domain_error,
            HTTPException: handle_http_error,
            Exception: handle_unexpected,
        },
    )
    app.state.ctx = ctx
    fixed = Renderer(fixed_origin) if fixed_origin else None

    def renderer_for(request: Request) -> Renderer:
        return fixed or Renderer(f"{request.url.scheme}://{request.url.netloc}")

    app.state.renderer_for = renderer_for
    return app
