"""The OS sandbox every piece of tenant code runs in: function workers and dependency installs.

Made with bubblewrap (`bwrap`, Debian's `bubblewrap` package), the tool Flatpak builds on: each
sandbox gets its own user, PID, IPC, UTS, cgroup, network and mount namespaces, so it cannot see
or signal the server, another sandbox or anything else on the machine, and reaches no host
address (its network namespace holds only a loopback of its own). Its filesystem holds only what
`Mount`s name (the runtime's libraries read-only, the build read-only, its dependencies read-only)
and size-limited tmpfs folders at /tmp and /dev/shm, on a read-only root: there is no path,
symlink or /proc entry that leads out, and nothing else to write to.

When the server runs as root, each sandbox also runs as an unprivileged UID of its own, leased
from `UidPool`; processes of one UID are what RLIMIT_NPROC counts, so a fork bomb stops at its
own limit and never starves another worker. bwrap then runs as that UID, and an unprivileged UID
may not traverse the server's folders (a data folder of mode 0700, a runtime under /root): so
`stage.py` starts it, as root, in a private mount namespace where each mount source is bound
under a world-traversable tmpfs, then drops to the UID. As another user, sandboxes share that
user's UID and the process limit is left to the namespaces (the documentation says so).

Resource limits are rlimits set by util-linux's `prlimit` on the way in (address space, processes,
open files, file size, CPU time, no core dumps), which need no privilege and bound each process;
a server run as root also puts each sandbox in a cgroup of its own (cgroups.py) that bounds the
memory and processes of all its processes together.

If bubblewrap is missing or cannot make namespaces here, `problem()` says so and nothing runs:
tenant code never runs unconfined.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from assethost.functions import cgroups
from assethost.functions.egress import EgressProxy

log = logging.getLogger("assethost.functions")

INSTALL_HINT = "install the bubblewrap package (Debian/Ubuntu: apt-get install bubblewrap) so that bwrap is on PATH"
PROBE_TIMEOUT = 10.0
CPU_GRACE = 30  # CPU seconds between SIGXCPU (a worker retires) and SIGKILL
SHM_BYTES = 1024 * 1024  # /dev/shm, for the POSIX semaphores a runtime may want, not for data
# The host's library folders: a runtime needs them, and they hold nothing of the server's.
_SYSTEM_DIRS = ("/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/libexec", "/usr/share/ca-certificates",
                "/usr/share/zoneinfo", "/etc/ssl", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d")
_TOP_LINKS = ("/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin")
_UID_LOCKS = Path("/run/assethost/sandbox-uids")
STAGE = "/run/assethost/stage"  # mount point of stage.py's tmpfs (root only)
STAGER = Path(__file__).with_name("stage.py")
HARNESS = Path(__file__).with_name("harness")  # our own code that runs inside sandboxes
SANDBOX_HARNESS = "/srv/harness"  # where a sandbox finds it


@dataclass(frozen=True)
class Mount:
    source: Path
    dest: str
    writable: bool = False


@dataclass(frozen=True)
class Limits:
    """What one sandbox may use; None leaves a limit unset."""

    address_space: int | None  # bytes of virtual memory per process
    processes: int | None  # tasks of the sandbox's UID (applied with a UID of its own, and by its cgroup)
    open_files: int
    file_size: int  # largest file a process may write
    cpu_seconds: int | None  # per process; SIGXCPU then, and SIGKILL CPU_GRACE seconds later
    scratch: int  # bytes of the tmpfs at /tmp
    memory: int | None = None  # bytes of memory of all its processes together (its cgroup, if any)


class SandboxUnavailable(Exception):
    """bubblewrap is missing or cannot build a sandbox on this machine; the message says what to do."""


@dataclass
class Launch:
    """One command ready to start in a sandbox, with an empty environment and a session of its own;
    call `release()` once the process has exited, to give its UID back."""

    argv: list[str]
    user: int | None = None  # the UID it runs as, when the server runs as root
    _lease: _Lease | None = None

    def release(self) -> None:
        if self._lease is not None:
            self._lease.release()
            self._lease = None


class Sandbox:
    def __init__(self, bwrap: str, uid_base: int, uid_count: int) -> None:
        self.bwrap = shutil.which(bwrap)
        self.prlimit = shutil.which("prlimit")
        self.as_root = os.geteuid() == 0
        self.uids = UidPool(uid_base, uid_count) if self.as_root else None
        # Dependency installs run no tenant code (scripts are off): one UID of their own serves
        # them all and owns the npm cache they share.
        self.installer_uid = uid_base - 1 if self.as_root else None
        self.egress = EgressProxy("functions")  # their way out, with --function-network public
        self.cgroups, self.cgroup_note = cgroups.find() if self.as_root else (None, "no cgroups (not run as root)")
        self._checked = False
        self._problem: str | None = None
        self._lock = threading.Lock()

    @property
    def checked(self) -> bool:
        """Whether `problem()` is known, and so answers without waiting."""
        return self._checked

    def problem(self) -> str | None:
        """Why no sandbox can be made here (checked once, by making one), or None."""
        with self._lock:
            if not self._checked:
                self._problem = self._probe()
                self._checked = True
                if self._problem:
                    log.error("function sandbox unavailable: %s", self._problem)
            return self._problem

    def _probe(self) -> str | None:
        if self.bwrap is None:
            return f"bubblewrap (bwrap) is not installed; {INSTALL_HINT}"
        if self.prlimit is None:
            return "prlimit is not installed; install util-linux"
        true = shutil.which("true", path="/usr/bin:/bin")
        if true is None:
            return "no /usr/bin/true to check the sandbox with"
        try:
            launch = self.launch([true], [Mount(Path(true), true)], {}, "/",
                                 Limits(None, 16, 64, 1 << 20, 10, 1 << 20))
        except (OSError, SandboxUnavailable) as exc:
            return f"cannot prepare a sandbox: {exc}"
        try:
            proc = subprocess.run(launch.argv, capture_output=True, timeout=PROBE_TIMEOUT, check=False, env={},
                                  start_new_session=True)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bwrap could not start a sandbox: {exc}"
        finally:
            launch.release()
        if proc.returncode != 0:
            detail = proc.stderr.decode("utf-8", "replace").strip()[-500:]
            return f"bwrap could not start a sandbox ({detail or f'exit code {proc.returncode}'})"
        return None

    def launch(self, argv: list[str], mounts: list[Mount], env: dict[str, str], cwd: str, limits: Limits,
               uid: int | None = None) -> Launch:
        """The command line that runs `argv` in a new sandbox holding `mounts` (plus the host's
        libraries), with exactly `env` as its environment. Descriptors the spawner passes on
        (pass_fds) reach the sandboxed process under the same numbers. As root, it runs as `uid`,
        or else as a UID leased for it alone."""
        if self.bwrap is None or self.prlimit is None:
            raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed; {INSTALL_HINT}")
        lease = self.uids.lease() if self.uids is not None and uid is None else None
        if lease is not None:
            uid = lease.uid
        elif not self.as_root:
            uid = None
        try:
            system = [Mount(Path(p), p) for p in (*_TOP_LINKS, *_SYSTEM_DIRS)
                      if os.path.exists(p) and not os.path.islink(p)]
            every = [*system, *mounts]
            # As root, stage.py binds each source at STAGE/<n> first (see the module docstring).
            sources = [f"{STAGE}/{n}" if uid is not None else str(m.source) for n, m in enumerate(every)]
            args = [self.bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
                    "--new-session", "--hostname", "sandbox", "--cap-drop", "ALL", "--clearenv"]
            for name, value in env.items():
                args += ["--setenv", name, value]
            args += ["--proc", "/proc", "--dev", "/dev", "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm",
                     "--size", str(limits.scratch), "--tmpfs", "/tmp"]
            for link in _TOP_LINKS:
                if os.path.islink(link):
                    args += ["--symlink", os.readlink(link), link]
            for mount, source in zip(every, sources, strict=True):
                args += ["--bind" if mount.writable else "--ro-bind", source, mount.dest]
            # The root and /dev are tmpfs folders bwrap made, as large as the host's memory allows:
            # read-only once every mount point is in place, so /tmp and /dev/shm are all that is written.
            args += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", cwd, "--", *argv]
            rlimits = [f"--nofile={limits.open_files}", f"--fsize={limits.file_size}", "--core=0"]
            if limits.address_space is not None:
                rlimits.append(f"--as={limits.address_space}")
            if limits.cpu_seconds is not None:
                rlimits.append(f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + CPU_GRACE}")
            command = [self.prlimit, *rlimits]
            if uid is None:
                return Launch([*command, "--", *args])
            if limits.processes is not None:
                command.append(f"--nproc={limits.processes}")
            os.makedirs(STAGE, mode=0o755, exist_ok=True)
            spec: dict[str, object] = {"uid": uid, "sources": [str(m.source) for m in every],
                                       "files": [not m.source.is_dir() for m in every],
                                       "argv": [*command, "--", *args]}
            if self.cgroups is not None and limits.memory is not None and limits.processes is not None:
                spec["cgroups"] = self.cgroups.plan(uid, limits.memory, limits.processes)
            return Launch([sys.executable, "-I", "-S", str(STAGER), json.dumps(spec)], uid, lease)
        except BaseException:
            if lease is not None:
                lease.release()
            raise


def runtime_mounts(executable: str, *prefixes: str) -> list[Mount]:
    """What running `executable` needs beyond the host's libraries: the folders it was installed
    into when outside /usr (pyenv, nvm, a virtual environment: `prefixes` and the executable's
    own), else the file itself."""
    real = os.path.realpath(executable)
    folders = {p for p in prefixes if p}
    if not real.startswith(("/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/")):
        folders.add(os.path.dirname(os.path.dirname(real)))
    folders = {f for f in folders if f not in ("/", "/usr") and not f.startswith(("/usr/lib", "/usr/share"))}
    mounts = [Mount(Path(f), f) for f in sorted(folders)]
    if not any(real.startswith(f.rstrip("/") + "/") for f in folders):
        mounts.append(Mount(Path(real), real))
    return mounts


class UidPool:
    """Unprivileged UIDs for sandboxes, one per running sandbox. A UID is held by an exclusive
    lock on its own file, so that every server process on this machine (workers, other servers)
    hands out different ones, and a crashed process gives its UIDs back with its descriptors."""

    def __init__(self, base: int, count: int, lock_dir: Path = _UID_LOCKS) -> None:
        self.base = base
        self.count = count
        self.lock_dir = lock_dir

    def lease(self) -> _Lease:
        """The lowest free UID (so that few lock files ever exist)."""
        self.lock_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for i in range(self.count):
            uid = self.base + i
            fd = os.open(self.lock_dir / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return _Lease(uid, fd)
        raise SandboxUnavailable(f"all {self.count} sandbox UIDs from {self.base} are in use")


@dataclass
class _Lease:
    uid: int
    fd: int

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
