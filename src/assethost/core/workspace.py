"""What the console's Assets pane shows and does: every asset and function with its latest
version and whether that version is live, which environment to work on, Deploy All, and the
edits made in the console (upload, new asset, rename, save, change of visibility, delete).

Two rules keep the console from publishing what a careful user would not expect:
- A service whose `ui_editable` is false (what the Serverless Toolkit and the CLI create) is
  managed from a project folder: every edit here is refused until the user allows editing in the
  console (`allow_editing`), since the next CLI deploy would overwrite it anyway.
- An asset whose latest version an earlier build held but the environment's live build left out
  (a CLI deploy of a project whose file was removed) is `dropped`: Deploy All leaves it out
  rather than publishing it again; saving a new version of it brings it back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from assethost.core import (
    aliases,
    builds,
    environments,
    limits,
    mediatypes,
    names,
    resources,
    services,
    share,
)
from assethost.core.context import Context
from assethost.core.errors import Conflict, Invalid, NotFound
from assethost.core.model import Deployment, Environment, Resource, Service, Version
from assethost.core.ports import Tx

log = logging.getLogger("assethost.workspace")

# The environments the console offers to create: (unique name, domain suffix), as the Serverless
# Toolkit's Functions Editor names them. The CLI names its development one `dev-environment`.
PRESETS = (("dev", "dev"), ("stage", "stage"), ("production", None))
_DEVELOPMENT_NAMES = ("dev", "dev-environment", "development", "develop")
# The root URL of an environment serves `/`, or else an HTML `/assets/index.html` (as Twilio does;
# the edge's snapshot applies the same rule).
ROOT_PATH = "/"
LEGACY_ROOT_PATH = "/assets/index.html"


@dataclass(frozen=True)
class AssetStatus:
    asset: Resource
    version: Version | None  # the latest version, if any was uploaded
    live: bool  # that latest version is part of the environment's deployed build
    dropped: bool = False  # an earlier build held that version, the live build left it out


def latest_versions(tx: Tx, service_sid: str, kind: str | None = None) -> dict[str, Version]:
    """resource SID → its newest version."""
    where = {"service_sid": service_sid} | ({"kind": kind} if kind else {})
    latest: dict[str, Version] = {}
    for row in tx.versions.select(**where):  # in creation order: the last one wins
        latest[row.resource_sid] = row
    return latest


# --- environments ---------------------------------------------------------------------------


def is_production(env: Environment) -> bool:
    """An environment without a domain suffix serves the service's bare domain: production."""
    return not env.domain_suffix


def is_development(env: Environment) -> bool:
    suffix = (env.domain_suffix or "").lower()
    return suffix in ("dev", "development") or env.unique_name.lower() in _DEVELOPMENT_NAMES


def default_environment(envs: list[Environment]) -> Environment | None:
    """The one to open on: the development environment however it is named, else the first one
    with a domain suffix; a production environment only when there is nothing else."""
    for env in envs:
        if is_development(env):
            return env
    for env in envs:
        if not is_production(env):
            return env
    return envs[0] if envs else None


def creatable_presets(envs: list[Environment]) -> list[str]:
    """The preset names that can still be created: neither the name nor the domain suffix taken."""
    names_taken = {e.unique_name for e in envs}
    suffixes_taken = {(e.domain_suffix or "").lower() for e in envs}
    return [name for name, suffix in PRESETS if name not in names_taken and (suffix or "") not in suffixes_taken]


def create_preset(ctx: Context, account_sid: str, service_ref: str, name: str) -> Environment:
    """Create one of PRESETS; when it cannot be, the error says which environment holds its name
    or domain and what can be created instead."""
    preset = dict(PRESETS)
    if name not in preset:
        raise Invalid(f"Choose one of {', '.join(n for n, _ in PRESETS)} (got {name!r})")
    with ctx.meta.read() as tx:
        service = services.find(tx, account_sid, service_ref)
        envs = tx.environments.select(service_sid=service.sid)
    if name not in creatable_presets(envs):
        suffix = preset[name] or ""
        holder = next(e for e in envs if e.unique_name == name or (e.domain_suffix or "").lower() == suffix)
        what = "name" if holder.unique_name == name else "domain"
        offer = creatable_presets(envs)
        rest = f"You can create {', '.join(offer)}." if offer else "Every preset environment exists already."
        raise Conflict(f"The environment {holder.unique_name} already has the {what} a new {name} would get: "
                       f"work there instead. {rest}")
    return environments.create(ctx, account_sid, service.sid, name, preset[name])


# --- the pane -------------------------------------------------------------------------------


