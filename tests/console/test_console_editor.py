"""The console's editor in Chromium, at desktop and phone sizes: Add+ → New Asset, edit and save a
text asset in CodeMirror (and in the plain textarea without JavaScript), deploy it and fetch the
new bytes from the edge; rename to `/` and `/assets/index.html` and fetch the root URL; an image
previewed; an mp3 played (its duration read); functions listed and opened; Copy URL below the
content; the logs pane following a function's live log lines. axe-core checks each page."""

from __future__ import annotations

import shutil
import struct
import subprocess
import time
import zlib

import pytest
from consolekit import PHONE, VIEWPORT, axe_violations, runtime_get, screenshot, sign_in, uniq
from helpers import upload_function_version
from playwright.sync_api import expect

SIZES = {"desktop": VIEWPORT, "phone": PHONE}
LOG_WAIT_MS = 20_000  # the function runs, its lines are stored, the pane polls every 3 s


def _new_context(browser, server, size: str, javascript: bool = True):
    ctx = browser.new_context(viewport=SIZES[size], base_url=server.base_url, java_script_enabled=javascript)
    ctx.set_default_timeout(10_000)
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base_url)
    return ctx


@pytest.fixture(params=list(SIZES))
def size(request):
    return request.param


@pytest.fixture
def sized_page(browser, console_server, size):
    ctx = _new_context(browser, console_server, size)
    page = ctx.new_page()
    page.on("dialog", lambda d: d.accept())
    csp = []  # what the browser blocked: nothing may be, with the editor loaded
    page.on("console", lambda m: csp.append(m.text) if "Content Security Policy" in m.text else None)
    sign_in(page, console_server)
    yield page
    ctx.close()
    assert csp == []


def _file(name: str, data: bytes, mime: str) -> dict:
    return {"name": name, "mimeType": mime, "buffer": data}


def _row(page, path: str):
    return page.locator(f"#assets tr[data-path='{path}']")


def _no_page_overflow(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url}: {width} px wide"


def _service_with_dev(page) -> tuple[str, str]:
    """A service made in the console with a dev environment: (service page URL, dev origin)."""
    page.goto("/console/services")
    page.fill("#unique_name", uniq("editor"))
    page.click("button:has-text('Create service')")
    page.select_option("#env-name", "dev")
    page.click("button:has-text('Create environment')")
    return page.url, page.locator(".env-tab[data-env='dev'] .domain").inner_text()


def _new_asset(page, path: str) -> None:
    page.click("#add-menu summary")
    page.click("#new-asset-item")
    page.fill("#new-asset-path", path)
    page.click("#new-asset-dialog button[type=submit]")
    expect(page.locator("#editor-path")).to_have_text(path)


def _deploy(page, service_url: str) -> None:
    page.goto(service_url)
    page.click("#deploy-all")
    expect(page.locator(".flash-success")).to_contain_text("Deployed build")


def test_new_asset_edit_save_deploy_and_fetch(sized_page, console_server, size):
    page = sized_page
    service_url, origin = _service_with_dev(page)
    _new_asset(page, "/hello.html")
    expect(page.locator(".flash-success")).to_contain_text("Created /hello.html")
    editor = page.locator(".editor-pane .cm-editor")
    expect(editor).to_be_visible()  # CodeMirror replaced the textarea
    # with its styles applied (a constructed stylesheet in its shadow root, allowed by the CSP)
    expect(editor).to_have_css("border-top-style", "solid")
    expect(page.locator(".cm-gutters")).to_have_css("display", "flex")
    expect(page.locator("#content")).to_be_hidden()
    body = "<!doctype html><title>Hi</title><p>Edited in the console</p>"
    page.locator(".editor-pane .cm-content").click()
    page.keyboard.insert_text(body)
    expect(page.locator("#content")).to_have_value(body)
    # Copy URL sits below the content editor and above the logs pane.
    copy = page.locator("#copy-url").bounding_box()
    assert editor.bounding_box()["y"] + editor.bounding_box()["height"] <= copy["y"]
    assert copy["y"] + copy["height"] <= page.locator("#logs").bounding_box()["y"]
    _no_page_overflow(page)
    assert axe_violations(page) == []
    if size == "desktop":
        screenshot(page, "editor")
    page.click("#save")
    expect(page.locator(".flash-success")).to_contain_text("Saved /hello.html as version ZN")
    expect(page.locator(".cm-content")).to_contain_text("Edited in the console")
    page.click("#copy-url")
    expect(page.locator("#copied-url")).to_have_value(origin + "/hello.html")

    assert runtime_get(origin + "/hello.html").status_code == 404  # not deployed yet
    _deploy(page, service_url)
    resp = runtime_get(origin + "/hello.html")
    assert resp.status_code == 200 and resp.text == body
    assert resp.headers["content-type"].startswith("text/html")

    # An existing path cannot be made twice: the flash says to open it.
    page.click("#add-menu summary")
    page.click("#new-asset-item")
    page.fill("#new-asset-path", "/hello.html")
    page.click("#new-asset-dialog button[type=submit]")
    expect(page.locator(".flash-error")).to_have_text("An asset already has the path /hello.html: open it instead")


