"""The bulk deploy endpoints (assethost's extension; the rules are in `core/bulk.py`):

    POST /assethost/v1/Services/{service}/Manifest   JSON {"files": [...]} → the hashes to send
    POST /assethost/v1/Services/{service}/Deploy     the manifest's line, then those bytes →
                                                     versions, build and deployment

Twilio's own clients never call these; the standard Serverless API is unchanged beside them.
"""

from __future__ import annotations

from typing import Any

from python_multipart.multipart import parse_options_header
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from assethost.api.auth import authenticate
from assethost.core import builds, bulk
from assethost.core.context import Context
from assethost.core.errors import Invalid
from assethost.web.deploybody import DeployBody, read_json

DEPLOY_CONTENT_TYPE = "application/vnd.assethost.deploy"


def _ctx(request: Request) -> Context:
    return request.app.state.ctx


async def manifest(request: Request) -> Response:
    account = await authenticate(request)
    ctx = _ctx(request)
    raw = await read_json(request, ctx.limits.max_form_bytes)
    checked = bulk.parse(ctx, raw, with_upload=False)
    missing = await run_in_threadpool(bulk.missing, ctx, account, request.path_params["service"], checked)
    sizes = {f.sha256: f.size for f in checked.new_files}
    return JSONResponse({
        "missing": missing,
        "missing_bytes": sum(sizes[h] for h in missing),
        "max_upload_bytes": bulk.MAX_UPLOAD_BYTES,
        "max_files": bulk.max_files(ctx),
    })


async def deploy(request: Request) -> Response:
    account = await authenticate(request)
    ctx, ref = _ctx(request), request.path_params["service"]
    ctype, _ = parse_options_header(request.headers.get("content-type", ""))
    if ctype.decode("latin-1").lower() != DEPLOY_CONTENT_TYPE:
        raise Invalid(f"A bulk deploy is sent as {DEPLOY_CONTENT_TYPE}: a line of JSON (the manifest), then the "
                      'bytes of the files it lists in "upload"')
    body = DeployBody(request)
    checked = bulk.parse(ctx, await body.manifest(ctx.limits.max_form_bytes), with_upload=True)
    declared = request.headers.get("content-length")
    expected = body.manifest_bytes + checked.upload_bytes
    if declared is not None and declared.isdigit() and int(declared) != expected:
        raise Invalid(f"The body is {declared} bytes; the manifest ({body.manifest_bytes} bytes) and the "
                      f"{len(checked.upload)} files it lists in \"upload\" make {expected}")
    await run_in_threadpool(bulk.check_present, ctx, account, ref, checked)
    names: dict[str, str] = {}
    for f in checked.new_files:
        names.setdefault(f.sha256, f.path)
    await body.store(ctx.blobs, [(h, size, names[h]) for h, size in checked.upload])
    done = await run_in_threadpool(bulk.commit, ctx, account, ref, checked)
    r = request.app.state.renderer_for(request)
    answer: dict[str, Any] = {
        "build": r.build(done.build, done.entries),
        "deployment": r.deployment(done.deployment) if done.deployment else None,
        "versions": [r.version_facts(v) for v in done.versions],
        "uploaded": len(checked.upload),
        "uploaded_bytes": checked.upload_bytes,
        "resources_created": done.resources_created,
    }
    task = BackgroundTask(ctx.background.submit, builds.finish, ctx, done.build.sid) if done.pending else None
    return JSONResponse(answer, status_code=201, background=task)


X = "/assethost/v1/Services/{service}"
routes = [
    Route(X + "/Manifest", manifest, methods=["POST"]),
    Route(X + "/Deploy", deploy, methods=["POST"]),
]