def assets(
    ctx: Context, account_sid: str, service_ref: str, environment_sid: str | None, kind: str = "asset",
) -> list[AssetStatus]:
    """The service's assets (or functions) with their latest versions, live or dropped in the
    environment's build."""
    with ctx.meta.read() as tx:
        service = services.find(tx, account_sid, service_ref)
        live: set[str] = set()
        left_out: set[str] = set()  # versions an earlier build held
        if environment_sid:
            _, env = environments.find(tx, account_sid, service.sid, environment_sid)
            if env.build_sid:
                live = {e.version_sid for e in builds.entries(tx, env.build_sid)}
                current = tx.builds.one(sid=env.build_sid)
                earlier = [b.sid for b in tx.builds.select(service_sid=service.sid) if b.id < current.id]
                if earlier:
                    left_out = {e.version_sid for e in tx.build_entries.select_in("build_sid", earlier)} - live
        latest = latest_versions(tx, service.sid, kind)
        rows = tx.resources.select(service_sid=service.sid, kind=kind)
    out = []
    for r in rows:
        version = latest.get(r.sid)
        is_live = version is not None and version.sid in live
        dropped = version is not None and version.sid in left_out
        out.append(AssetStatus(asset=r, version=version, live=is_live, dropped=dropped))
    return out


def root_asset(statuses: list[AssetStatus]) -> AssetStatus | None:
    """The asset the root URL of an environment would serve after Deploy All."""
    served = {s.version.path: s for s in statuses
              if s.version is not None and not s.dropped and s.version.visibility != "private"}
    legacy = served.get(LEGACY_ROOT_PATH)
    if ROOT_PATH in served:
        return served[ROOT_PATH]
    if legacy is not None and legacy.version is not None and legacy.version.content_type.startswith("text/html"):
        return legacy
    return None


def require_editable(service: Service) -> None:
    if not service.ui_editable:
        raise Invalid(
            f"Service {service.unique_name} is managed by the Serverless Toolkit or the assethost CLI "
            "(ui_editable is false): change its project and deploy it from there, or allow editing in the console"
        )


def _editable(ctx: Context, account_sid: str, service_ref: str) -> Service:
    service = services.get(ctx, account_sid, service_ref)
    require_editable(service)
    return service


def allow_editing(ctx: Context, account_sid: str, service_ref: str) -> Service:
    return services.update(ctx, account_sid, service_ref, None, None, "true")


@dataclass(frozen=True)
class DeployedAll:
    deployment: Deployment
    changed_paths: list[str]  # served paths whose bytes differ from the previous live build's


def deploy_all(ctx: Context, account_sid: str, service_ref: str, environment_sid: str) -> DeployedAll | None:
    """Build the latest version of every asset and function, but those the live build dropped,
    and deploy it to the environment. Returns the deployment with the URLs that changed bytes
    (`aliases.changed_paths`, as `assethost deploy` reports them), or None when exactly that is
    live already."""
    service = _editable(ctx, account_sid, service_ref)
    statuses = (assets(ctx, account_sid, service.sid, environment_sid)
                + assets(ctx, account_sid, service.sid, environment_sid, "function"))
    rows = [s.version for s in statuses if s.version is not None and not s.dropped]
    with ctx.meta.write() as tx:
        _, env = environments.find(tx, account_sid, service.sid, environment_sid)
        if not rows:
            raise Invalid("Nothing to deploy yet: upload a file first")
        before = builds.entries(tx, env.build_sid) if env.build_sid else []
        if env.build_sid and {e.version_sid for e in before} == {r.sid for r in rows}:
            return None
        build = builds.freeze(ctx, tx, service, rows, [], builds.DEFAULT_RUNTIME)
    status = builds.finish(ctx, build.sid)
    if status != "completed":
        raise Invalid(f"Build {build.sid} failed; nothing was deployed")
    deployment = environments.deploy(ctx, account_sid, service.sid, env.sid, build.sid)
    with ctx.meta.read() as tx:
        after = builds.entries(tx, build.sid)
    return DeployedAll(deployment, aliases.changed_paths(before, after))


@dataclass(frozen=True)
class SharedLink:
    path: str
    query: str  # core/share.py's ahExpires and ahSignature
    expires: int  # Unix seconds


def share_link(ctx: Context, account_sid: str, service_ref: str, asset_sid: str, domain: str, ttl_s: int,
               now: float) -> SharedLink:
    """A share link (core/share.py) to a protected asset's path on `domain` (an environment's) for
    `ttl_s` seconds, signed with the account's Auth Token as the edge checks it. Public assets need none, private ones are
    never served: both are refused."""
    if not 1 <= ttl_s <= share.MAX_TTL_S:
        raise Invalid(f"A share link lives from 1 second to {share.MAX_TTL_S // 86400} days")
    _, current = _latest(ctx, account_sid, service_ref, "asset", asset_sid)
    if current.visibility != "protected":
        raise Invalid(f"{current.path} is {current.visibility}: only protected assets take a share link")
    with ctx.meta.read() as tx:
        token = tx.accounts.one(sid=account_sid).auth_token
    expires = int(now) + ttl_s
    return SharedLink(current.path, share.query(token, domain, current.path, expires), expires)