def test_plain_textarea_without_javascript(browser, console_server):
    """No JavaScript, so no CodeMirror: the textarea is the editor and its form saves."""
    ctx = _new_context(browser, console_server, "desktop")
    page = ctx.new_page()
    page.on("dialog", lambda d: d.accept())
    sign_in(page, console_server)
    service_url, origin = _service_with_dev(page)
    _new_asset(page, "/data.json")
    editor_url = page.url
    ctx.close()

    ctx = _new_context(browser, console_server, "desktop", javascript=False)
    page = ctx.new_page()
    try:
        sign_in(page, console_server)
        # Add+ → New Asset is a page of its own without the script.
        page.goto(service_url)
        page.click("#add-menu summary")
        page.click("#new-asset-item")
        expect(page.locator("h1")).to_have_text("New Asset")
        page.fill("#new-asset-path", "/plain.txt")
        page.click("button:has-text('Create')")
        expect(page.locator("#editor-path")).to_have_text("/plain.txt")
        page.goto(editor_url)
        expect(page.locator(".cm-editor")).to_have_count(0)
        expect(page.locator("#content")).to_be_visible()
        page.fill("#content", '{"edited": "without js",\n "lines": 2}')
        page.click("#save")
        expect(page.locator(".flash-success")).to_contain_text("Saved /data.json")
        expect(page.locator("#content")).to_have_value('{"edited": "without js",\n "lines": 2}')
        _deploy(page, service_url)  # a plain form post (no production here: no confirmation)
        assert runtime_get(origin + "/data.json").content == b'{"edited": "without js",\n "lines": 2}'
    finally:
        ctx.close()


def test_rename_to_root_and_to_assets_index(sized_page, console_server):
    page = sized_page
    service_url, origin = _service_with_dev(page)
    _new_asset(page, "/landing.html")
    page.locator(".editor-pane .cm-content").click()
    page.keyboard.insert_text("<h1>Landing</h1>")
    page.click("#save")
    expect(page.locator(".flash-success")).to_contain_text("Saved")
    page.fill("#new-path", "/")
    page.click("#rename")
    expect(page.locator(".flash-success")).to_have_text("The path is now /. Deploy All to make it live.")
    expect(page.locator("#editor-path")).to_have_text("/")
    expect(page.locator("#serves-root")).to_have_text("served at the root URL")
    page.goto(service_url)
    expect(page.locator("#root-note")).to_contain_text("serves / after Deploy All")
    expect(_row(page, "/").locator(".badge-root")).to_have_text("root URL")
    _deploy(page, service_url)
    resp = runtime_get(origin + "/")
    assert resp.status_code == 200 and resp.text == "<h1>Landing</h1>"
    assert resp.headers["content-type"].startswith("text/html")  # the type of the bytes, kept

    # /assets/index.html: the legacy way to the root, for HTML.
    _row(page, "/").locator("a.open").click()
    page.fill("#new-path", "/assets/index.html")
    page.click("#rename")
    expect(page.locator("#editor-path")).to_have_text("/assets/index.html")
    expect(page.locator("#serves-root")).to_be_visible()
    _no_page_overflow(page)
    _deploy(page, service_url)
    expect(page.locator("#root-note")).to_contain_text("serves /assets/index.html")
    assert runtime_get(origin + "/").text == "<h1>Landing</h1>"
    assert runtime_get(origin + "/assets/index.html").text == "<h1>Landing</h1>"

    # A path the API refuses is refused here in the same words.
    _row(page, "/assets/index.html").locator("a.open").click()
    page.fill("#new-path", "/a/../b.html")
    page.click("#rename")
    expect(page.locator(".flash-error")).to_have_text(
        "Not renamed: Path '/a/../b.html' may not contain empty, '.' or '..' segments")


def _mp3(tmp_path) -> bytes:
    espeak, lame = shutil.which("espeak-ng"), shutil.which("lame")
    if not espeak or not lame:
        pytest.skip("espeak-ng and lame (Debian packages, installed by scripts/test when run as root) are needed "
                    "to make the test's mp3")
    wav, mp3 = tmp_path / "greeting.wav", tmp_path / "greeting.mp3"
    subprocess.run([espeak, "-w", str(wav), "Thanks for calling."], check=True, timeout=30, capture_output=True)
    subprocess.run([lame, "--quiet", "-b", "32", str(wav), str(mp3)], check=True, timeout=30)
    return mp3.read_bytes()


