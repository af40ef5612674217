"""The web console in a real browser (Debian's Chromium through Playwright) against a running
server: sign-in, services, the Assets pane (upload by dialog and by drag and drop, grey marks,
Deploy All, green marks, Copy URL, visibility, delete), Assets (Legacy), usage, limits, CSRF."""

from __future__ import annotations

import os
import re

import httpx
import pytest
from consolekit import VIEWPORT, runtime_get, screenshot, sign_in, uniq
from playwright.sync_api import expect

PUBLIC_BYTES = b"hello from a public asset\n"
PROTECTED_BYTES = b'{"secret": "protected"}\n'
PRIVATE_BYTES = b"private config\n"
DROPPED_BYTES = b"dropped onto the window\n"


def _file(name: str, data: bytes, mime: str = "text/plain") -> dict:
    return {"name": name, "mimeType": mime, "buffer": data}


def _row(page, path: str):
    return page.locator(f"#assets tr[data-path='{path}']")


def _drop(page, name: str, data: bytes) -> None:
    """A synthetic drop of one file onto the window, with a DataTransfer built in the page."""
    page.evaluate(
        """([name, text]) => {
            const dt = new DataTransfer();
            dt.items.add(new File([text], name, {type: "text/plain"}));
            document.body.dispatchEvent(new DragEvent("dragenter", {dataTransfer: dt, bubbles: true}));
            document.body.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
        }""",
        [name, data.decode()],
    )


def _create_service(page, unique: str, friendly: str) -> None:
    page.goto("/console/services")
    page.fill("#unique_name", unique)
    page.fill("#friendly_name", friendly)
    page.click("button:has-text('Create service')")
    expect(page.locator("h1")).to_contain_text(friendly)


def _create_environment(page, name: str) -> None:
    page.select_option("#env-name", name)
    page.click("button:has-text('Create environment')")
    expect(page.locator(f".env-tab[data-env='{name}']")).to_have_attribute("aria-current", "true")


def _open_menu(page, path: str) -> None:
    """The row's actions menu (⋯)."""
    _row(page, path).locator(".asset-menu summary").click()


def _open_visibility(page, path: str) -> None:
    """The row's visibility menu (its badge)."""
    _row(page, path).locator(".vis-menu summary").click()


def test_sign_in_is_required_and_the_cookie_is_httponly(page, context, console_server):
    with httpx.Client(trust_env=False, base_url=console_server.base_url) as http:
        resp = http.get("/console/services")
        assert resp.status_code == 303 and resp.headers["location"].startswith("/console/signin")
    page.goto("/console")
    expect(page).to_have_url(re.compile(r"/console/signin"))
    screenshot(page, "signin")

    page.fill("#username", console_server.account_sid)
    page.fill("#password", "not-the-token")
    page.click("button:has-text('Sign in')")
    expect(page.locator(".flash-error")).to_contain_text("not accepted")

    # The keyboard alone signs in: type, Tab, type, Enter.
    page.fill("#username", "")
    page.focus("#username")
    page.keyboard.type(console_server.account_sid)
    page.keyboard.press("Tab")
    page.keyboard.type(console_server.auth_token)
    page.keyboard.press("Enter")
    page.wait_for_url("**/console/services")
    expect(page.locator(".who code")).to_have_text(console_server.account_sid)

    cookies = [c for c in context.cookies() if c["name"] == "assethost_console"]
    assert len(cookies) == 1
    assert cookies[0]["httpOnly"] is True
    assert cookies[0]["sameSite"] == "Lax"
    assert cookies[0]["path"] == "/console"
    assert page.evaluate("document.cookie") == ""  # invisible to scripts


def test_api_key_signs_in(page, console_server):
    key_sid, secret = console_server.create_key()
    sign_in(page, console_server, key_sid, secret)
    expect(page.locator(".who code")).to_have_text(console_server.account_sid)


