"""The operator's endpoints as one ASGI application (app.HostDispatch sends it the paths of
`web.traffic.OPERATOR_PATHS` on any host the edge does not claim)."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from assethost.core.context import Context
from assethost.edge.runtime import Edge
from assethost.ops.health import Readiness, healthz
from assethost.ops.metrics import Metrics
from assethost.web.traffic import OPERATOR_PATHS


class Ops:
    def __init__(self, ctx: Context, edge: Edge, metrics_folder: Path | None = None) -> None:
        self.routes: dict[str, ASGIApp] = {"/healthz": healthz, "/readyz": Readiness(ctx, edge),
                                           "/metrics": Metrics(edge, metrics_folder)}
        assert set(self.routes) == OPERATOR_PATHS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            response = PlainTextResponse("Method Not Allowed\n", 405, headers={"allow": "GET, HEAD"})
            return await response(scope, receive, send)
        await self.routes[scope["path"]](scope, receive, send)