def _wait_until(page, expression: str, timeout_s: float = 10.0) -> None:
    """Poll an expression from here: Playwright's wait_for_function evaluates strings in the page,
    which the console's CSP (no 'unsafe-eval') refuses."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout_s}s: {expression}"
        time.sleep(0.1)


def _png() -> bytes:
    """A 3×2 RGB PNG, written by hand (zlib and struct are all it takes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * 3 for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 3, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_audio_plays_and_images_preview(sized_page, console_server, tmp_path, size):
    page = sized_page
    mp3 = _mp3(tmp_path)
    service_url, _ = _service_with_dev(page)
    page.set_input_files("#file-input", [_file("greeting.mp3", mp3, "audio/mpeg"), _file("logo.png", _png(),
                                                                                         "image/png")])
    page.click("#upload-start")
    expect(page.locator("#assets tbody tr")).to_have_count(2)
    _row(page, "/greeting.mp3").locator("a.open").click()
    player = page.locator("audio#player")
    expect(player).to_be_visible()
    _wait_until(page, "document.querySelector('#player').readyState >= 1")
    duration = player.evaluate("el => el.duration")
    assert 0.5 < duration < 5, duration  # "Thanks for calling." is about a second and a half
    player.evaluate("el => el.play()")
    _wait_until(page, "document.querySelector('#player').currentTime > 0")
    assert axe_violations(page) == []
    _no_page_overflow(page)
    if size == "desktop":
        screenshot(page, "editor-audio")

    page.goto(service_url)
    _row(page, "/logo.png").locator("a.open").click()
    img = page.locator("img#preview")
    expect(img).to_be_visible()
    assert img.evaluate("el => [el.naturalWidth, el.naturalHeight]") == [3, 2]
    # The content URL serves images and audio only, never as a page.
    content_url = img.get_attribute("src")
    resp = page.request.get(content_url)
    assert resp.headers["content-type"] == "image/png"
    assert "sandbox" in resp.headers["content-security-policy"]


def test_functions_are_listed_opened_edited_and_their_logs_follow(sized_page, console_server):
    page = sized_page
    service_url, origin = _service_with_dev(page)
    service_sid = service_url.split("/services/")[1].split("?")[0]
    marker = uniq("logline")
    source = ("exports.handler = (context, event, callback) => {\n"
              "  console.log('before the edit ' + (event.n || 'none'));\n"
              "  callback(null, 'ok');\n};\n")
    edited = source.replace("before the edit", marker)
    with console_server.http_client() as http:
        fn = http.post(f"/v1/Services/{service_sid}/Functions", data={"FriendlyName": "/hello"}).json()
        first = upload_function_version(http, service_sid, fn["sid"], "/hello", source, "public")
        hidden = http.post(f"/v1/Services/{service_sid}/Functions", data={"FriendlyName": "/admin"}).json()
        upload_function_version(http, service_sid, hidden["sid"], "/admin", source, "protected")
    page.goto(service_url)
    row = page.locator("#functions tr[data-path='/hello']")
    expect(row).to_have_attribute("data-status", "pending")
    expect(row.locator(".badge")).to_have_text("public")
    expect(page.locator("#functions tr[data-path='/admin'] .badge")).to_have_text("protected")

    # Opened in the same editor, edited and saved as a new version.
    row.locator("a.open").click()
    expect(page.locator("#editor-path")).to_have_text("/hello")
    expect(page.locator(".cm-content")).to_contain_text("before the edit")
    page.locator(".cm-content").click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.insert_text(edited)
    page.click("#save")
    expect(page.locator(".flash-success")).to_contain_text("Saved /hello as version ZN")
    assert axe_violations(page) == []
    _no_page_overflow(page)
    with console_server.http_client() as http:
        versions = http.get(f"/v1/Services/{service_sid}/Functions/{fn['sid']}/Versions").json()["function_versions"]
        assert len(versions) == 2
        (newest,) = [v for v in versions if v["sid"] != first["sid"]]  # the one Save made (both may share a second)
        content = http.get(f"/v1/Services/{service_sid}/Functions/{fn['sid']}/Versions/{newest['sid']}/Content")
        assert content.json()["content"] == edited

    page.goto(service_url)
    page.click("#deploy-all", timeout=60_000)  # the build of a function takes a while on a busy machine
    expect(page.locator(".flash-success")).to_contain_text("Deployed build")
    expect(page.locator("#functions tr[data-path='/hello']")).to_have_attribute("data-status", "live")
    page.locator("#functions tr[data-path='/hello'] a.open").click()
    resp = runtime_get(origin + "/hello", params={"n": "1"})
    assert resp.status_code == 200 and resp.text == "ok", resp.text
    lines = page.locator("#log-lines li[data-sid]")
    expect(lines.filter(has_text=f"{marker} 1")).to_have_count(1, timeout=LOG_WAIT_MS)
    # A second call: its line comes on top without a reload (newest first).
    runtime_get(origin + "/hello", params={"n": "2"})
    expect(lines.first).to_contain_text(f"{marker} 2", timeout=LOG_WAIT_MS)
    expect(lines.nth(1)).to_contain_text(f"{marker} 1")


def test_markup_in_a_path_stays_text_and_html_is_never_served_by_the_console(browser, console_server):
    ctx = _new_context(browser, console_server, "desktop")
    page = ctx.new_page()
    alerts = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.accept()))
    try:
        sign_in(page, console_server)
        service_url, _ = _service_with_dev(page)
        name = "x'<img src=x onerror=alert(7)>.html"
        path = "/" + name.replace(" ", "-")  # as the dialog names it
        row = page.locator(f'#assets tr[data-path="{path}"]')
        page.set_input_files("#file-input", [_file(name, b"<script>alert(8)</script>", "text/html")])
        page.click("#upload-start")
        expect(row).to_be_visible()
        # The dialog's map of existing paths survived the quote and the markup (it recognises the path).
        page.set_input_files("#file-input", [_file(name, b"again", "text/html")])
        expect(page.locator("#pending .pf-replaces")).to_have_text(
            f"Replaces the existing asset {path} (public; it stays public unless you change it)")
        page.click("#upload-cancel")
        row.locator("a.open").click()
        expect(page.locator("#editor-path")).to_have_text(path)
        expect(page.locator(".cm-content")).to_contain_text("<script>alert(8)</script>")  # shown as text
        sid = page.url.split("/assets/")[1].split("?")[0]
        resp = page.request.get(f"{service_url.split('?')[0]}/assets/{sid}/content")
        assert resp.status == 404 and "<script>" not in resp.text()  # the console never serves an asset as a page
        # Visibility from the editor: back to the editor, protected.
        page.select_option("#visibility", "protected")
        page.click("#change-visibility")
        expect(page.locator(".flash-success")).to_contain_text("is now protected")
        expect(page.locator("#editor-visibility")).to_have_text("protected")
        assert alerts == []
    finally:
        ctx.close()


