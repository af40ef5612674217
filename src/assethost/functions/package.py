"""A build's own folder: what its functions run against.

    {data}/builds/{ZB}/
        .assethost-build.json        what is where (read by the harnesses), and which installed
                                     dependency set the build uses
        functions/<path>.js | .py    the function versions' sources
        assets/<path>                the private assets (read-only copies)
    {data}/deps/{sha256 of the sorted dependencies}/node_modules
    {data}/runtime/twilio-{RUNTIME_TWILIO}/node_modules   the shared twilio package

Written once, while the build is `building`, into a temporary folder renamed into place, so a
reader sees either nothing or the whole folder. Dependencies are installed with npm once per
dependency set and shared by every build that lists the same set; a worker's sandbox mounts the
build at /srv/build and its dependency set at /srv/node_modules, where Node's module resolution
finds it (no symlink in the folder: one could only point at the server's own disk).

npm runs in the same sandbox as functions (functions.sandbox), with install scripts disabled,
writing only its own work folder and cache, and only registry packages may be asked for
(core.dependencies). What it prints names sandbox paths, never the server's.

Private assets are hard links to their blobs (copies where the blob store is on another file
system): a build folder costs no disk of its own. That is safe because nothing can write through
them: a sandbox mounts the build read-only, and the files are 0444.

Dependency sets no build folder names any more are removed by `sweep`, like deleted builds' folders.

On Twilio `context.getTwilioClient()` works whatever a build lists, so the `twilio` package is
installed once per data folder (pinned, `RUNTIME_TWILIO`, the same way as a dependency set), the
first time a build with JavaScript functions is written, and every Node sandbox mounts it
read-only at /srv/runtime, where the harness looks when the build has no `twilio` of its own.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from assethost.config import FunctionOptions, MiB
from assethost.core import live, sids
from assethost.core.context import Context
from assethost.core.model import Build, BuildEntry
from assethost.functions.egress import SANDBOX_SOCKET, EgressProxy
from assethost.functions.sandbox import (
    HARNESS,
    SANDBOX_HARNESS,
    Limits,
    Mount,
    Sandbox,
    SandboxUnavailable,
    runtime_mounts,
)

log = logging.getLogger("assethost.functions")

MANIFEST = ".assethost-build.json"
# Dependencies the harness stands in for: never installed.
PROVIDED = frozenset({"@twilio/runtime-handler"})
_PYTHON_TYPES = ("python",)
# npm's settings the server's environment may not give it: its way out is the egress proxy.
_NPM_OWN = ("npm_config_proxy", "npm_config_https_proxy", "npm_config_noproxy", "npm_config_userconfig")
_RELAY_PORT = "3128"
REASON_LIMIT = 8000
DEPS_GRACE_S = 3600  # an unused dependency set is kept this long (a build may be about to name it)
# Where npm works inside its sandbox.
_WORK, _CACHE, _USERCONFIG = "/srv/work", "/srv/npm-cache", "/srv/npmrc"
# No process limit: installs run no tenant code (scripts are off), and they all share one UID.
_NPM_LIMITS = Limits(address_space=None, processes=None, open_files=4096, file_size=512 * MiB, cpu_seconds=None,
                     scratch=256 * MiB)
_NPM_HEAP_MB = 1024
# The twilio package of getTwilioClient() for builds that do not install their own.
RUNTIME_TWILIO = "6.3.1"
_RUNTIME_SET = [("twilio", RUNTIME_TWILIO)]
RUNTIME_RETRY_S = 600.0  # after a failed install (no registry), builds are not slowed by another try for this long
_LOG_LINE = re.compile(r"^npm error (A complete log of this run can be found in|Log files were not written).*$\n?",
                       re.MULTILINE)


def language(entry: BuildEntry) -> str:
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
        self.runtime_folder = Path(data_dir).resolve() / "runtime" / f"twilio-{RUNTIME_TWILIO}"
        self.options = options
        self.sandbox = Sandbox(options.bwrap, options.uid_base, options.uid_count)
        # A way out of its own for installs, so that functions holding every tunnel they may (with
        # --function-network public) never starve a build.
        self.egress = EgressProxy("installs")
        self._runtime_lock = threading.Lock()
        self._runtime_retry_at = 0.0

    def folder(self, build_sid: str) -> Path:
        return self.builds_root / build_sid

    def ready(self, build_sid: str) -> bool:
        """Whether the build's folder is there, in this version's layout (a folder written before
        the sandbox named its dependencies by a symlink that leads nowhere inside it)."""
        try:
            return "dependencies" in json.loads((self.folder(build_sid) / MANIFEST).read_text())
        except (OSError, ValueError):
            return False

    def node_modules(self, build_sid: str) -> Path | None:
        """The installed dependencies a ready build uses, if it has any."""
        key = json.loads((self.folder(build_sid) / MANIFEST).read_text()).get("dependencies")
        return self.deps_root / key / "node_modules" if key else None

    def shared_runtime(self) -> Path | None:
        """The folder of the shared twilio install, once complete (mounted at /srv/runtime)."""
        return self.runtime_folder if (self.runtime_folder / ".complete").exists() else None

    def prepare_runtime(self, wait: bool = True) -> None:
        """Install the shared twilio package unless it is there (or failed less than
        RUNTIME_RETRY_S ago). A failure is logged, never a build's failure: functions run, and
        getTwilioClient() without a twilio of the build's own says it has none. `wait=False`
        installs in a thread of its own, for a caller on the way to a function call."""
        if self.shared_runtime() is not None or time.monotonic() < self._runtime_retry_at:
            return
        if not wait:
            if not self._runtime_lock.locked():
                threading.Thread(target=self.prepare_runtime, name="assethost-runtime-install", daemon=True).start()
            return
        with self._runtime_lock:
            if self.shared_runtime() is not None or time.monotonic() < self._runtime_retry_at:
                return  # installed, or failed, by another thread meanwhile
            key = hashlib.sha256(json.dumps(["runtime", _RUNTIME_SET]).encode()).hexdigest()
            self.runtime_folder.parent.mkdir(parents=True, exist_ok=True)
            # No retries: a build waits for this install, and without a registry npm's retries would
            # hold it for over a minute; the next build tries again.
            failure = self._install_set(_RUNTIME_SET, self.runtime_folder, key, ["--fetch-retries=0"])
            if failure:
                self._runtime_retry_at = time.monotonic() + RUNTIME_RETRY_S
                log.error("functions: could not install twilio %s for getTwilioClient() (tried again by a build "
                          "in %d minutes): %s", RUNTIME_TWILIO, RUNTIME_RETRY_S // 60, failure)
            else:
                log.info("functions: twilio %s installed for getTwilioClient()", RUNTIME_TWILIO)

    def __call__(self, ctx: Context, build: Build, entries: list[BuildEntry]) -> str | None:
        if not any(e.kind == "function" for e in entries):
            return None  # nothing could read private assets without a function
        if self.ready(build.sid):
            return None
        problem = self.sandbox.problem()
        if problem:
            return f"functions cannot run on this server: {problem}"
        try:
            deps = json.loads(build.dependencies or "[]")
            key, failure = self.install(deps)
            if failure:
                return failure
            twilio = any(d.get("name") == "twilio" for d in deps)
            if not twilio and any(e.kind == "function" and language(e) == "node" for e in entries):
                self.prepare_runtime()
            self.write(ctx, build.sid, entries, key, twilio)
        except OSError:
            log.exception("build %s: could not write its folder", build.sid)
            return "could not prepare the build's folder (see the server log)"
        return None

    def sweep(self, ctx: Context) -> int:
        """Remove the folders of builds that no longer exist (deleted builds, deleted services),
        then the dependency sets no remaining folder uses. A folder can always be written again
        (`ensure`), so removing one is never a loss. Returns the build folders removed."""
        if not self.builds_root.is_dir():
            return 0
        folders = {p.name: p for p in self.builds_root.iterdir() if p.is_dir() and sids.is_sid(p.name, sids.BUILD)}
        gone = []
        if folders:
            existing = live.existing_builds(ctx.meta, sorted(folders))
            gone = [p for name, p in folders.items() if name not in existing]
            for path in gone:
                shutil.rmtree(path, ignore_errors=True)
        self._sweep_dependencies({n for n, p in folders.items() if p not in gone})
        return len(gone)

    def _sweep_dependencies(self, builds: set[str]) -> None:
        """Dependency sets (and interrupted installs) used by no build folder, once they are old
        enough that no build being written can be about to name them."""
        if not self.deps_root.is_dir():
            return
        used = set()
        for sid in builds:
            try:
                used.add(json.loads((self.folder(sid) / MANIFEST).read_text()).get("dependencies"))
            except (OSError, ValueError):
                continue
        cutoff = time.time() - DEPS_GRACE_S
        for path in self.deps_root.iterdir():
            name = path.name.removeprefix(".tmp-").split("-")[0]
            if len(name) != 64 or name in used or path.name.endswith(".lock"):
                continue
            try:
                if path.stat().st_mtime < cutoff:
                    shutil.rmtree(path, ignore_errors=True)
            except FileNotFoundError:
                continue

    def ensure(self, ctx: Context, build_sid: str) -> bool:
        """Write the folder of a completed build that has none yet (e.g. built before this
        server had functions, or on another node). True when the folder is there."""
        if self.ready(build_sid):
            self.prepare_runtime(wait=False)  # a folder written before this server shared twilio
            return True
        found = live.build(ctx.meta, build_sid)
        if found is None:
            return False
        reason = self(ctx, *found)
        if reason:
            log.error("build %s cannot run its functions: %s", build_sid, reason)
        return self.ready(build_sid)

    # -- the folder ------------------------------------------------------------------------------

    def write(self, ctx: Context, build_sid: str, entries: list[BuildEntry], dependencies: str | None,
              twilio_dependency: bool) -> None:
        self.builds_root.mkdir(parents=True, exist_ok=True)
        work = self.builds_root / f".tmp-{build_sid}-{secrets.token_hex(4)}"
        work.mkdir()
        try:
            manifest: dict[str, Any] = {"build_sid": build_sid, "functions": {}, "assets": {},
                                        "dependencies": dependencies, "twilio_dependency": twilio_dependency}
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
            (work / MANIFEST).write_text(json.dumps(manifest, indent=1))
            _readable(work)
            folder = self.folder(build_sid)
            if folder.exists() and not self.ready(build_sid):
                # A folder of an older layout: moved aside, then replaced (it can always be rewritten).
                stale = self.builds_root / f".stale-{build_sid}-{secrets.token_hex(4)}"
                with contextlib.suppress(FileNotFoundError):
                    os.rename(folder, stale)
                    shutil.rmtree(stale, ignore_errors=True)
            try:
                os.rename(work, folder)
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
        try:
            os.link(ctx.blobs.local_path(blob_hash), dest)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                raise
            shutil.copyfile(ctx.blobs.local_path(blob_hash), dest)
        os.chmod(dest, 0o444)

    # -- npm -------------------------------------------------------------------------------------

    def install(self, deps: list[dict[str, str]]) -> tuple[str | None, str | None]:
        """Install the dependencies (less those the harness provides) once per distinct set.
        Returns (the set's key, None), (None, None) when there is nothing to install, or
        (None, failure reason with npm's output)."""
        wanted = sorted({(d["name"], d.get("version") or "*") for d in deps if d.get("name") not in PROVIDED})
        if not wanted:
            return None, None
        key = hashlib.sha256(json.dumps(wanted).encode()).hexdigest()
        failure = self._install_set(wanted, self.deps_root / key, key)
        return (None, failure) if failure else (key, None)

    def _install_set(self, wanted: list[tuple[str, str]], target: Path, key: str,
                     npm_args: list[str] | None = None) -> str | None:
        """npm-install `wanted` into `target` (on the data folder's file system) unless it is
        complete there; `key` names its lock and work folder under deps/, `npm_args` are added to
        npm's. A failure reason, or None."""
        if (target / ".complete").exists():
            os.utime(target)  # in use again: `sweep` leaves it alone for a while
            return None
        self.deps_root.mkdir(parents=True, exist_ok=True)
        with open(self.deps_root / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one install per set at a time, across processes
            if (target / ".complete").exists():
                return None
            work = self.deps_root / f".tmp-{key}-{secrets.token_hex(4)}"
            work.mkdir()
            try:
                (work / "package.json").write_text(json.dumps(
                    {"name": "assethost-build-deps", "version": "1.0.0", "private": True,
                     "dependencies": dict(wanted)}, indent=1))
                failure = self._npm(work, npm_args or [])
                if failure:
                    return failure
                (work / "node_modules").mkdir(exist_ok=True)
                (work / ".complete").write_text("")
                _readable(work)
                if target.exists():
                    shutil.rmtree(target)
                os.rename(work, target)
            finally:
                if work.exists():
                    shutil.rmtree(work, ignore_errors=True)
        return None

    def _npm(self, folder: Path, extra: list[str]) -> str | None:
        node, npm = shutil.which(self.options.node), shutil.which(self.options.npm)
        if node is None or npm is None:
            return "npm install could not start: Node.js and npm are not installed on this server"
        cache = Path(self.options.npm_cache or self.deps_root / ".npm-cache").resolve()
        cache.mkdir(parents=True, exist_ok=True)
        npm_cli = os.path.realpath(npm)  # run with node directly: the sandbox has no /usr/bin/env
        try:
            proxy = self.egress.socket_path()
        except OSError as exc:
            log.exception("cannot start the egress proxy")
            return f"npm install could not start: no egress proxy ({exc.strerror})"
        mounts = [*runtime_mounts(node), *runtime_mounts(npm_cli), Mount(HARNESS, SANDBOX_HARNESS),
                  Mount(proxy, SANDBOX_SOCKET), Mount(folder, _WORK, writable=True), Mount(cache, _CACHE, writable=True)]
        # npm has no network of its own: the relay gives it the egress proxy, which reaches only
        # public addresses, whatever a package's own dependencies name.
        args = [node, f"{SANDBOX_HARNESS}/relay.js", SANDBOX_SOCKET, _RELAY_PORT,
                f"--max-old-space-size={_NPM_HEAP_MB}", npm_cli, "install", "--no-audit", "--no-fund",
                "--no-update-notifier", "--omit=dev", "--ignore-scripts", "--prefer-offline", "--loglevel=error",
                "--cache", _CACHE, *extra]
        globalconfig = Path(os.path.realpath(node)).parent.parent / "etc" / "npmrc"
        if globalconfig.is_file():
            mounts.append(Mount(globalconfig, str(globalconfig)))
        userconfig = Path(os.environ.get("npm_config_userconfig") or Path.home() / ".npmrc")
        if userconfig.is_file():
            mounts.append(Mount(userconfig, _USERCONFIG))
            args += ["--userconfig", _USERCONFIG]
        env = {k: v for k, v in os.environ.items() if k.lower().startswith("npm_config_") and k.lower() not in _NPM_OWN}
        relay = f"http://127.0.0.1:{_RELAY_PORT}"
        env.update(PATH="/usr/bin:/bin", HOME=_WORK, LANG="C.UTF-8", npm_config_proxy=relay,
                   npm_config_https_proxy=relay, npm_config_noproxy="")
        try:
            launch = self.sandbox.launch(args, mounts, env, _WORK, _NPM_LIMITS, uid=self.sandbox.installer_uid)
        except (OSError, SandboxUnavailable) as exc:
            return f"npm install could not start: {exc}"
        try:
            if launch.user is not None:
                _own(folder, launch.user)
                _own(cache, launch.user, only_if_needed=True)
            proc = subprocess.Popen(launch.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, env={}, start_new_session=True)
            try:
                output, _ = proc.communicate(timeout=self.options.npm_timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                output, _ = proc.communicate()
                return _reason(f"npm install timed out after {self.options.npm_timeout:g} s", output)
        except OSError as exc:
            return f"npm install could not start: {exc}"
        finally:
            launch.release()
        if proc.returncode != 0:
            return _reason(f"npm install failed (exit code {proc.returncode})", output)
        return None


def _readable(folder: Path) -> None:
    """Folders 0755 and files 0444, whatever the server's umask: sandboxes run as other UIDs."""
    os.chmod(folder, 0o755)
    for root, dirs, files in os.walk(folder):
        for name, mode in (*((d, 0o755) for d in dirs), *((f, 0o444) for f in files)):
            path = os.path.join(root, name)
            if not os.path.islink(path):  # chmod would follow it, wherever the installer pointed it
                os.chmod(path, mode)


def _own(folder: Path, uid: int, only_if_needed: bool = False) -> None:
    """Give a folder npm writes to the installer's UID (a server run as root installs as that UID)."""
    if only_if_needed and folder.stat().st_uid == uid:
        return
    os.chown(folder, uid, uid)
    for root, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            os.lchown(os.path.join(root, name), uid, uid)


def _reason(title: str, output: bytes) -> str:
    text = _LOG_LINE.sub("", output.decode("utf-8", "replace")).strip()
    if len(text) > REASON_LIMIT:
        text = "…" + text[-REASON_LIMIT:]
    return f"{title}:\n{text}" if text else title