def _latest(ctx: Context, account_sid: str, service_ref: str, kind: str, sid: str) -> tuple[Resource, Version]:
    with ctx.meta.read() as tx:
        service, row = resources.find(tx, account_sid, service_ref, kind, sid)
        current = latest_versions(tx, service.sid, kind).get(row.sid)
    if current is None:
        raise Invalid(f"{kind.capitalize()} {row.friendly_name} has no version yet")
    return row, current


def set_visibility(ctx: Context, account_sid: str, service_ref: str, asset_sid: str, visibility: str) -> Version:
    """A new version of the asset with the same bytes and path and another visibility."""
    asset, current = _latest(ctx, account_sid, service_ref, "asset", asset_sid)
    return resources.add_version_from_content(
        ctx, account_sid, service_ref, "asset", asset.sid, current.path, visibility, current.blob_hash,
        current.content_type,
    )


def visibility_of(ctx: Context, account_sid: str, service_ref: str, path: str) -> str | None:
    """The visibility of the asset that has this path now, if any: an upload over it keeps it."""
    return next((s.version.visibility for s in assets(ctx, account_sid, service_ref, None)
                 if s.version is not None and s.version.path == path), None)


def check_room(
    ctx: Context, account_sid: str, service_ref: str, path: str, visibility: str, size: int,
    replacing: str | None = None, kind: str = "asset",
) -> str | None:
    """Would Deploy All still fit the build limits with this file? The console, like Twilio's,
    puts every asset into the build, so it refuses files beyond the limits up front. Returns the
    SID of the asset that already has this path, if any: the file becomes its new version."""
    limits.check_file(ctx.limits, kind, visibility, path, size)
    statuses = assets(ctx, account_sid, service_ref, None) + assets(ctx, account_sid, service_ref, None, "function")
    same_path = next((s for s in statuses if s.version is not None and s.version.path == path), None)
    if replacing is None:
        if same_path is not None and same_path.asset.kind != kind:
            raise Invalid(f"A {same_path.asset.kind} already has the path {path}")
        replacing = same_path.asset.sid if same_path else None
    elif same_path is not None and same_path.asset.sid != replacing:
        raise Invalid(f"Another {same_path.asset.kind} already has the path {path}")
    entries = [(s.asset.kind, s.version.visibility, s.version.path, s.version.size)
               for s in statuses if s.version is not None and s.asset.sid != replacing]
    entries.append((kind, visibility, path, size))
    try:
        limits.check_build(ctx.limits, entries)
    except Invalid as exc:
        raise Invalid(f"{path} cannot be added: {exc.message}") from None
    return same_path.asset.sid if same_path else None


def add_file(
    ctx: Context, account_sid: str, service_ref: str, path: str, visibility: str, blob_hash: str, size: int,
    declared_type: str | None,
) -> Version:
    """A file uploaded in the console: a new asset, or a new version of the asset with that path."""
    service = _editable(ctx, account_sid, service_ref)
    existing = check_room(ctx, account_sid, service.sid, path, visibility, size)
    if existing is None:
        existing = resources.create(ctx, account_sid, service.sid, "asset", path).sid
    return resources.add_version(ctx, account_sid, service.sid, "asset", existing, path, visibility, blob_hash,
                                 size, declared_type)


def new_asset(ctx: Context, account_sid: str, service_ref: str, path: str | None) -> Version:
    """Add+ → New Asset: an empty public text asset at the typed path."""
    clean = names.version_path(path)
    service = _editable(ctx, account_sid, service_ref)
    if check_room(ctx, account_sid, service.sid, clean, "public", 0) is not None:
        raise Conflict(f"An asset already has the path {clean}: open it instead")
    blob_hash, size = ctx.blobs.put(b"")
    asset = resources.create(ctx, account_sid, service.sid, "asset", clean)
    return resources.add_version(ctx, account_sid, service.sid, "asset", asset.sid, clean, "public", blob_hash,
                                 size, None)


def save_content(
    ctx: Context, account_sid: str, service_ref: str, kind: str, sid: str, content: bytes,
) -> Version:
    """The editor's Save: a new version with these bytes, the same path and visibility."""
    service = _editable(ctx, account_sid, service_ref)
    row, current = _latest(ctx, account_sid, service.sid, kind, sid)
    check_room(ctx, account_sid, service.sid, current.path, current.visibility, len(content), replacing=row.sid,
               kind=kind)
    blob_hash, size = ctx.blobs.put(content)
    return resources.add_version(ctx, account_sid, service.sid, kind, row.sid, current.path, current.visibility,
                                 blob_hash, size, current.content_type)


def rename(ctx: Context, account_sid: str, service_ref: str, kind: str, sid: str, path: str | None) -> Version:
    """A new version at another path (the API's path rule; `/` is the root asset), same bytes and
    visibility; the asset's friendly name follows its path, as the toolkit names them."""
    clean = names.version_path(path)
    service = _editable(ctx, account_sid, service_ref)
    row, current = _latest(ctx, account_sid, service.sid, kind, sid)
    if clean == current.path:
        return current
    check_room(ctx, account_sid, service.sid, clean, current.visibility, current.size, replacing=row.sid, kind=kind)
    content_type = resources.content_type(None, clean) if kind == "asset" else current.content_type
    if content_type == "application/octet-stream":
        content_type = current.content_type  # `/` has no extension: keep what the bytes were
    version = resources.add_version_from_content(ctx, account_sid, service.sid, kind, row.sid, clean,
                                                 current.visibility, current.blob_hash, content_type)
    resources.update(ctx, account_sid, service.sid, kind, row.sid, clean)
    return version


def change_visibility(
    ctx: Context, account_sid: str, service_ref: str, asset_sid: str, visibility: str,
) -> Version:
    """set_visibility, refused when the file would break a limit under its new visibility."""
    visibility = names.visibility(visibility)
    service = _editable(ctx, account_sid, service_ref)
    current = next((s for s in assets(ctx, account_sid, service.sid, None) if s.asset.sid == asset_sid), None)
    if current is None:
        raise NotFound(f"No asset {asset_sid} in this service")
    if current.version is None:
        raise Invalid(f"Asset {current.asset.friendly_name} has no version yet")
    check_room(ctx, account_sid, service.sid, current.version.path, visibility, current.version.size,
               replacing=asset_sid)
    return set_visibility(ctx, account_sid, service.sid, asset_sid, visibility)


def delete(ctx: Context, account_sid: str, service_ref: str, kind: str, sid: str) -> Resource:
    """Delete in the console: allowed while live (the live build keeps serving it until the next
    Deploy All). Returns what was deleted."""
    service = _editable(ctx, account_sid, service_ref)
    row = resources.get(ctx, account_sid, service.sid, kind, sid)
    resources.delete(ctx, account_sid, service.sid, kind, sid, allow_live=True)
    return row


# --- the editor -----------------------------------------------------------------------------

# Text is edited in the page's form, whose body the console's CSRF check reads whole: bounded.
MAX_EDITABLE_BYTES = 200_000
_LANGUAGES = {"text/html": "html", "text/css": "css", "text/javascript": "javascript",
              "application/javascript": "javascript", "application/json": "json", "application/xml": "xml",
              "text/xml": "xml"}


@dataclass(frozen=True)
class Opened:
    """How the editor shows a version: `view` is text, image, audio or none (not shown)."""

    view: str
    language: str | None  # the code editor's language, for text
    text: str | None  # the content, for text
    reason: str | None  # why the content is not shown, for none


def open_version(ctx: Context, version: Version) -> Opened:
    """Text assets (HTML, CSS, JS, JSON, XML/TwiML, plain text) and functions are edited; images
    and audio are previewed and played (by the console's content URL); anything else is not shown."""
    mime = mediatypes.resolve(version.path, version.content_type, b"").split(";", 1)[0]
    if version.kind == "function":
        mime = "application/javascript"
    if mime.startswith("image/") and mime != "image/svg+xml":
        return Opened("image", None, None, None)
    if mime.startswith("audio/"):
        return Opened("audio", None, None, None)
    if not mediatypes.is_textual(mime) and version.size:
        return Opened("none", None, None, f"{mime} files are not shown here: download it by its URL")
    if version.size > MAX_EDITABLE_BYTES:
        return Opened("none", None, None, f"It is {version.size} bytes, more than the {MAX_EDITABLE_BYTES} the "
                                          "editor takes: upload a new version instead")
    try:
        text = ctx.blobs.read(version.blob_hash).decode("utf-8")
    except UnicodeDecodeError:
        return Opened("none", None, None, "Its bytes are not UTF-8 text: upload a new version instead")
    language = _LANGUAGES.get(mime) or ("xml" if mime.endswith("+xml") else "json" if mime.endswith("+json") else None)
    return Opened("text", language, text, None)
