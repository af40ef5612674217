"""Memory and process limits for a whole sandbox, with cgroups, where this server may make them.

rlimits (set by `prlimit`) bound each process of a sandbox; a process that forks gets a budget of
its own. A cgroup bounds all of a sandbox's processes together, `/tmp` (a tmpfs, charged to
whoever writes it) included. Only a server running as root makes them: `stage.py`, which starts
every sandbox as root, moves itself into the sandbox's cgroup before it drops to the sandbox's
UID, so everything the sandbox starts is counted there.

Where they go:
- cgroup v1 (the memory and pids hierarchies mounted apart, as on hybrid hosts): a child of the
  server's own cgroup in each, `…/assethost/sandbox-{uid}`.
- cgroup v2: a child of the server's own cgroup, when the memory and pids controllers can be
  enabled for its children (the root cgroup, or a delegated one holding no process itself).
Otherwise there is none, `find()` says why, and the rlimits are the only bound.

A sandbox's cgroup is named by its UID, which is leased to one sandbox at a time: it is made once
and reused, with its limits written again at every start.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("assethost.functions")

ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Cgroups:
    version: int
    memory_base: Path  # the folder in which each sandbox's memory cgroup is made
    pids_base: Path  # the same for processes (the same folder on v2)

    def plan(self, uid: int, memory: int, processes: int) -> list[tuple[str, list[tuple[str, str, bool]]]]:
        """For stage.py: each cgroup folder to make and join, with the files to write first as
        (name, value, required): swap limits exist only where swap is accounted."""
        name = f"sandbox-{uid}"
        if self.version == 2:
            return [(str(self.memory_base / name), [("memory.max", str(memory), True),
                                                    ("memory.swap.max", "0", False),
                                                    ("pids.max", str(processes), True)])]
        return [(str(self.memory_base / name), [("memory.limit_in_bytes", str(memory), True),
                                                ("memory.memsw.limit_in_bytes", str(memory), False)]),
                (str(self.pids_base / name), [("pids.max", str(processes), True)])]


def find() -> tuple[Cgroups | None, str]:
    """The cgroups sandboxes can be put in, or None, with a phrase for the log saying which."""
    own = _own_paths()
    try:
        if (ROOT / "cgroup.controllers").is_file():
            return _v2(ROOT / own.get("", "/").lstrip("/"))
        if (ROOT / "memory" / "memory.limit_in_bytes").is_file() and (ROOT / "pids").is_dir():
            memory = ROOT / "memory" / own.get("memory", "/").lstrip("/") / "assethost"
            pids = ROOT / "pids" / own.get("pids", "/").lstrip("/") / "assethost"
            memory.mkdir(exist_ok=True)
            pids.mkdir(exist_ok=True)
            return Cgroups(1, memory, pids), "cgroup v1 memory and pids per sandbox"
    except OSError as exc:
        return None, f"no cgroups ({exc.strerror})"
    return None, "no cgroups (no memory and pids controllers found)"


def _v2(own: Path) -> tuple[Cgroups | None, str]:
    base = own / "assethost"
    if not {"memory", "pids"} <= set((own / "cgroup.controllers").read_text().split()):
        return None, "no cgroups (this cgroup v2 tree has no memory and pids controllers)"
    try:
        enabled = set((own / "cgroup.subtree_control").read_text().split())
        if not {"memory", "pids"} <= enabled:
            (own / "cgroup.subtree_control").write_text("+memory +pids")
        base.mkdir(exist_ok=True)
        if not {"memory", "pids"} <= set((base / "cgroup.subtree_control").read_text().split()):
            (base / "cgroup.subtree_control").write_text("+memory +pids")
    except OSError as exc:
        # EBUSY: the server's own cgroup holds processes, so it cannot give its children controllers.
        return None, f"no cgroups (cannot enable memory and pids under {own}: {exc.strerror})"
    return Cgroups(2, base, base), "cgroup v2 memory and pids per sandbox"


def _own_paths() -> dict[str, str]:
    """This process's cgroup in each hierarchy, by controller ("" for v2)."""
    paths: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return paths
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths
