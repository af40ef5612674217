"""A build's own folder: what its functions run against.

    {data}/builds/{ZB}/
        .assethost-build.json        what is where (read by the harnesses)
        functions/<path>.js | .py    the function versions' sources
        assets/<path>                the private assets (read-only copies)
        node_modules -> {data}/deps/{sha256 of the sorted dependencies}/node_modules

Written once, while the build is `building`, into a temporary folder renamed into place, so a
reader sees either nothing or the whole folder. Dependencies are installed with npm once per
dependency set and shared by every build that lists the same set.

Private assets are copied, not hard-linked: a hard link shares the content-addressed blob's
inode, so a function writing to its asset file would change those bytes for every build (and
for the public, when the same bytes are also a public asset elsewhere).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

from assethost.core import sids
from assethost.core.context import Context
from assethost.functions.options import FunctionOptions

log = logging.getLogger("assethost.functions")

MANIFEST = ".assethost-build.json"
# Dependencies the harness stands in for: never installed.
PROVIDED = frozenset({"@twilio/runtime-handler"})
_PYTHON_TYPES = ("python",)
# What npm may see of the server's environment: enough to reach a registry, nothing else.
_NPM_ENV = ("PATH", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
            "SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "LANG")
REASON_LIMIT = 8000


def language(entry: Any) -> str:
    """`python` for versions uploaded as Python source (Content-Type text/x-python, or a path
    ending in .py); every other function version is JavaScript."""
    ctype = (entry.content_type or "").lower()
    if any(t in ctype for t in _PYTHON_TYPES) or entry.path.endswith(".py"):
        return "python"
    return "node"


def function_file(path: str, lang: str) -> str:
    stem = path.strip("/") or "index"
    if lang == "python":
        return f"functions/{stem.removesuffix('.py')}.py"
    return f"functions/{stem}.js"


class Packager:
    """The build step registered with core.builds: returns a failure reason, or None."""

    def __init__(self, data_dir: Path, options: FunctionOptions) -> None:
        self.builds_root = Path(data_dir).resolve() / "builds"
        self.deps_root = Path(data_dir).resolve() / "deps"
        self.options = options

    def folder(self, build_sid: str) -> Path:
        return self.builds_root / build_sid

    def ready(self, build_sid: str) -> bool:
        return (self.folder(build_sid) / MANIFEST).exists()

    def __call__(self, ctx: Context, build: Any, entries: list[Any]) -> str | None:
        if not any(e.kind == "function" for e in entries):
            return None  # nothing could read private assets without a function
        if self.ready(build.sid):
            return None
        try:
            deps = json.loads(build.dependencies or "[]")
            node_modules, failure = self.install(deps)
            if failure:
                return failure
            self.write(ctx, build.sid, entries, node_modules,
                       any(d.get("name") == "twilio" for d in deps))
        except OSError as exc:
            log.exception("build %s: could not write its folder", build.sid)
            return f"could not prepare the build's folder: {exc}"
        return None

    def sweep(self, ctx: Context) -> int:
        """Remove the folders of builds that no longer exist (deleted builds, deleted services).
        A folder can always be written again (`ensure`), so removing one is never a loss."""
        if not self.builds_root.is_dir():
            return 0
        folders = {p.name: p for p in self.builds_root.iterdir() if p.is_dir() and sids.is_sid(p.name, sids.BUILD)}
        if not folders:
            return 0
        with ctx.meta.read() as tx:
            existing = {b.sid for b in tx.select_in("builds", "sid", sorted(folders))}
        gone = [p for name, p in folders.items() if name not in existing]
        for path in gone:
            shutil.rmtree(path, ignore_errors=True)
        return len(gone)

    def ensure(self, ctx: Context, build_sid: str) -> bool:
        """Write the folder of a completed build that has none yet (e.g. built before this
        server had functions, or on another node). True when the folder is there."""
        if self.ready(build_sid):
            return True
        with ctx.meta.read() as tx:
            build = tx.get("builds", sid=build_sid)
            entries = tx.select("build_entries", build_sid=build_sid)
        if build is None:
            return False
        reason = self(ctx, build, entries)
        if reason:
            log.error("build %s cannot run its functions: %s", build_sid, reason)
        return self.ready(build_sid)

    # -- the folder ------------------------------------------------------------------------------

    def write(self, ctx: Context, build_sid: str, entries: list[Any], node_modules: Path | None,
              twilio_dependency: bool) -> None:
        self.builds_root.mkdir(parents=True, exist_ok=True)
        work = self.builds_root / f".tmp-{build_sid}-{secrets.token_hex(4)}"
        work.mkdir()
        try:
            manifest: dict[str, Any] = {"build_sid": build_sid, "functions": {}, "assets": {},
                                        "twilio_dependency": twilio_dependency}
            for e in entries:
                if e.kind == "function":
                    lang = language(e)
                    rel = function_file(e.path, lang)
                    self._copy(ctx, e.blob_hash, work / rel)
                    manifest["functions"][e.path] = {"file": rel, "language": lang, "visibility": e.visibility,
                                                     "function_sid": e.resource_sid}
                elif e.visibility == "private":
                    rel = "assets/" + (e.path.strip("/") or "_root")
                    try:
                        self._copy(ctx, e.blob_hash, work / rel)
                    except (IsADirectoryError, NotADirectoryError, FileExistsError):
                        rel = f"assets/.by-version/{e.version_sid}"  # /a and /a/b both private
                        self._copy(ctx, e.blob_hash, work / rel)
                    manifest["assets"][e.path] = rel
            if node_modules is not None:
                os.symlink(node_modules, work / "node_modules")
            (work / MANIFEST).write_text(json.dumps(manifest, indent=1))
            try:
                os.rename(work, self.folder(build_sid))
            except OSError:
                if not self.ready(build_sid):
                    raise
                shutil.rmtree(work, ignore_errors=True)  # another process finished it first
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise

    @staticmethod
    def _copy(ctx: Context, blob_hash: str, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ctx.blobs.path(blob_hash), dest)
        os.chmod(dest, 0o444)

    # -- npm -------------------------------------------------------------------------------------

    def install(self, deps: list[dict[str, str]]) -> tuple[Path | None, str | None]:
        """Install the dependencies (less those the harness provides) once per distinct set.
        Returns (node_modules, None), (None, None) when there is nothing to install, or
        (None, failure reason with npm's output)."""
        wanted = sorted({(d["name"], d.get("version") or "*") for d in deps if d.get("name") not in PROVIDED})
        if not wanted:
            return None, None
        key = hashlib.sha256(json.dumps(wanted).encode()).hexdigest()
        target = self.deps_root / key
        if (target / ".complete").exists():
            return target / "node_modules", None
        self.deps_root.mkdir(parents=True, exist_ok=True)
        with open(self.deps_root / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one install per set at a time, across processes
            if (target / ".complete").exists():
                return target / "node_modules", None
            work = self.deps_root / f".tmp-{key}-{secrets.token_hex(4)}"
            work.mkdir()
            try:
                (work / "package.json").write_text(json.dumps(
                    {"name": "assethost-build-deps", "version": "1.0.0", "private": True,
                     "dependencies": dict(wanted)}, indent=1))
                failure = self._npm(work)
                if failure:
                    return None, failure
                (work / "node_modules").mkdir(exist_ok=True)
                (work / ".complete").write_text("")
                if target.exists():
                    shutil.rmtree(target)
                os.rename(work, target)
            finally:
                if work.exists():
                    shutil.rmtree(work, ignore_errors=True)
        return target / "node_modules", None

    def _npm(self, folder: Path) -> str | None:
        cache = self.options.npm_cache or str(self.deps_root / ".npm-cache")
        cmd = [self.options.npm, "install", "--no-audit", "--no-fund", "--no-update-notifier", "--omit=dev",
               "--ignore-scripts", "--prefer-offline", "--loglevel=error", "--cache", cache]
        env = {k: v for k, v in os.environ.items() if k in _NPM_ENV or k.lower().startswith("npm_config_")}
        env["HOME"] = str(folder)
        try:
            proc = subprocess.Popen(cmd, cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            return f"npm install could not start: {exc}"
        try:
            output, _ = proc.communicate(timeout=self.options.npm_timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            return _reason(f"npm install timed out after {self.options.npm_timeout:g} s", output)
        if proc.returncode != 0:
            return _reason(f"npm install failed (exit code {proc.returncode})", output)
        return None


def _reason(title: str, output: bytes) -> str:
    text = output.decode("utf-8", "replace").strip()
    if len(text) > REASON_LIMIT:
        text = "…" + text[-REASON_LIMIT:]
    return f"{title}:\n{text}" if text else title
