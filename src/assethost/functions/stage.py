"""Starts one sandbox for a server running as root (see sandbox.py): run as
`python -I -S stage.py '<json spec>'`, it joins the sandbox's cgroups (cgroups.py) after writing
their limits, enters a private mount namespace, mounts a tmpfs at STAGE and binds each mount
source at STAGE/<n> (so that an unprivileged UID can reach them whatever the modes of their
parent folders), drops to the spec's UID and executes its argv.

Standalone on purpose: it runs before any of assethost's imports could, with only the standard
library, and its mounts vanish with the namespace when the sandbox ends.
"""

import ctypes
import json
import os
import sys

STAGE = "/run/assethost/stage"
CLONE_NEWNS = 0x00020000
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 0x40000


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        sys.stderr.write(f"assethost sandbox: {what} failed: {os.strerror(errno)}\n")
        os._exit(126)


def _join_cgroup(folder: str, files: list[tuple[str, str, bool]]) -> None:
    """Write the limits, then move this process in: everything it starts is counted there."""
    os.makedirs(folder, exist_ok=True)
    pending = [(name, value) for name, value, required in files if required or os.path.exists(f"{folder}/{name}")]
    for _ in range(2):  # v1 refuses a memory limit above the swap one, or under it: retry the other order
        failed = []
        for name, value in pending:
            try:
                with open(f"{folder}/{name}", "w") as f:
                    f.write(value)
            except OSError:
                failed.append((name, value))
        pending = failed
    if pending:
        sys.stderr.write(f"assethost sandbox: could not set {pending[0][0]} in {folder}\n")
        os._exit(126)
    with open(f"{folder}/cgroup.procs", "w") as f:
        f.write(str(os.getpid()))


def main() -> None:
    spec = json.loads(sys.argv[1])
    for folder, files in spec.get("cgroups", []):
        _join_cgroup(folder, files)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "making mounts private")
    _check(libc.mount(b"tmpfs", STAGE.encode(), b"tmpfs", 0, b"mode=0755,size=64k"), f"mounting {STAGE}")
    for n, (source, is_file) in enumerate(zip(spec["sources"], spec["files"], strict=True)):
        target = f"{STAGE}/{n}"
        if is_file:
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
        else:
            os.mkdir(target, 0o755)
        _check(libc.mount(source.encode(), target.encode(), None, MS_BIND | MS_REC, None), f"binding {source}")
    uid = spec["uid"]
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    argv = spec["argv"]
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
