"""Media in the console (issue 14), in Chromium at 1280×800 (and 390×844 for the layout): media
facts and telephony warnings next to each asset, the GPS marker and "Remove photo metadata" in the
upload dialog, Copy URL's immutable alias, "Open with a signature" and "Share link…" for protected
assets, and the URLs that changed bytes after Deploy All. What the console shows is checked
against what the edge then serves (httpx, Pillow). axe-core checks each page."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from consolekit import PHONE, VIEWPORT, axe_violations, runtime_get, screenshot, sign_in, uniq
from helpers import create_environment, create_service
from mediakit import GPS_IFD, audio, jpeg_with_gps, pixels, read_image
from playwright.sync_api import expect

X = "/assethost/v1/Services"


@pytest.fixture
def signed_in(page, console_server):
    sign_in(page, console_server)
    return page


def _service(console_server, strip: bool = False) -> tuple[dict, dict]:
    """An editable service with a dev environment (and, if asked, StripMetadata on by default)."""
    with console_server.http_client() as http:
        service = create_service(http, uniq("media"), "Media", UiEditable="true")
        env = create_environment(http, service["sid"], "dev", "dev")
        if strip:
            assert http.post(f"{X}/{service['sid']}/MediaSettings", data={"StripMetadata": "true"}).status_code == 200
    return service, env


def _row(page, path: str):
    return page.locator(f"#assets tr[data-path='{path}']")


def _choose(page, *files: dict) -> None:
    page.click("#add-menu summary")
    with page.expect_file_chooser() as chooser:
        page.click("#upload-file")
    chooser.value.set_files(list(files))
    expect(page.locator("#upload-dialog")).to_be_visible()


def _upload(page, *files: dict, strip: bool | None = None) -> None:
    _choose(page, *files)
    if strip is not None:
        page.locator("#strip-metadata").set_checked(strip)
    page.click("#upload-start")
    for f in files:
        expect(_row(page, "/" + f["name"])).to_be_visible()


def _deploy(page) -> None:
    page.click("#deploy-all")
    expect(page.locator(".flash-success")).to_contain_text("Deployed build ZB")


def _open_menu(page, path: str) -> None:
    _row(page, path).locator(".asset-menu summary").click()


def _copy(page, path: str, selector: str) -> str:
    _open_menu(page, path)
    button = _row(page, path).locator(selector)
    url = button.get_attribute("data-url")
    button.click()
    expect(page.locator("#copied-url")).to_have_value(url)
    expect(page.locator("#copied .copied-note")).to_have_text("Copied to the clipboard.")
    return url


def _no_page_overflow(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url}: {width} px wide"


def test_gps_marker_and_the_upload_dialogs_strip_option(signed_in, console_server):
    page = signed_in
    service, _ = _service(console_server)
    photo = jpeg_with_gps()
    page.goto(f"/console/services/{service['sid']}")
    _choose(page, {"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": photo})
    expect(page.locator("#strip-metadata")).not_to_be_checked()  # the service keeps metadata by default
    expect(page.locator("label[for='strip-metadata']")).to_have_text("Remove photo metadata (EXIF, GPS)")
    assert axe_violations(page) == []
    page.click("#upload-start")
    expect(_row(page, "/photo.jpg").locator(".badge-gps")).to_have_text("GPS position")
    expect(_row(page, "/photo.jpg").locator(".facts")).to_have_text("image · jpeg · 64×48")

    _upload(page, {"name": "clean.jpg", "mimeType": "image/jpeg", "buffer": photo}, strip=True)
    expect(_row(page, "/clean.jpg").locator(".facts")).to_have_text("image · jpeg · 64×48")
    expect(_row(page, "/clean.jpg").locator(".badge-gps")).to_have_count(0)
    expect(_row(page, "/photo.jpg").locator(".badge-gps")).to_have_count(1)
    assert axe_violations(page) == []
    screenshot(page, "media-pane")

    # The edge serves the stripped bytes: no EXIF, no GPS, the same pixels; the other keeps both.
    _deploy(page)
    dev = page.locator(".env-tab[data-env='dev'] .domain").inner_text()
    clean = runtime_get(f"{dev}/clean.jpg")
    assert clean.status_code == 200 and clean.content != photo
    img = read_image(clean.content)
    assert "exif" not in img.info and not img.getexif().get_ifd(GPS_IFD)
    assert pixels(clean.content) == pixels(photo)
    kept = runtime_get(f"{dev}/photo.jpg")
    assert kept.content == photo and read_image(kept.content).getexif().get_ifd(GPS_IFD)

    # The opened asset says it too.
    page.click("#assets tr[data-path='/photo.jpg'] a.open")
    expect(page.locator("#gps-note .badge-gps")).to_be_visible()
    expect(page.locator("#media .facts-list")).to_contain_text("Dimensions64×48")
    assert axe_violations(page) == []
    page.go_back()
    page.click("#assets tr[data-path='/clean.jpg'] a.open")
    expect(page.locator("#media")).to_be_visible()
    expect(page.locator("#gps-note")).to_have_count(0)


def test_the_strip_option_defaults_to_the_services_setting(signed_in, console_server):
    page = signed_in
    service, _ = _service(console_server, strip=True)
    page.goto(f"/console/services/{service['sid']}")
    _choose(page, {"name": "default.jpg", "mimeType": "image/jpeg", "buffer": jpeg_with_gps()})
    expect(page.locator("#strip-metadata")).to_be_checked()
    expect(page.locator("#strip-help")).to_contain_text("This service removes it by default.")
    page.click("#upload-start")
    expect(_row(page, "/default.jpg").locator(".facts")).to_have_text("image · jpeg · 64×48")
    expect(_row(page, "/default.jpg").locator(".badge-gps")).to_have_count(0)


def test_an_mp3_uploaded_as_x_wav_shows_the_play_type_warning(signed_in, console_server, tmp_path):
    page = signed_in
    mp3 = audio(tmp_path, "mp3")  # skips, saying why, without espeak-ng or sox
    service, _ = _service(console_server)
    page.goto(f"/console/services/{service['sid']}")
    _upload(page, {"name": "greeting", "mimeType": "audio/x-wav", "buffer": mp3},
            {"name": "hold.mp3", "mimeType": "audio/mpeg", "buffer": mp3})
    row = _row(page, "/greeting")
    expect(row.locator(".facts")).to_have_text(re.compile(r"^audio · mp3 · mp3 · \d\.\d s · 22050 Hz · mono$"))
    expect(row.locator(".media-warnings summary")).to_have_text("3 media warnings")
    row.locator(".media-warnings summary").click()
    warning = row.locator(".media-warnings li[data-rule='play.type']")
    expect(warning).to_contain_text("the bytes are mp3 but are served as audio/x-wav: Twilio answers error 11200")
    expect(row.locator(".media-warnings li")).to_have_count(3)
    expect(_row(page, "/hold.mp3").locator(".media-warnings")).to_have_count(0)  # served right: no warning
    expect(page.locator(".flash-warning")).to_contain_text("/greeting: play.type:")
    assert axe_violations(page) == []

    page.click("#assets tr[data-path='/greeting'] a.open")
    expect(page.locator("#media-warnings li[data-rule='play.type']")).to_contain_text("error 11200")
    expect(page.locator("#media .facts-list")).to_contain_text("Sample rate22050 Hz")
    expect(page.locator("#player")).to_be_visible()
    assert axe_violations(page) == []
    screenshot(page, "editor-media")
    page.go_back()
    page.click("#assets tr[data-path='/hold.mp3'] a.open")
    expect(page.locator("#media-ok")).to_be_visible()


def test_copy_url_offers_the_immutable_alias_once_live(signed_in, console_server):
    page = signed_in
    service, _ = _service(console_server)
    body = b"Thank you for calling.\n"
    page.goto(f"/console/services/{service['sid']}")
    _upload(page, {"name": "greeting.txt", "mimeType": "text/plain", "buffer": body})
    _open_menu(page, "/greeting.txt")
    expect(_row(page, "/greeting.txt").locator(".copy-immutable")).to_have_count(0)  # not live yet: no alias
    page.keyboard.press("Escape")
    _deploy(page)
    plain = _copy(page, "/greeting.txt", "button.copy-url")
    alias = _copy(page, "/greeting.txt", ".copy-immutable")
    assert re.fullmatch(re.escape(plain[:-len(".txt")]) + r"~[0-9a-f]{12}\.txt", alias), (plain, alias)
    assert page.evaluate("navigator.clipboard.readText()") == alias
    resp = runtime_get(alias)
    assert resp.status_code == 200 and resp.content == body
    assert resp.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert runtime_get(plain).headers["cache-control"] != resp.headers["cache-control"]

    page.click("#assets tr[data-path='/greeting.txt'] a.open")
    page.click("#copy-immutable")
    expect(page.locator("#copied-url")).to_have_value(alias)
    assert axe_violations(page) == []


def test_share_link_and_open_with_a_signature_fetch_a_protected_asset(signed_in, console_server):
    page = signed_in
    service, env = _service(console_server)
    secret = b'{"pin": 4321}\n'
    page.goto(f"/console/services/{service['sid']}")
    _choose(page, {"name": "config.json", "mimeType": "application/json", "buffer": secret})
    page.locator(".pending-file[data-path='/config.json'] select").select_option("protected")
    page.click("#upload-start")
    expect(_row(page, "/config.json")).to_have_attribute("data-visibility", "protected")
    _deploy(page)
    plain = _copy(page, "/config.json", "button.copy-url")
    assert runtime_get(plain).status_code == 403

    _open_menu(page, "/config.json")
    expect(_row(page, "/config.json").locator("a.open-signed")).to_have_text("Open with a signature")
    _row(page, "/config.json").locator("a.share-item").click()
    expect(page.locator("#share")).to_be_visible()
    page.locator("#share-ttl").select_option("1h")
    before = time.time()
    page.click("#share-create")
    expect(page.locator("#shared .copied-note")).to_contain_text("Valid until")
    link = page.locator("#shared-url").input_value()
    assert link.startswith(plain + "?")
    expires = int(parse_qs(urlsplit(link).query)["ahExpires"][0])
    assert before + 3600 - 5 <= expires <= time.time() + 3600 + 5
    assert page.evaluate("navigator.clipboard.readText()") == link
    shared = runtime_get(link)
    assert shared.status_code == 200 and shared.content == secret
    tampered = link.replace(f"ahExpires={expires}", f"ahExpires={expires + 60}")
    assert runtime_get(tampered).status_code == 403
    assert axe_violations(page) == []
    screenshot(page, "share-link")

    # "Open with a signature": a fresh link of a few minutes, made at the click.
    signed = page.request.get(page.locator("#open-signed").get_attribute("href"), max_redirects=0)
    assert signed.status == 303
    location = signed.headers["location"]
    assert location.startswith(plain + "?")
    assert int(parse_qs(urlsplit(location).query)["ahExpires"][0]) <= time.time() + 5 * 60 + 5
    opened = runtime_get(location)
    assert opened.status_code == 200 and opened.content == secret
    # A lifetime the console does not offer is refused, with the choices.
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    refused = page.request.post(page.locator("#share-form").get_attribute("action"),
                                form={"csrf": csrf, "ttl": "1y", "environment": env["sid"]},
                                headers={"X-Requested-With": "assethost-console"})
    assert refused.status == 400
    assert refused.json() == {"message": "Choose how long the link works: 15 minutes, 1 hour, 1 day"}


def test_deploy_all_names_the_urls_that_changed_bytes(signed_in, console_server):
    page = signed_in
    service, _ = _service(console_server)
    page.goto(f"/console/services/{service['sid']}")
    _upload(page, {"name": "greeting.txt", "mimeType": "text/plain", "buffer": b"Hello.\n"},
            {"name": "menu.txt", "mimeType": "text/plain", "buffer": b"Press 1.\n"})
    _deploy(page)
    expect(page.locator(".flash-changed")).to_have_count(0)  # the first deploy changes no URL's bytes
    _upload(page, {"name": "greeting.txt", "mimeType": "text/plain", "buffer": b"Hello again.\n"})
    _deploy(page)
    dev = page.locator(".env-tab[data-env='dev'] .domain").inner_text()
    notice = page.locator(".flash-changed")
    expect(notice).to_have_text(re.compile(rf"^These URLs now serve new bytes: {re.escape(dev)}/greeting\.txt\. "))
    expect(notice).not_to_contain_text("menu.txt")
    assert runtime_get(f"{dev}/greeting.txt").content == b"Hello again.\n"
    assert axe_violations(page) == []


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_media_layout_fits_desktop_and_phone(browser, console_server, size, tmp_path):
    ctx = browser.new_context(viewport={"desktop": VIEWPORT, "phone": PHONE}[size], base_url=console_server.base_url)
    ctx.set_default_timeout(10_000)
    page = ctx.new_page()
    try:
        sign_in(page, console_server)
        service, _ = _service(console_server)
        page.goto(f"/console/services/{service['sid']}")
        _choose(page, {"name": "a-photo-with-a-rather-long-name.jpg", "mimeType": "image/jpeg",
                       "buffer": jpeg_with_gps()})
        _no_page_overflow(page)
        page.locator(".pending-file select").select_option("protected")
        page.click("#upload-start")
        row = _row(page, "/a-photo-with-a-rather-long-name.jpg")
        row.locator(".media-warnings summary").click()  # its name is too long for MMS
        expect(row.locator(".media-warnings li[data-rule='mms.filename']")).to_be_visible()
        _no_page_overflow(page)
        assert axe_violations(page) == []
        _deploy(page)
        row.locator("a.open").click()
        expect(page.locator("#share")).to_be_visible()
        _no_page_overflow(page)
        assert axe_violations(page) == []
        if size == "phone":
            screenshot(page, "editor-media-phone")
    finally:
        ctx.close()


def test_share_links_only_for_the_accounts_own_protected_assets(browser, signed_in, console_server):
    page = signed_in
    service, env = _service(console_server)
    page.goto(f"/console/services/{service['sid']}")
    _choose(page, {"name": "pin.txt", "mimeType": "text/plain", "buffer": b"4321\n"},
            {"name": "open.txt", "mimeType": "text/plain", "buffer": b"hello\n"})
    page.locator(".pending-file[data-path='/pin.txt'] select").select_option("protected")
    page.click("#upload-start")
    expect(_row(page, "/pin.txt")).to_have_attribute("data-visibility", "protected")
    _deploy(page)
    pin, public = (_row(page, p).get_attribute("data-sid") for p in ("/pin.txt", "/open.txt"))
    base = f"/console/services/{service['sid']}/assets"
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    json_headers = {"X-Requested-With": "assethost-console"}

    # A public asset needs no link: refused, and its menu offers none.
    refused = page.request.post(f"{base}/{public}/share", form={"csrf": csrf, "ttl": "15m", "environment": env["sid"]},
                                headers=json_headers)
    assert refused.status == 400 and refused.json() == {"message": "/open.txt is public: only protected assets take "
                                                                   "a share link"}
    _open_menu(page, "/open.txt")
    expect(_row(page, "/open.txt").locator("a.open-signed, a.share-item")).to_have_count(0)

    # Another account, signed in to the same console, gets no link to this account's asset.
    other_sid, other_token = console_server.create_account()
    ctx = browser.new_context(viewport=VIEWPORT, base_url=console_server.base_url)
    try:
        other = ctx.new_page()
        sign_in(other, console_server, other_sid, other_token)
        other_csrf = other.locator('meta[name="csrf-token"]').get_attribute("content")
        made = other.request.post(f"{base}/{pin}/share", form={"csrf": other_csrf, "ttl": "1d",
                                                               "environment": env["sid"]}, headers=json_headers)
        assert made.status == 404 and "url" not in made.json()
        opened = other.request.get(f"{base}/{pin}/signed?env={env['sid']}", max_redirects=0)
        assert opened.status == 404 and "location" not in opened.headers
    finally:
        ctx.close()
    # Without the console's CSRF token, no link either (a form posted from elsewhere).
    forged = page.request.post(f"{base}/{pin}/share", form={"ttl": "1d", "environment": env["sid"]},
                               headers=json_headers)
    assert forged.status == 403 and "url" not in forged.text()
