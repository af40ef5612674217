"""Helpers for the console suite: servers on SQLite (tests/conftest.py's ServerProcess), Debian's
Chromium driven by Playwright, sign-in, and fetching runtime URLs by Host header."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from axe_playwright_python.sync_playwright import Axe
from servers import start_sqlite_server as start_server  # noqa: F401  (used by the console suite)

REPO = Path(__file__).resolve().parents[2]

SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def ensure_chromium() -> str:
    """Debian's chromium package; installed here when missing (CI runs as root with apt)."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    apt = shutil.which("apt-get")
    if apt is None:
        raise RuntimeError(f"{CHROMIUM} is missing and apt-get is not available to install it")
    install = [apt, "install", "-y", "--no-install-recommends", "chromium"]
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    if subprocess.run(install, check=False, env=env, capture_output=True).returncode != 0:
        subprocess.run([apt, "update"], env=env, capture_output=True, check=False)
        res = subprocess.run(install, check=False, env=env, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"apt-get install chromium failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    return CHROMIUM


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def sign_in(page: Any, server: Any, username: str | None = None, password: str | None = None) -> None:
    page.goto(server.base_url + "/console")
    page.fill("#username", username or server.account_sid)
    page.fill("#password", password or server.auth_token)
    page.click("button:has-text('Sign in')")
    page.wait_for_url("**/console/services")


def runtime_get(url: str, **kwargs: Any) -> httpx.Response:
    """GET a runtime URL (`http://{env domain}:{port}/path`) from the server on 127.0.0.1: the
    name need not resolve here, the Host header carries it, as a DNS wildcard would. The query
    (a share link's) is sent as it is."""
    parts = urlsplit(url)
    target = f"{parts.scheme}://127.0.0.1:{parts.port}{parts.path}" + (f"?{parts.query}" if parts.query else "")
    with httpx.Client(trust_env=False, timeout=10) as c:
        return c.get(target, headers={"Host": parts.netloc}, **kwargs)


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


_AXE = Axe()


def axe_violations(page: Any) -> list[str]:
    """axe-core's WCAG A and AA findings on the page as it is now, one line each (rule, impact,
    the first element): an empty list when it passes."""
    results = _AXE.run(page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21aa",
                                                                            "wcag22aa", "best-practice"]},
                                      "resultTypes": ["violations"]})
    return [f"{v['id']} ({v['impact']}): {v['nodes'][0]['target']}" for v in results.response["violations"]]