def test_saving_unchanged_keeps_a_leading_blank_line(browser, console_server):
    """HTML drops one newline right after <textarea>: a file that starts with a blank line must
    still start with it after Save without an edit, in the plain textarea and in CodeMirror."""
    ctx = _new_context(browser, console_server, "desktop")
    page = ctx.new_page()
    page.on("dialog", lambda d: d.accept())
    sign_in(page, console_server)
    service_url, origin = _service_with_dev(page)
    _new_asset(page, "/lead.txt")
    editor_url = page.url
    ctx.close()
    content = "\n\nafter two blank lines\n"

    ctx = _new_context(browser, console_server, "desktop", javascript=False)
    page = ctx.new_page()
    try:
        sign_in(page, console_server)
        page.goto(editor_url)
        page.fill("#content", content)
        for _ in range(2):  # the second Save changes nothing
            page.click("#save")
            expect(page.locator(".flash-success")).to_contain_text("Saved /lead.txt")
            expect(page.locator("#content")).to_have_value(content)
    finally:
        ctx.close()

    ctx = _new_context(browser, console_server, "desktop")
    page = ctx.new_page()
    try:
        sign_in(page, console_server)
        page.goto(editor_url)
        expect(page.locator(".cm-editor")).to_have_count(1)
        expect(page.locator("#content")).to_have_value(content)
        page.click("#save")
        expect(page.locator(".flash-success")).to_contain_text("Saved /lead.txt")
        _deploy(page, service_url)
        assert runtime_get(origin + "/lead.txt").content == content.encode()
    finally:
        ctx.close()


def test_saving_keeps_a_files_crlf_line_ends(browser, console_server):
    """A browser sends a textarea's lines with CRLF whatever they were: a file written with CRLF
    keeps them through Save, one written with LF keeps LF."""
    ctx = _new_context(browser, console_server, "desktop")
    page = ctx.new_page()
    page.on("dialog", lambda d: d.accept())
    try:
        sign_in(page, console_server)
        service_url, origin = _service_with_dev(page)
        files = {"dos.csv": b"a,b\r\n1,2\r\n", "unix.csv": b"a,b\n1,2\n"}
        page.set_input_files("#file-input", [_file(name, data, "text/csv") for name, data in files.items()])
        page.click("#upload-start")
        expect(page.locator("#assets tbody tr")).to_have_count(2)
        for name in files:
            page.goto(service_url)
            _row(page, "/" + name).locator("a.open").click()
            page.click("#save")  # unedited
            expect(page.locator(".flash-success")).to_contain_text(f"Saved /{name}")
        _deploy(page, service_url)
        for name, data in files.items():
            assert runtime_get(f"{origin}/{name}").content == data, name
    finally:
        ctx.close()
