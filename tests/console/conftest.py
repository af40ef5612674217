"""Fixtures for the console suite: Chromium (Debian's package) driven by Playwright against real
`assethost serve` subprocesses on SQLite (the console only talks to core through the server, and
the API suites cover PostgreSQL)."""

from __future__ import annotations

import pytest
from consolekit import CHROMIUM_ARGS, VIEWPORT, ensure_chromium, start_server
from playwright.sync_api import sync_playwright

# The same small limits as the API suite's limited server.
LIMIT_ARGS = ["--max-public-bytes", "1000", "--max-private-bytes", "500", "--max-public-versions", "3",
              "--max-private-versions", "2"]


@pytest.fixture(scope="session")
def console_server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("console-server"))
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def limited_console_server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("console-limited"), *LIMIT_ARGS)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def browser():
    try:
        executable = ensure_chromium()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def context(browser, console_server):
    ctx = browser.new_context(viewport=VIEWPORT, base_url=console_server.base_url)
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=console_server.base_url)
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    p = context.new_page()
    p.on("dialog", lambda d: d.accept())  # confirmations ("Delete …?") are accepted
    yield p
    p.close()
