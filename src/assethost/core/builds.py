"""Builds: immutable, frozen manifests of asset and function versions."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from assethost.core import checks, clock, dependencies, limits, lookup, services, sids
from assethost.core.context import Context
from assethost.core.errors import Conflict, Invalid, NotFound, TooMany
from assethost.core.model import Build, BuildEntry, Service, Version
from assethost.core.paging import Page, PageRequest, fetch
from assethost.core.ports import Tx

log = logging.getLogger("assethost.builds")

# Build `Runtime`: the values of build_enum_runtime in Twilio's OpenAPI description of Serverless
# v1. A build records the one it was given and answers it back; whichever it names, its functions
# run on the one Node.js of this server (`serve --node`), and Python functions on its Python.
RUNTIMES = ("node8", "node10", "node12", "node14", "node16", "node18", "node20", "node22")
DEFAULT_RUNTIME = "node22"
# Builds of one account being packaged at once: what one account may keep the packaging threads
# (core.background), and npm, busy with.
MAX_BUILDING = 5


def parse_dependencies(raw: str | None) -> list[dict[str, str]]:
    """Dependencies as a JSON list of {name, version}, each a registry package (see
    `core.dependencies`). The Serverless Toolkit wraps the JSON in one extra pair of double
    quotes; Twilio accepts that, so we do too."""
    if raw is None or raw.strip() == "":
        return []
    text = raw.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    try:
        value = json.loads(text)
    except ValueError:
        raise Invalid(f"Dependencies must be a JSON array of {{name, version}} objects (got {raw[:80]!r})") from None
    if isinstance(value, dict):  # package.json style {"name": "version"}
        value = [{"name": k, "version": v} for k, v in value.items()]
    if not isinstance(value, list) or not all(
        isinstance(d, dict) and isinstance(d.get("name"), str) and d.get("name")
        and isinstance(d.get("version", ""), str)
        for d in value
    ):
        raise Invalid("Dependencies must be a JSON array of {name, version} objects")
    out = [{"name": d["name"], "version": d.get("version") or "*"} for d in value]
    for dep in out:
        dep["version"] = dependencies.check(dep["name"], dep["version"])
    return out


def find(tx: Tx, account_sid: str, service_ref: str, sid: str) -> tuple[Service, Build]:
    service = services.find(tx, account_sid, service_ref)
    return service, lookup.child(tx.builds, sids.BUILD, sid, f"/Services/{service_ref}/Builds/{sid}",
                                 service_sid=service.sid)


def _versions(tx: Tx, service_sid: str, kind: str, param: str, wanted: list[str]) -> list[Version]:
    for sid in wanted:
        if not sids.is_sid(sid, sids.VERSION):
            raise Invalid(f"{param} contains {sid!r}, which is not a Version SID (ZN…)")
    if len(set(wanted)) != len(wanted):
        dupes = sorted({s for s in wanted if wanted.count(s) > 1})
        raise Invalid(f"{param} lists {dupes[0]} more than once")
    found = {row.sid: row for row in tx.versions.select_in("sid", wanted, service_sid=service_sid)}
    out = []
    for sid in wanted:
        row = found.get(sid)
        if row is None:
            raise NotFound(f"{param}: the version {sid} was not found in this service")
        if row.kind != kind:
            raise Invalid(f"{param}: {sid} is a {row.kind} version, not an {kind} version")
        out.append(row)
    return out


def create(
    ctx: Context, account_sid: str, service_ref: str, asset_versions: list[str],
    function_versions: list[str], dependencies: str | None, runtime: str | None,
) -> tuple[Build, list[BuildEntry]]:
    deps = parse_dependencies(dependencies)
    runtime = runtime or DEFAULT_RUNTIME
    if runtime not in RUNTIMES:
        raise Invalid(f"Runtime must be one of {', '.join(RUNTIMES)} (got {runtime[:40]!r})")
    if not asset_versions and not function_versions:
        raise Invalid("At least one Function Version or Asset Version is required for Build.")
    with ctx.meta.write() as tx:
        service = services.find(tx, account_sid, service_ref)
        if tx.builds.count(account_sid=account_sid, status="building") >= MAX_BUILDING:
            raise TooMany(f"This account has {MAX_BUILDING} builds in progress; create more once they are done")
        rows = _versions(tx, service.sid, "asset", "AssetVersions", asset_versions)
        rows += _versions(tx, service.sid, "function", "FunctionVersions", function_versions)
        build = freeze(ctx, tx, service, rows, deps, runtime)
        return build, entries(tx, build.sid)


def freeze(
    ctx: Context, tx: Tx, service: Service, rows: list[Version], deps: list[dict[str, str]], runtime: str,
) -> Build:
    """Check the versions against the rules and limits and record them as a new build."""
    seen: dict[str, Version] = {}
    for row in rows:
        if row.path in seen:
            raise Invalid(f"Two versions in this build have the path {row.path}: {seen[row.path].sid} and {row.sid}")
        seen[row.path] = row
    limits.check_build(ctx.limits, [(r.kind, r.visibility, r.path, r.size) for r in rows])
    sid, now = sids.new(sids.BUILD), clock.now()
    tx.builds.insert(sid=sid, account_sid=service.account_sid, service_sid=service.sid, status="building",
        status_reason=None, runtime=runtime, dependencies=json.dumps(deps), date_created=now, date_updated=now,
    )
    tx.build_entries.insert_many([
        {
            "build_sid": sid, "version_sid": r.sid, "resource_sid": r.resource_sid, "kind": r.kind,
            "path": r.path, "visibility": r.visibility, "blob_hash": r.blob_hash, "size": r.size,
            "content_type": r.content_type, "version_date_created": r.date_created,
        }
        for r in rows
    ])
    return tx.builds.one(sid=sid)


def entries(tx: Tx, build_sid: str) -> list[BuildEntry]:
    return tx.build_entries.select(build_sid=build_sid)


def finish(ctx: Context, build_sid: str) -> str:
    """The packaging step: check that every byte the manifest names is in the blob store and that
    no file fails a media rule the service made strict, then mark the build completed (or failed,
    with the reason)."""
    with ctx.meta.read() as tx:
        build = tx.builds.get(sid=build_sid)
        if build is None or build.status != "building":
            return build.status if build else "gone"
        rows = entries(tx, build_sid)
        missing = [e.path for e in rows if not ctx.blobs.exists(e.blob_hash)]
        refused = checks.build_errors(tx, build.service_sid, rows)  # the service's strict media rules
    status, reason = ("failed", f"content missing for {', '.join(missing[:5])}") if missing else ("completed", None)
    if refused and not missing:
        status, reason = "failed", refused
    for name, step in list(ctx.packagers.items()) if status == "completed" else []:
        try:
            reason = step(ctx, build, rows)
        except Exception as exc:  # a packaging bug fails the build, never leaves it `building`
            log.exception("build %s: packaging step %s failed", build_sid, name)
            reason = f"{name}: {exc}"
        if reason:
            status = "failed"
            break
    with ctx.meta.write() as tx:
        tx.builds.update({"sid": build_sid, "status": "building"}, status=status, status_reason=reason,
                  date_updated=clock.now())
    if reason:
        log.warning("build %s failed: %s", build_sid, reason)
    return status


def finish_pending(ctx: Context, older_than: timedelta) -> int:
    """Finish builds a stopped process left in `building`: those not touched for `older_than`,
    longer than a live process's packaging can take (its npm install is bounded), since on a
    shared database another node may be packaging the younger ones right now. Each is claimed
    first, by moving its `date_updated` on only if nobody did meanwhile, so that nodes doing this
    at once finish each build once. Returns the builds this call finished."""
    cutoff = clock.now() - older_than
    with ctx.meta.read() as tx:
        stale = [b for b in tx.builds.select(status="building") if b.date_updated < cutoff]
    finished = 0
    for build in stale:
        with ctx.meta.write() as tx:
            claimed = tx.builds.update({"sid": build.sid, "status": "building", "date_updated": build.date_updated},
                                       date_updated=clock.now())
        if claimed:
            log.warning("build %s was left building by a stopped process; finishing it", build.sid)
            finish(ctx, build.sid)
            finished += 1
    return finished


def get(ctx: Context, account_sid: str, service_ref: str, sid: str) -> tuple[Build, list[BuildEntry]]:
    with ctx.meta.read() as tx:
        _, row = find(tx, account_sid, service_ref, sid)
        return row, entries(tx, row.sid)


def page(
    ctx: Context, account_sid: str, service_ref: str, req: PageRequest,
) -> tuple[Page[Build], dict[str, list[BuildEntry]]]:
    with ctx.meta.read() as tx:
        service = services.find(tx, account_sid, service_ref)
        result = fetch(tx.builds, {"service_sid": service.sid}, req)
        sids_ = [b.sid for b in result.rows]
        by_build: dict[str, list[BuildEntry]] = {s: [] for s in sids_}
        for e in tx.build_entries.select_in("build_sid", sids_):
            by_build[e.build_sid].append(e)
        return result, by_build


def delete(ctx: Context, account_sid: str, service_ref: str, sid: str) -> None:
    with ctx.meta.write() as tx:
        service, row = find(tx, account_sid, service_ref, sid)
        if any(e.build_sid == row.sid for e in tx.environments.select(service_sid=service.sid)):
            raise Conflict("Cannot delete Build because it's part of an active Deployment.")
        tx.builds.delete(sid=row.sid)
