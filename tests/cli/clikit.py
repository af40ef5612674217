"""Helpers for the CLI and toolkit suites: one assethost server on SQLite, the `assethost` command
run as a subprocess against it, and requests to the edge by Host header."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from servers import start_sqlite_server

REPO = Path(__file__).resolve().parents[2]


def start_server(workdir: Path, *extra_args: str) -> Any:
    """A started `python -m assethost serve` on SQLite (tests/servers.py)."""
    return start_sqlite_server(workdir, *extra_args)


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def ok(self) -> Result:
        assert self.returncode == 0, f"assethost {' '.join(self.args)} exited {self.returncode}:\n{self.stdout}\n{self.stderr}"
        return self


def cli_env(server: Any, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("TWILIO_API_KEY", "TWILIO_API_SECRET", "TWILIO_REGION", "TWILIO_EDGE"):
        env.pop(key, None)
    env.update(
        TWILIO_ACCOUNT_SID=server.account_sid, TWILIO_AUTH_TOKEN=server.auth_token,
        ASSETHOST_API_URL=server.base_url, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
        PYTHONPATH=str(REPO / "src") + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
    )
    env.update(extra)
    return env


def run_cli(server: Any, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> Result:
    proc = subprocess.run(
        [sys.executable, "-m", "assethost", *args], cwd=cwd, env=env or cli_env(server),
        capture_output=True, text=True, timeout=timeout, check=False,
    )
    return Result(list(args), proc.returncode, proc.stdout, proc.stderr)


def edge_get(server: Any, domain: str, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """GET path from the environment at `domain` (connects to 127.0.0.1 with a Host header)."""
    with httpx.Client(trust_env=False, timeout=30) as http:
        return http.get(f"{server.base_url}{path}", headers={"Host": f"{domain}:{server.port}", **(headers or {})})


def edge_url(server: Any, domain: str, path: str) -> str:
    return f"http://{domain}:{server.port}{path}"


def write_files(root: Path, files: dict[str, bytes | str]) -> None:
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        target.write_bytes(content)


def toolkit_env(server, preload_path: Path) -> dict[str, str]:
    """The environment for running Twilio's toolkit against `server` through the preload."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    env.update(
        NODE_OPTIONS=f"--require {preload_path}", ASSETHOST_API_URL=server.base_url,
        NO_UPDATE_NOTIFIER="1", NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", FORCE_COLOR="0",
    )
    return env
