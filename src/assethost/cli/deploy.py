"""`assethost deploy`: make an environment serve exactly the files of a project folder, sending
only content the server does not already hold.

For every file, in order of preference:
  reuse   the service already has a version of that asset/function with the same path,
          visibility and SHA-256 (the one in the live build if there is one): its SID is used;
  link    the server already stores those bytes for this account: a new version is made from the
          hash (POST /assethost/v1/…/Versions with ContentSha256), no bytes sent;
  upload  a normal multipart upload (the Twilio API).
"link" is tried for hashes the service's versions already show, and for any file of LINK_MIN_BYTES
or more (the content may sit in another service); for a smaller, unknown file an upload costs no
more than asking. The new build always lists every file. If every version is the live build's
(and the dependencies match), nothing is built: the environment already serves this project.

Against a server that has assethost's bulk deploy (`POST /assethost/v1/Services/{ZS}/Manifest`
and `…/Deploy`, see docs/api.md), "link" and "upload" take two requests whatever the number of
files: the manifest of the new files, answered with the hashes the account lacks, then one
streamed request with the manifest and those bytes, which creates the missing Assets/Functions,
the versions, the build and (for a build with nothing to package) the deployment. A server
without it answers the manifest 404 or 405: then the files go through the standard API as above
(so does a deploy too large for one bulk request, and every deploy with --no-bulk).
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from assethost.cli.client import ApiError, Client
from assethost.cli.edge import edge_url
from assethost.cli.progress import Reporter, Upload
from assethost.cli.project import (
    JAVASCRIPT_CONTENT_TYPE,
    PYTHON_CONTENT_TYPE,
    Project,
    ProjectFile,
    function_language,
)
from assethost.cli.targets import EnvTarget, find_environment, find_service

WORKERS = 8
LINK_MIN_BYTES = 64 * 1024
HASH_CHUNK = 1024 * 1024
SEND_PIECE = 256 * 1024  # small files are sent in pieces of about this many bytes
POLL_FIRST_S, POLL_MAX_S = 0.1, 1.0


class DeployError(Exception):
    """A deploy that cannot go on; `status` and `code` are those of the server's refusal behind
    it, if one is (for --json)."""

    def __init__(self, message: str, refusal: ApiError | None = None) -> None:
        super().__init__(message)
        self.status: int | None = None
        self.code: int | None = None
        if refusal is not None and refusal.status:  # status 0: no answer came
            self.status, self.code = refusal.status, refusal.code


@dataclass
class Planned:
    file: ProjectFile
    sha256: str
    action: str = "upload"  # reuse | link | upload
    resource_sid: str | None = None
    version_sid: str | None = None

    @property
    def content_type(self) -> str:
        if self.file.kind == "function":
            return PYTHON_CONTENT_TYPE if self.file.language == "python" else JAVASCRIPT_CONTENT_TYPE
        return mimetypes.guess_type(self.file.path)[0] or "application/octet-stream"


@dataclass
class DeployResult:
    dry_run: bool
    service: dict[str, Any]
    environment: dict[str, Any]
    files: list[Planned]
    api_url: str
    changed: bool = True
    build_sid: str | None = None
    previous_build_sid: str | None = None
    removed: list[str] = field(default_factory=list)
    resources_created: int = 0
    uploaded_bytes: int = 0
    variables_created: list[str] = field(default_factory=list)
    variables_updated: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, action: str) -> int:
        return sum(1 for p in self.files if p.action == action)

    def url(self, p: Planned) -> str | None:
        domain = self.environment.get("domain_name")
        if p.file.visibility == "private" or not domain:
            return None
        return edge_url(self.api_url, domain, p.file.path)

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "changed": self.changed,
            "service": self.service,
            "environment": self.environment,
            "build_sid": self.build_sid,
            "previous_build_sid": self.previous_build_sid,
            "counts": {
                "files": len(self.files),
                "uploaded": self.count("upload"),
                "uploaded_bytes": self.uploaded_bytes,
                "linked": self.count("link"),
                "reused": self.count("reuse"),
                "resources_created": self.resources_created,
                "removed": len(self.removed),
                "variables_set": len(self.variables_created) + len(self.variables_updated),
            },
            "files": [
                {
                    "file": p.file.rel, "kind": p.file.kind, "path": p.file.path,
                    "visibility": p.file.visibility, "size": p.file.size, "sha256": p.sha256,
                    "action": p.action, "version_sid": p.version_sid, "url": self.url(p),
                }
                for p in self.files
            ],
            "removed": self.removed,
            "variables": {"created": self.variables_created, "updated": self.variables_updated},
            "seconds": round(self.seconds, 3),
        }


def sha256_of(path: Any) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


class _CountingFile(io.FileIO):
    """A file whose reads report their size, so the progress bar follows the bytes sent."""

    def __init__(self, path: Any, on_read: Callable[[int], None]) -> None:
        super().__init__(path, "rb")
        self._on_read = on_read

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        if data:
            self._on_read(len(data))
        return data


@contextmanager
def _pool(workers: int) -> Iterator[ThreadPoolExecutor]:
    """A thread pool that is not waited for on Ctrl-C: the command exits at once
    (commands/deploy.py) with its threads' requests cut, and the server keeps nothing of a cut
    upload. Otherwise, as `with ThreadPoolExecutor`, it waits for what is running."""
    pool = ThreadPoolExecutor(workers)
    interrupted = False
    try:
        yield pool
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        pool.shutdown(wait=not interrupted, cancel_futures=interrupted)


def _describe(f: ProjectFile) -> str:
    return f"{f.rel} ({f.visibility} {f.kind} {f.path}, {f.size} bytes)"


class Deployer:
    def __init__(self, client: Client, project: Project, service_name: str, target: EnvTarget,
                 reporter: Reporter, dry_run: bool = False, workers: int = WORKERS,
                 build_timeout: float = 300.0, runtime: str | None = None, bulk: bool = True) -> None:
        self.client, self.project, self.service_name, self.target = client, project, service_name, target
        self.reporter, self.dry_run, self.workers = reporter, dry_run, workers
        self.build_timeout, self.runtime, self.bulk = build_timeout, runtime, bulk
        # the build whose deployment was asked for, once it is ("of this bulk deploy" once its
        # bytes are all sent: the server deploys it even if we stop waiting)
        self.deploying: str | None = None

    # ------------------------------------------------------------------ the whole run
    def run(self) -> DeployResult:
        started = time.monotonic()
        files = self.project.files
        if not files:
            raise DeployError(
                f"nothing to deploy in {self.project.root}: no files in assets/ (or static/) nor .js/.py files "
                "in functions/ (or src/)"
            )
        self.reporter.step(f"hashing {len(files)} files")
        with _pool(self.workers) as pool:
            hashes = list(pool.map(lambda f: sha256_of(f.abs_path), files))
        plan = [Planned(f, h) for f, h in zip(files, hashes, strict=True)]

        service = find_service(self.client, self.service_name)
        service_created = service is None
        if service is None:
            if self.dry_run:
                return self._finish(started, DeployResult(
                    True, {"sid": None, "unique_name": self.service_name, "created": True},
                    {"sid": None, "unique_name": self.target.unique_name, "domain_suffix": self.target.suffix,
                     "domain_name": None, "created": True}, plan, self.client.api_url,
                    resources_created=len(plan), variables_created=sorted(self.project.env),
                    uploaded_bytes=sum(p.file.size for p in plan),
                ))
            service = self._create_service()
        zs = service["sid"]
        env, env_created = self._environment(zs)
        live = self._live_build(zs, env)
        result = DeployResult(
            self.dry_run,
            {"sid": zs, "unique_name": service["unique_name"], "created": service_created},
            _env_json(env, env_created, self.target), plan, self.client.api_url,
            previous_build_sid=live["sid"] if live else None,
        )
        self._plan(zs, plan, live, result)
        live_sids = _live_version_sids(live)
        new_paths = {p.file.path for p in plan}
        result.removed = sorted(path for path in _live_paths(live) if path not in new_paths)
        result.changed = not (
            live is not None and all(p.action == "reuse" for p in plan)
            and {p.version_sid for p in plan} == live_sids
            and _deps_key(live.get("dependencies")) == _deps_key(self.project.dependencies)
            and (self.runtime is None or live.get("runtime") == self.runtime)
        )
        if self.dry_run:
            result.uploaded_bytes = sum(p.file.size for p in plan if p.action == "upload")
        elif result.changed and self.bulk and self._bulk_deploy(zs, env, plan, result):
            return self._finish(started, result)
        else:
            self._create_resources(zs, plan, result)
            self._transfer(zs, plan, result)
        self._variables(zs, env, result)
        if result.changed and not self.dry_run:
            result.build_sid = self._build_and_deploy(zs, env, plan)
        elif not result.changed:
            result.build_sid = live["sid"] if live else None
        return self._finish(started, result)

    def _finish(self, started: float, result: DeployResult) -> DeployResult:
        result.seconds = time.monotonic() - started
        return result

    # ------------------------------------------------------------------ service and environment
    def _create_service(self) -> dict[str, Any]:
        self.reporter.step(f"creating service {self.service_name}")
        try:
            return self.client.create_service(self.service_name)
        except ApiError as exc:
            again = find_service(self.client, self.service_name)  # created meanwhile by another deploy?
            if again is not None:
                return again
            raise DeployError(f"cannot create service {self.service_name!r}: {exc}", exc) from None

    def _environment(self, zs: str) -> tuple[dict[str, Any], bool]:
        envs = self.client.environments(zs)
        env = find_environment(envs, self.target)
        if env is not None:
            return env, False
        if self.target.sid:
            raise DeployError(f"no environment {self.target.sid} in this service")
        if self.dry_run:
            return {"sid": None, "unique_name": self.target.unique_name, "domain_suffix": self.target.suffix,
                    "domain_name": None, "build_sid": None}, True
        self.reporter.step(f"creating environment {self.target.label}")
        try:
            return self.client.create_environment(zs, self.target.unique_name, self.target.suffix), True
        except ApiError as exc:
            env = find_environment(self.client.environments(zs), self.target)
            if env is not None:
                return env, False
            raise DeployError(f"cannot create environment {self.target.label!r}: {exc}", exc) from None

    def _live_build(self, zs: str, env: dict[str, Any]) -> dict[str, Any] | None:
        return self.client.build(zs, env["build_sid"]) if env.get("build_sid") else None

    # ------------------------------------------------------------------ what each file needs
    def _plan(self, zs: str, plan: list[Planned], live: dict[str, Any] | None, result: DeployResult) -> None:
        resources = {
            kind: {r["friendly_name"]: r["sid"] for r in self.client.resources(zs, kind)}
            for kind in ("asset", "function")
        }
        result.resources_created = sum(1 for p in plan if p.file.path not in resources[p.file.kind])
        for p in plan:
            p.resource_sid = resources[p.file.kind].get(p.file.path)

        in_live = _live_version_sids(live)
        # a function version is reused only in the same language (the server tells them apart by
        # content type): functions/x.js renamed to x.py with the same bytes needs a new version
        existing: dict[tuple[str, str, str, str, str | None], str] = {}
        known_hashes: set[str] = set()
        for v in self.client.versions_with_hashes(zs):
            known_hashes.add(v["sha256"])
            lang = function_language(v.get("content_type"), v["path"]) if v.get("kind") == "function" else None
            key = (v["resource_sid"], v["path"], v["visibility"], v["sha256"], lang)
            if key not in existing or v["sid"] in in_live:
                existing[key] = v["sid"]
        for p in plan:
            sid = existing.get((p.resource_sid or "", p.file.path, p.file.visibility, p.sha256, p.file.language))
            if sid:
                p.action, p.version_sid = "reuse", sid
            elif p.sha256 in known_hashes or (p.file.size >= LINK_MIN_BYTES and not self.dry_run):
                p.action = "link"
            else:
                p.action = "upload"

    def _create_resources(self, zs: str, plan: list[Planned], result: DeployResult) -> None:
        """The Assets and Functions that no version can be added to yet (the standard API)."""
        missing = [p for p in plan if p.resource_sid is None]
        if not missing:
            return
        self.reporter.step(f"creating {len(missing)} assets/functions")
        created = self._parallel(
            missing, lambda p: self.client.create_resource(zs, p.file.kind, p.file.path),
            lambda p, exc: f"cannot create {p.file.kind} {p.file.path} for {p.file.rel}: {exc}",
        )
        for p, row in zip(missing, created, strict=True):
            p.resource_sid = row["sid"]

    # ------------------------------------------------------------------ the bulk deploy
    def _bulk_deploy(self, zs: str, env: dict[str, Any], plan: list[Planned], result: DeployResult) -> bool:
        """Everything from the manifest to the deployment through the bulk endpoints; False (and
        nothing changed on the server) when this server has none or the deploy is too large for
        one request: the caller then uses the standard API."""
        new = [p for p in plan if p.action != "reuse"]
        try:
            answer = self.client.bulk_manifest(zs, [_entry(p) for p in new])
        except ApiError as exc:
            if exc.status in (404, 405):  # no such endpoint: a server without the bulk deploy
                return False
            if exc.status == 409:  # a service whose uploads change their bytes (stripped metadata)
                self.reporter.step(f"{exc.message}: uploading file by file")
                return False
            raise _refusal(f"the server refused the manifest of {len(new)} files", new, exc) from None
        missing = set(answer["missing"])
        first: dict[str, Planned] = {}
        for p in new:
            first.setdefault(p.sha256, p)
        upload = [h for h in first if h in missing]
        total = sum(first[h].file.size for h in upload)
        if total > answer["max_upload_bytes"] or len(plan) > answer["max_files"]:
            self.reporter.step(f"{len(plan)} files, {total} bytes to send: more than one bulk deploy takes; "
                               "uploading them one by one")
            return False
        for p in new:
            p.action = "upload" if p.sha256 in missing else "link"
        self._variables(zs, env, result)
        manifest: dict[str, Any] = {
            "files": [{"version_sid": p.version_sid} if p.action == "reuse" else _entry(p) for p in plan],
            "upload": upload, "environment": env["sid"],
        }
        if self.project.dependencies:
            manifest["dependencies"] = self.project.dependencies
        if self.runtime:
            manifest["runtime"] = self.runtime
        def sent() -> None:  # the server has it all: from here on it deploys without us
            self.deploying = "of this bulk deploy"

        with self.reporter.uploading(len(upload), total) as bar:
            try:
                done = self.client.bulk_deploy(zs, manifest, _content([first[h] for h in upload], bar, sent),
                                               total)
            except ApiError as exc:
                raise _refusal(f"the server refused the deploy of {len(plan)} files", plan, exc) from None
        for p, version in zip(plan, done["versions"], strict=True):
            p.version_sid = version["sid"]
        result.uploaded_bytes = done["uploaded_bytes"]
        result.resources_created = done["resources_created"]
        build = done["build"]
        result.build_sid = build["sid"]
        if done["deployment"] is None:  # a build to package first (functions, dependencies)
            self._await_and_deploy(zs, env, build)
        return True

    # ------------------------------------------------------------------ links and uploads
    def _transfer(self, zs: str, plan: list[Planned], result: DeployResult) -> None:
        todo = [p for p in plan if p.action in ("link", "upload")]
        if not todo:
            return
        # links send no bytes when they succeed: the bar's total shrinks then (bar.skipped)
        with self.reporter.uploading(len(todo), sum(p.file.size for p in todo)) as bar:
            self._parallel(todo, lambda p: self._send(zs, p, bar),
                           lambda p, exc: f"{_describe(p.file)}: {exc}")
        result.uploaded_bytes = sum(p.file.size for p in todo if p.action == "upload")

    def _send(self, zs: str, p: Planned, bar: Upload) -> None:
        assert p.resource_sid is not None
        if p.action == "link":
            try:
                row = self.client.version_from_content(
                    zs, p.file.kind, p.resource_sid, p.file.path, p.file.visibility, p.sha256, p.content_type
                )
                p.version_sid = row["sid"]
                bar.skipped(p.file.size)
                bar.file_done()
                return
            except ApiError as exc:
                if exc.status != 404:
                    raise
                p.action = "upload"  # the account does not hold these bytes after all
        with _CountingFile(p.file.abs_path, bar.sent) as content:
            try:
                row = self.client.upload_version(
                    zs, p.file.kind, p.resource_sid, p.file.path, p.file.visibility, p.file.filename, content,
                    p.content_type,
                )
            except ApiError as exc:
                if exc.status == 0:
                    raise ApiError(0, None, f"{exc.message} (the server may have refused a file this large)") from None
                raise
        p.version_sid = row["sid"]
        bar.file_done()

    def _parallel(self, items: list[Planned], fn: Callable[[Planned], Any],
                  describe: Callable[[Planned, Exception], str]) -> list[Any]:
        """fn over items on the thread pool; the first failure stops the rest and is raised as a
        DeployError described by `describe` (already created versions are reused by a rerun)."""
        with _pool(self.workers) as pool:
            futures = [pool.submit(fn, item) for item in items]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for item, future in zip(items, futures, strict=True):
                if future in done and future.exception() is not None:
                    for other in futures:
                        other.cancel()
                    exc = future.exception()
                    assert exc is not None
                    if isinstance(exc, ApiError):
                        raise DeployError(describe(item, exc), exc) from None
                    raise exc
            return [f.result() for f in futures]

    # ------------------------------------------------------------------ variables
    def _variables(self, zs: str, env: dict[str, Any], result: DeployResult) -> None:
        wanted = self.project.env
        if not wanted:
            return
        current = {v["key"]: v for v in self.client.variables(zs, env["sid"])} if env.get("sid") else {}
        for key, value in wanted.items():
            have = current.get(key)
            if have is not None and have["value"] == value:
                continue
            (result.variables_updated if have else result.variables_created).append(key)
            if not self.dry_run:
                try:
                    self.client.set_variable(zs, env["sid"], key, value, have["sid"] if have else None)
                except ApiError as exc:
                    raise DeployError(f".env: cannot set variable {key}: {exc}", exc) from None

    # ------------------------------------------------------------------ build and deployment
    def _build_and_deploy(self, zs: str, env: dict[str, Any], plan: list[Planned]) -> str:
        versions = [(p.file.kind, p.version_sid) for p in plan if p.version_sid is not None]
        if len(versions) != len(plan):  # every file was uploaded, linked or reused by now
            raise DeployError(f"{len(plan) - len(versions)} files have no version to build with")
        assets = [sid for kind, sid in versions if kind == "asset"]
        functions = [sid for kind, sid in versions if kind == "function"]
        try:
            build = self.client.create_build(zs, assets, functions, self.project.dependencies,
                                             self.runtime)
        except ApiError as exc:
            raise DeployError(f"the server refused the build of {len(plan)} files: {exc}", exc) from None
        self._await_and_deploy(zs, env, build)
        return str(build["sid"])

    def _await_and_deploy(self, zs: str, env: dict[str, Any], build: dict[str, Any]) -> None:
        zb = build["sid"]
        with self.reporter.building(f"building {zb}"):
            status = build.get("status", "building")
            deadline = time.monotonic() + self.build_timeout
            delay = POLL_FIRST_S
            while status not in ("completed", "failed"):
                if time.monotonic() > deadline:
                    raise DeployError(f"build {zb} still {status!r} after {self.build_timeout:.0f} s")
                time.sleep(delay)
                delay = min(delay * 2, POLL_MAX_S)
                status = self.client.build_status(zs, zb)
        if status != "completed":
            reason = self.client.build_details(zs, zb).get("status_reason")
            raise DeployError(f"build {zb} failed" + (f": {reason}" if reason else ""))
        self.reporter.step(f"deploying {zb} to {env.get('domain_name')}")
        self.deploying = zb
        try:
            self.client.deploy(zs, env["sid"], zb)
        except ApiError as exc:
            raise DeployError(f"cannot deploy build {zb}: {exc}", exc) from None


def _refusal(what: str, listed: list[Planned], exc: ApiError) -> DeployError:
    """The server's refusal of a bulk request, naming the project file when it names an entry
    (`files[i]: …`)."""
    entry = re.match(r"files\[(\d+)\]", exc.message)
    if entry and int(entry.group(1)) < len(listed):
        return DeployError(f"{_describe(listed[int(entry.group(1))].file)}: {exc}", exc)
    return DeployError(f"{what}: {exc}", exc)


def _entry(p: Planned) -> dict[str, Any]:
    """A new file as the bulk manifest names it."""
    return {"kind": p.file.kind, "path": p.file.path, "visibility": p.file.visibility, "sha256": p.sha256,
            "size": p.file.size, "content_type": p.content_type}


def _content(files: list[Planned], bar: Upload, sent: Callable[[], None]) -> Iterator[bytes]:
    """The bytes of `files`, one after the other, each exactly as long as hashed (a file that
    changed size since stops the deploy; one that changed content the server refuses)."""
    piece = bytearray()
    for p in files:
        left = p.file.size
        with open(p.file.abs_path, "rb") as f:
            while left:
                chunk = f.read(min(HASH_CHUNK, left))
                if not chunk:
                    raise DeployError(f"{p.file.rel} became shorter while it was deployed; deploy again")
                left -= len(chunk)
                bar.sent(len(chunk))
                if len(chunk) >= SEND_PIECE and not piece:
                    yield chunk
                    continue
                piece += chunk
                if len(piece) >= SEND_PIECE:
                    yield bytes(piece)
                    piece.clear()
        bar.file_done()
    if piece:
        yield bytes(piece)
    sent()


def _env_json(env: dict[str, Any], created: bool, target: EnvTarget) -> dict[str, Any]:
    return {
        "sid": env.get("sid"), "unique_name": env.get("unique_name"), "domain_suffix": env.get("domain_suffix"),
        "domain_name": env.get("domain_name"), "created": created,
    }


def _live_version_sids(live: dict[str, Any] | None) -> set[str]:
    if not live:
        return set()
    return {v["sid"] for v in live.get("asset_versions", []) + live.get("function_versions", [])}


def _live_paths(live: dict[str, Any] | None) -> list[str]:
    if not live:
        return []
    return [v["path"] for v in live.get("asset_versions", []) + live.get("function_versions", [])]


def _deps_key(deps: list[dict[str, str]] | None) -> list[tuple[str, str]]:
    return sorted((d.get("name", ""), d.get("version") or "*") for d in deps or [])
