"""Fixtures for running Twilio's real Serverless Toolkit (twilio-run) against assethost."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clikit import REPO, start_server

TWILIO_RUN_VERSION = "5.0.1"
CACHE = REPO / ".cache" / "toolkit"  # git-ignored
PRELOAD = REPO / "src" / "assethost" / "cli" / "twilio-run-preload.js"
INSTALL_TIMEOUT_S = 600


def _installed_version() -> str | None:
    pkg = CACHE / "node_modules" / "twilio-run" / "package.json"
    try:
        return json.loads(pkg.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


@pytest.fixture(scope="session")
def twilio_run() -> Path:
    """Path of the twilio-run executable, installed with npm into .cache/toolkit/ on first use.
    The install time is printed and kept in .cache/toolkit/install.json."""
    binary = CACHE / "node_modules" / ".bin" / "twilio-run"
    if _installed_version() == TWILIO_RUN_VERSION and binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is required to install twilio-run for the toolkit compatibility test, and is not on PATH")
    CACHE.mkdir(parents=True, exist_ok=True)
    if not (CACHE / "package.json").exists():
        (CACHE / "package.json").write_text('{"name": "assethost-toolkit-cache", "private": true}\n')
    started = time.monotonic()
    proc = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", f"twilio-run@{TWILIO_RUN_VERSION}"],
        cwd=CACHE, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False,
    )
    seconds = time.monotonic() - started
    if proc.returncode != 0 or not binary.exists():
        pytest.fail(f"npm install twilio-run@{TWILIO_RUN_VERSION} failed ({proc.returncode}):\n"
                    f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    (CACHE / "install.json").write_text(json.dumps({"twilio_run": TWILIO_RUN_VERSION, "seconds": round(seconds, 1),
                                                     "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))
    print(f"\nnpm install twilio-run@{TWILIO_RUN_VERSION}: {seconds:.1f} s", file=sys.stderr)
    return binary


@pytest.fixture(scope="session")
def preload() -> Path:
    assert PRELOAD.is_file(), f"the toolkit preload is missing: {PRELOAD}"
    return PRELOAD


@pytest.fixture(scope="session")
def toolkit_server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("toolkit-server"))
    yield srv
    srv.stop()