def test_assets_pane_upload_deploy_copy_visibility_delete(page, context, console_server):
    sign_in(page, console_server)
    unique = uniq("greetings")
    _create_service(page, unique, "Greetings")
    page.goto("/console/services")
    expect(page.locator(f"#services tr[data-unique-name='{unique}']")).to_be_visible()
    screenshot(page, "services")
    page.click(f"#services tr[data-unique-name='{unique}'] a")
    expect(page.locator(".empty").first).to_contain_text("No environment yet")
    _create_environment(page, "dev")
    dev_domain = page.locator(".env-tab[data-env='dev'] .domain").inner_text()
    assert re.fullmatch(rf"http://{unique}-\d{{4}}-dev\.localhost:{console_server.port}", dev_domain), dev_domain

    # Add+ -> Upload File: three files by the file dialog, each with its own visibility.
    page.click("#add-menu summary")
    with page.expect_file_chooser() as chooser:
        page.click("#upload-file")
    chooser.value.set_files([_file("hello world.txt", PUBLIC_BYTES), _file("config.json", PROTECTED_BYTES,
                                                                          "application/json")])
    dialog = page.locator("#upload-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".pending-file")).to_have_count(2)
    # More files can be added, and one removed again.
    page.click("#add-more")
    page.set_input_files("#file-input", [_file("secret.txt", PRIVATE_BYTES), _file("oops.txt", b"no")])
    expect(dialog.locator(".pending-file")).to_have_count(4)
    dialog.locator(".pending-file[data-path='/oops.txt'] .pf-remove").click()
    expect(dialog.locator(".pending-file")).to_have_count(3)
    expect(dialog.locator(".pending-file[data-path='/hello-world.txt']")).to_be_visible()  # spaces become "-"
    dialog.locator(".pending-file[data-path='/config.json'] select").select_option("protected")
    dialog.locator(".pending-file[data-path='/secret.txt'] select").select_option("private")
    screenshot(page, "upload-dialog")
    page.click("#upload-start")
    page.wait_for_load_state("load")
    expect(page.locator("#assets tbody tr")).to_have_count(3)

    # A fourth by dragging it onto the window.
    _drop(page, "dropped.txt", DROPPED_BYTES)
    expect(dialog).to_be_visible()
    dialog.locator(".pending-file[data-path='/dropped.txt'] select").select_option("protected")
    page.click("#upload-start")
    expect(page.locator("#assets tbody tr")).to_have_count(4)

    expected = {"/hello-world.txt": "public", "/config.json": "protected", "/secret.txt": "private",
                "/dropped.txt": "protected"}
    for path, visibility in expected.items():
        row = _row(page, path)
        expect(row).to_have_attribute("data-visibility", visibility)
        expect(row).to_have_attribute("data-status", "pending")
        expect(row.locator(".mark-pending")).to_be_visible()

    # Deploy All: every mark turns green.
    page.click("#deploy-all")
    expect(page.locator(".flash-success")).to_contain_text("Deployed build ZB")
    for path in expected:
        expect(_row(page, path)).to_have_attribute("data-status", "live")
        expect(_row(page, path).locator(".mark-live")).to_be_visible()
    expect(page.locator(".env-tab[data-env='dev'] .build code")).to_have_text(re.compile(r"ZB[0-9a-f]{32}"))

    # Copy URL of the public asset: copied to the clipboard and shown; it serves the bytes.
    _open_menu(page, "/hello-world.txt")
    _row(page, "/hello-world.txt").locator("button.copy-url").click()
    url = f"{dev_domain}/hello-world.txt"
    expect(page.locator("#copied-url")).to_have_value(url)
    expect(page.locator("#copied .copied-note")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == url
    resp = runtime_get(url)
    assert resp.status_code == 200 and resp.content == PUBLIC_BYTES

    # Protected: a URL too, but 403 without a Twilio signature.
    _open_menu(page, "/config.json")
    _row(page, "/config.json").locator("button.copy-url").click()
    protected_url = f"{dev_domain}/config.json"
    expect(page.locator("#copied-url")).to_have_value(protected_url)
    assert runtime_get(protected_url).status_code == 403
    _open_menu(page, "/config.json")
    screenshot(page, "asset-menu")
    page.keyboard.press("Escape")
    _open_visibility(page, "/config.json")
    screenshot(page, "visibility-menu")
    page.keyboard.press("Escape")

    # Private: no URL at all.
    _open_menu(page, "/secret.txt")
    expect(_row(page, "/secret.txt").locator("button.copy-url")).to_have_count(0)
    expect(_row(page, "/secret.txt").locator("[role=menuitem]:has-text('Copy URL')")).to_be_disabled()
    page.keyboard.press("Escape")

    # Change a visibility with the keyboard only: Tab to the row's visibility menu, Enter opens it
    # (focus moves to the first choice, "Protected"), ArrowDown to "Private", Enter.
    page.locator("#copied-url").focus()
    summary = _row(page, "/hello-world.txt").locator(".vis-menu summary")
    for _ in range(30):
        if summary.evaluate("el => el === document.activeElement"):
            break
        page.keyboard.press("Shift+Tab")
    else:
        pytest.fail("the row's menu button is not reachable with Tab")
    page.keyboard.press("Enter")
    # (the menu's "toggle" event, which moves the focus, comes a moment after the key)
    menu = _row(page, "/hello-world.txt").locator(".menu-items")
    expect(menu.locator("button[data-visibility='protected']")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(menu.locator("button[data-visibility='private']")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(".flash-success")).to_contain_text("/hello-world.txt is now private")
    expect(_row(page, "/hello-world.txt")).to_have_attribute("data-visibility", "private")
    expect(_row(page, "/hello-world.txt")).to_have_attribute("data-status", "pending")
    expect(_row(page, "/config.json")).to_have_attribute("data-status", "live")
    screenshot(page, "assets-pane")
    assert runtime_get(url).status_code == 200  # still the old build until the redeploy

    page.click("#deploy-all")
    expect(page.locator(".flash-success")).to_contain_text("Deployed build")
    expect(_row(page, "/hello-world.txt")).to_have_attribute("data-status", "live")
    assert runtime_get(url).status_code == 404  # private now: never served

    # Delete an asset (with confirmation); the next deploy leaves it out.
    assert runtime_get(f"{dev_domain}/dropped.txt").status_code == 403
    _open_menu(page, "/dropped.txt")
    _row(page, "/dropped.txt").locator("button:has-text('Delete')").click()
    expect(page.locator(".flash-success")).to_contain_text("Deleted /dropped.txt")
    expect(_row(page, "/dropped.txt")).to_have_count(0)
    expect(page.locator("#assets tbody tr")).to_have_count(3)
    page.click("#deploy-all")
    expect(page.locator(".flash-success")).to_contain_text("Deployed build")
    assert runtime_get(f"{dev_domain}/dropped.txt").status_code == 404

    # A second environment starts with every mark grey, and shows its own domain.
    _create_environment(page, "stage")
    expect(page.locator(".env-tab[data-env='stage'] .domain")).to_contain_text(f"{unique}-")
    expect(page.locator(".env-tab[data-env='stage'] .build")).to_have_text("nothing deployed")
    expect(page.locator("#assets tr[data-status='live']")).to_have_count(0)


def test_legacy_page_upload_url_and_delete(page, console_server):
    sign_in(page, console_server)
    page.goto("/console/legacy")
    name = uniq("greeting") + ".txt"
    data = os.urandom(8).hex().encode() + b" legacy file\n"
    page.select_option("#legacy-visibility", "public")
    with page.expect_file_chooser() as chooser:
        page.click("#legacy-add")  # the red round +
    chooser.value.set_files([_file(name, data)])
    row = page.locator(f"#legacy-files tr[data-filename='{name}']")
    expect(row).to_be_visible()
    url = row.locator("a.asset-url").inner_text()
    assert re.fullmatch(rf"http://[a-z]+-[a-z]+-\d{{4}}\.localhost:{console_server.port}/assets/{re.escape(name)}",
                        url), url
    resp = runtime_get(url)
    assert resp.status_code == 200 and resp.content == data  # live at once, no deploy

    # Private by drag and drop: listed, but with no URL.
    page.select_option("#legacy-visibility", "private")
    private_name = uniq("private") + ".txt"
    _drop(page, private_name, b"private legacy\n")
    private_row = page.locator(f"#legacy-files tr[data-filename='{private_name}']")
    expect(private_row).to_have_attribute("data-visibility", "private")
    expect(private_row.locator("a.asset-url")).to_have_count(0)
    expect(private_row).to_contain_text("not served by URL")
    screenshot(page, "legacy")

    # The garbage can, with a confirmation.
    row.locator("button.trash").click()
    expect(page.locator(".flash-success")).to_contain_text(f"Deleted {name}")
    expect(row).to_have_count(0)
    assert runtime_get(url).status_code == 404


def test_legacy_and_serverless_files_are_apart(page, console_server):
    """Files of the legacy page never appear in a service, nor in the Serverless API."""
    sign_in(page, console_server)
    page.goto("/console/legacy")
    name = uniq("apart") + ".txt"
    page.set_input_files("#legacy-input", [_file(name, b"apart\n")])
    expect(page.locator(f"#legacy-files tr[data-filename='{name}']")).to_be_visible()
    with console_server.http_client() as http:
        services = http.get("/v1/Services", params={"PageSize": 1000}).json()["services"]
        assert all(s["unique_name"] != "_legacy" for s in services)
        for s in services:
            assets = http.get(f"/v1/Services/{s['sid']}/Assets", params={"PageSize": 1000}).json()["assets"]
            assert all(name not in a["friendly_name"] for a in assets)


def test_usage_page_counts_requests(page, console_server):
    sign_in(page, console_server)
    page.goto("/console/legacy")
    name = uniq("counted") + ".txt"
    page.set_input_files("#legacy-input", [_file(name, b"count me\n")])
    url = page.locator(f"#legacy-files tr[data-filename='{name}'] a.asset-url").inner_text()
    page.goto("/console/usage")
    before = int(page.locator("#usage-requests").inner_text().replace(",", ""))
    for _ in range(7):
        assert runtime_get(url).status_code == 200
    page.reload()
    after = int(page.locator("#usage-requests").inner_text().replace(",", ""))
    assert after == before + 7
    expect(page.locator("#usage-cost")).to_have_text("$0.0000")  # well inside the 10,000 free requests
    screenshot(page, "usage")


def test_limits_messages_name_the_file(browser, limited_console_server):
    srv = limited_console_server
    ctx = browser.new_context(viewport=VIEWPORT, base_url=srv.base_url)
    ctx.set_default_timeout(10_000)
    page = ctx.new_page()
    page.on("dialog", lambda d: d.accept())
    try:
        sign_in(page, srv)
        _create_service(page, uniq("limits"), "Limits")
        _create_environment(page, "dev")

        # Too large for its visibility: refused in the page before sending, naming the file.
        page.click("#add-menu summary")
        page.click("#upload-file")
        page.set_input_files("#file-input", [_file("big.txt", b"x" * 1200), _file("mid.txt", b"m" * 800)])
        dialog = page.locator("#upload-dialog")
        big = dialog.locator(".pending-file[data-path='/big.txt']")
        expect(big.locator(".pf-error")).to_have_text("File /big.txt is 1200 bytes; public assets may be at most "
                                                      "1000 bytes")
        expect(page.locator("#upload-start")).to_be_disabled()
        dialog.locator(".pending-file[data-path='/mid.txt'] select").select_option("private")
        expect(dialog.locator(".pending-file[data-path='/mid.txt'] .pf-error")).to_contain_text("/mid.txt is 800")
        dialog.locator(".pending-file[data-path='/mid.txt'] select").select_option("public")
        big.locator(".pf-remove").click()
        expect(page.locator("#upload-start")).to_be_enabled()
        page.set_input_files("#file-input", [_file("two.txt", b"2"), _file("three.txt", b"3"), _file("four.txt", b"4")])
        page.click("#upload-start")

        # The server refuses the fourth public file (at most 3 per build) with a message naming it.
        four = dialog.locator(".pending-file[data-path='/four.txt']")
        expect(four.locator(".pf-error")).to_have_text(
            "/four.txt cannot be added: A build may hold at most 3 public asset versions; this one has 4")
        expect(dialog.locator(".pending-file.done")).to_have_count(3)
        page.click("#upload-cancel")
        expect(page.locator("#assets tbody tr")).to_have_count(3)

        # The server's size rule on a change of visibility (no client-side check there).
        _open_visibility(page, "/mid.txt")
        _row(page, "/mid.txt").locator("button[data-visibility='private']").click()
        expect(page.locator(".flash-error")).to_have_text("File /mid.txt is 800 bytes; private assets may be at "
                                                          "most 500 bytes")
        expect(_row(page, "/mid.txt")).to_have_attribute("data-visibility", "public")

        # The server's own size check, reached by a request that skips the page's check.
        page.goto("/console/legacy")
        status, message = page.evaluate(
            """async () => {
                const form = new FormData();
                form.append("Path", "huge.txt");
                form.append("Visibility", "public");
                form.append("Content", new File(["y".repeat(1500)], "huge.txt"));
                const csrf = document.querySelector('meta[name="csrf-token"]').content;
                const r = await fetch("/console/legacy/upload", {method: "POST", body: form,
                    headers: {"X-CSRF-Token": csrf, "X-Requested-With": "assethost-console"}});
                return [r.status, (await r.json()).message];
            }"""
        )
        assert status == 413
        assert "huge.txt" in message and "1000" in message, message

        # And in the legacy page: the client-side message, naming the file.
        page.set_input_files("#legacy-input", [_file("toolarge.mp3", b"z" * 1001, "audio/mpeg")])
        expect(page.locator("#legacy-progress .pending-file[data-filename='toolarge.mp3'] .pf-error")).to_have_text(
            "File toolarge.mp3 is 1001 bytes; public assets may be at most 1000 bytes")
    finally:
        ctx.close()


def test_csrf_is_required_and_sign_out_ends_the_session(page, context, console_server):
    sign_in(page, console_server)
    unique = uniq("csrf")
    # Same cookies, no token: refused, and nothing is created.
    resp = context.request.post("/console/services", form={"unique_name": unique, "friendly_name": "x"},
                                max_redirects=0)
    assert resp.status == 403 and "CSRF" in resp.text()
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    resp = context.request.post("/console/services", form={"unique_name": unique, "csrf": "wrong" + token},
                                max_redirects=0)
    assert resp.status == 403
    # The right token from another origin: refused too.
    resp = context.request.post("/console/services", form={"unique_name": unique, "csrf": token},
                                headers={"Origin": "http://evil.example"}, max_redirects=0)
    assert resp.status == 403
    # An upload without the header is refused before its body is read.
    resp = context.request.post("/console/legacy/upload", multipart={"Path": "x.txt", "Visibility": "public",
                                                                     "Content": _file("x.txt", b"x")})
    assert resp.status == 403
    with console_server.http_client() as http:
        names = [s["unique_name"] for s in http.get("/v1/Services", params={"PageSize": 1000}).json()["services"]]
    assert unique not in names
    # With the token it works.
    resp = context.request.post("/console/services", form={"unique_name": unique, "csrf": token}, max_redirects=0)
    assert resp.status == 303

    page.goto("/console/services")
    page.click("button:has-text('Sign out')")
    page.wait_for_url("**/console/signin")
    expect(page.locator(".flash-info")).to_contain_text("signed out")
    page.goto("/console/services")
    expect(page).to_have_url(re.compile(r"/console/signin\?next=/console/services"))


def test_console_is_only_on_the_api_origin(page, console_server):
    """An asset domain never serves the console; the API next to it is unchanged."""
    sign_in(page, console_server)
    _create_service(page, uniq("origin"), "Origin")
    _create_environment(page, "production")
    domain = page.locator(".env-tab[data-env='production'] .domain").inner_text()
    resp = runtime_get(domain + "/console/signin")
    assert resp.status_code == 404 and "set-cookie" not in resp.headers and "Sign in" not in resp.text
    with console_server.http_client() as http:
        assert http.get("/v1/Services").status_code == 200
        missing = http.get("/v1/Nothing")
        assert missing.status_code == 404 and missing.json()["code"] == 20404


def test_unknown_service_is_a_clean_404(page, console_server):
    sign_in(page, console_server)
    resp = page.goto("/console/services/ZS" + "0" * 32)
    assert resp.status == 404
    expect(page.locator("h1")).to_have_text("Not found")
    resp = page.goto("/console/no-such-page")
    assert resp.status == 404
