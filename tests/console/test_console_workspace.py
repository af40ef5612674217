"""The console's safety rules in Chromium, at desktop and phone sizes: which environment it opens
on, the production confirmation, presets that can be created, uploads over an existing asset
keeping its visibility (Assets pane and Assets (Legacy)), toolkit-managed services (ui_editable
false) and the files a CLI deploy dropped, one path rule from core, the phone layout, contrast
and target sizes, and filter and pages for 900 assets. axe-core checks each page."""

from __future__ import annotations

import re

import pytest
from consolekit import PHONE, VIEWPORT, axe_violations, runtime_get, screenshot, sign_in, uniq
from helpers import completed_build, create_environment, create_service, deploy, upload_asset_version
from playwright.sync_api import expect

SIZES = {"desktop": VIEWPORT, "phone": PHONE}


@pytest.fixture(params=list(SIZES))
def sized_page(request, browser, console_server):
    """A signed-in page at 1280×800 and at 390×844."""
    ctx = browser.new_context(viewport=SIZES[request.param], base_url=console_server.base_url)
    ctx.set_default_timeout(10_000)
    page = ctx.new_page()
    page.on("dialog", lambda d: d.accept())
    sign_in(page, console_server)
    yield page
    ctx.close()


def _file(name: str, data: bytes, mime: str = "text/plain") -> dict:
    return {"name": name, "mimeType": mime, "buffer": data}


def _row(page, path: str):
    return page.locator(f"#assets tr[data-path='{path}']")


def _no_page_overflow(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size["width"]
    assert width <= viewport, f"{page.url}: the page is {width} px wide in a {viewport} px viewport"


def _api_service(console_server, editable: bool = True) -> dict:
    with console_server.http_client() as http:
        return create_service(http, uniq("cli"), "From the CLI", UiEditable="true" if editable else "false")


def _upload(page, *files: dict) -> None:
    page.click("#add-menu summary")
    with page.expect_file_chooser() as chooser:
        page.click("#upload-file")
    chooser.value.set_files(list(files))
    expect(page.locator("#upload-dialog")).to_be_visible()


def _csrf(page) -> str:
    return page.locator('meta[name="csrf-token"]').get_attribute("content")


def test_dev_environment_is_chosen_however_named_and_production_needs_confirmation(sized_page, console_server):
    page = sized_page
    service = _api_service(console_server)
    with console_server.http_client() as http:
        prod = create_environment(http, service["sid"], "production")  # made first: listed first
        dev = create_environment(http, service["sid"], "dev-environment", "dev")
    page.goto(f"/console/services/{service['sid']}")
    expect(page.locator(".env-tab[aria-current='true']")).to_have_attribute("data-env", "dev-environment")
    assert axe_violations(page) == []
    _no_page_overflow(page)
    # dev cannot be created (its domain is dev-environment's): not offered; stage and production? only stage.
    expect(page.locator("#env-name option")).to_have_text(["stage"])
    # A stale form asking for dev anyway is told what can be created instead.
    resp = page.request.post(f"/console/services/{service['sid']}/environments",
                             form={"csrf": _csrf(page), "name": "dev"}, max_redirects=0)
    assert resp.status == 303
    page.goto(f"/console/services/{service['sid']}")
    expect(page.locator(".flash-error")).to_have_text(
        "The environment dev-environment already has the domain a new dev would get: work there instead. "
        "You can create stage.")

    # Deploy All to dev-environment: no question asked.
    _upload(page, _file("hello.txt", b"hello dev\n"))
    page.click("#upload-start")
    expect(page.locator(".flash-success")).to_contain_text("Uploaded /hello.txt (public)")
    page.click("#deploy-all")
    expect(page.locator(".flash-success")).to_contain_text("Deployed build ZB")
    dev_origin = page.locator(".env-tab[data-env='dev-environment'] .domain").inner_text()
    assert runtime_get(dev_origin + "/hello.txt").content == b"hello dev\n"

    # production: a page naming the domain first; Cancel deploys nothing.
    page.click(".env-tab[data-env='production']")
    prod_origin = page.locator(".env-tab[data-env='production'] .domain").inner_text()
    assert re.fullmatch(rf"http://{service['unique_name']}-\d{{4}}\.localhost:{console_server.port}", prod_origin)
    page.click("#deploy-all")
    expect(page.locator("h1")).to_have_text("Deploy to production?")
    expect(page.locator("#confirm-domain")).to_have_text(prod_origin)
    if page.viewport_size == VIEWPORT:
        screenshot(page, "confirm-production")
    _no_page_overflow(page)
    assert axe_violations(page) == []
    page.click("#cancel-deploy")
    expect(page.locator(".env-tab[data-env='production'] .build")).to_have_text("nothing deployed")
    assert runtime_get(prod_origin + "/hello.txt").status_code == 404
    page.click("#deploy-all")
    page.click("#confirm-deploy")
    expect(page.locator(".flash-success")).to_contain_text(f"to production ({prod_origin.split('//')[1].split(':')[0]})")
    assert runtime_get(prod_origin + "/hello.txt").content == b"hello dev\n"
    with console_server.http_client() as http:
        assert http.get(f"/v1/Services/{service['sid']}/Environments/{prod['sid']}").json()["build_sid"]
        assert http.get(f"/v1/Services/{service['sid']}/Environments/{dev['sid']}").json()["build_sid"]


def test_production_is_not_preselected_when_another_exists(page, console_server):
    sign_in(page, console_server)
    service = _api_service(console_server)
    with console_server.http_client() as http:
        create_environment(http, service["sid"], "production")
        create_environment(http, service["sid"], "qa", "qa")
    page.goto(f"/console/services/{service['sid']}")
    expect(page.locator(".env-tab[aria-current='true']")).to_have_attribute("data-env", "qa")
    expect(page.locator(".env-tab[data-env='production'] .badge-production")).to_have_text("production domain")


def test_reupload_over_a_protected_asset_keeps_it_protected(sized_page, console_server):
    page = sized_page
    page.goto("/console/services")
    unique = uniq("keep")
    page.fill("#unique_name", unique)
    page.click("button:has-text('Create service')")
    page.select_option("#env-name", "dev")
    page.click("button:has-text('Create environment')")
    _upload(page, _file("logo.png", b"first logo bytes", "image/png"))
    page.locator(".pending-file[data-path='/logo.png'] select").select_option("protected")
    page.click("#upload-start")
    expect(_row(page, "/logo.png")).to_have_attribute("data-visibility", "protected")
    page.click("#deploy-all")
    expect(page.locator(".flash-success")).to_contain_text("Deployed build")

    # The same path again: the dialog says it replaces the asset and starts at its visibility.
    _upload(page, _file("logo.png", b"second logo bytes", "image/png"), _file("new.txt", b"new"))
    row = page.locator(".pending-file[data-path='/logo.png']")
    expect(row.locator(".pf-replaces")).to_have_text(
        "Replaces the existing asset /logo.png (protected; it stays protected unless you change it)")
    expect(row.locator("select")).to_have_value("protected")
    expect(page.locator(".pending-file[data-path='/new.txt'] select")).to_have_value("public")
    expect(page.locator(".pending-file[data-path='/new.txt'] .pf-replaces")).to_have_text("")
    _no_page_overflow(page)
    assert axe_violations(page) == []
    page.click("#upload-start")
    expect(page.locator(".flash-success").first).to_contain_text("Uploaded /logo.png (protected)")
    expect(_row(page, "/logo.png")).to_have_attribute("data-visibility", "protected")
    page.click("#deploy-all")
    expect(page.locator(".flash-success")).to_contain_text("Deployed build")
    origin = page.locator(".env-tab[data-env='dev'] .domain").inner_text()
    assert runtime_get(origin + "/logo.png").status_code == 403  # still protected at the edge

    # An upload that names no visibility (a client other than the dialog) keeps it too.
    status = page.evaluate(
        """async (url) => {
            const form = new FormData();
            form.append("Path", "/logo.png");
            form.append("Content", new File(["third"], "logo.png", {type: "image/png"}));
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            const r = await fetch(url, {method: "POST", body: form,
                headers: {"X-CSRF-Token": csrf, "X-Requested-With": "assethost-console"}});
            return [r.status, (await r.json()).visibility];
        }""", page.locator("#upload-dialog").get_attribute("data-upload-url"))
    assert status == [201, "protected"]


def test_legacy_reupload_keeps_visibility_and_the_choice_is_not_sticky(sized_page, console_server):
    page = sized_page
    page.goto("/console/legacy")
    name = uniq("kept") + ".txt"
    page.set_input_files("#legacy-input", [_file(name, b"public first\n")])
    row = page.locator(f"#legacy-files tr[data-filename='{name}']")
    expect(row).to_have_attribute("data-visibility", "public")
    expect(page.locator(".flash-success")).to_contain_text(f"Uploaded {name} (public): live at http://")
    url = row.locator("a.asset-url").inner_text()
    # The choice for new files is protected now; the existing file keeps public.
    page.select_option("#legacy-visibility", "protected")
    with page.expect_navigation():  # the page reloads once the upload is done
        page.set_input_files("#legacy-input", [_file(name, b"public second\n")])
    expect(page.locator(f"#legacy-files tr[data-filename='{name}']")).to_have_attribute("data-visibility", "public")
    assert runtime_get(url).content == b"public second\n"
    # After the reload the choice is back at Public: nothing remembered to surprise the next upload.
    expect(page.locator("#legacy-visibility")).to_have_value("public")
    page.reload()
    expect(page.locator("#legacy-visibility")).to_have_value("public")
    # Private files: said plainly that nothing can read them.
    expect(page.locator("#legacy-visibility option[value='private']")).to_have_text("Private (kept, never readable)")
    expect(page.locator("#legacy-visibility-help")).to_contain_text("Private files are stored but nothing can read them")
    _no_page_overflow(page)
    assert axe_violations(page) == []


def test_toolkit_managed_service_is_read_only_until_allowed(sized_page, console_server):
    page = sized_page
    service = _api_service(console_server, editable=False)
    with console_server.http_client() as http:
        create_environment(http, service["sid"], "dev-environment", "dev")
    page.goto(f"/console/services/{service['sid']}")
    expect(page.locator("#read-only h2")).to_have_text("Editing is off for this service")
    expect(page.locator("#read-only")).to_contain_text("ui_editable is false")
    expect(page.locator("#deploy-all")).to_have_count(0)
    expect(page.locator("#add-menu")).to_have_count(0)
    _no_page_overflow(page)
    assert axe_violations(page) == []
    # The server refuses an edit even when the page is bypassed; nothing is stored.
    result = page.evaluate(
        """async (sid) => {
            const form = new FormData();
            form.append("Path", "/sneaky.txt");
            form.append("Content", new File(["x"], "sneaky.txt"));
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            const r = await fetch(`/console/services/${sid}/upload`, {method: "POST", body: form,
                headers: {"X-CSRF-Token": csrf, "X-Requested-With": "assethost-console"}});
            return [r.status, (await r.json()).message];
        }""", service["sid"])
    assert result[0] == 400 and "ui_editable is false" in result[1], result
    with console_server.http_client() as http:
        assert http.get(f"/v1/Services/{service['sid']}/Assets").json()["assets"] == []
    page.click("#allow-editing")
    expect(page.locator(".flash-success")).to_contain_text("Editing")
    expect(page.locator("#deploy-all")).to_be_visible()
    with console_server.http_client() as http:
        assert http.get(f"/v1/Services/{service['sid']}").json()["ui_editable"] is True


def test_files_a_cli_deploy_dropped_are_shown_and_not_republished(page, console_server):
    sign_in(page, console_server)
    service = _api_service(console_server)
    sid = service["sid"]
    with console_server.http_client() as http:
        env = create_environment(http, sid, "dev-environment", "dev")
        keep = http.post(f"/v1/Services/{sid}/Assets", data={"FriendlyName": "/keep.txt"}).json()
        gone = http.post(f"/v1/Services/{sid}/Assets", data={"FriendlyName": "/gone.txt"}).json()
        keep_v = upload_asset_version(http, sid, keep["sid"], "/keep.txt", b"kept\n")
        gone_v = upload_asset_version(http, sid, gone["sid"], "/gone.txt", b"gone\n")
        first = completed_build(http, sid, [keep_v["sid"], gone_v["sid"]])
        assert deploy(http, sid, env["sid"], first["sid"]).status_code == 201
        # The project lost gone.txt: the next CLI deploy builds without it (the Asset stays).
        second = completed_build(http, sid, [keep_v["sid"]])
        assert deploy(http, sid, env["sid"], second["sid"]).status_code == 201
    page.goto(f"/console/services/{sid}")
    expect(_row(page, "/gone.txt")).to_have_attribute("data-status", "dropped")
    expect(_row(page, "/keep.txt")).to_have_attribute("data-status", "live")
    expect(page.locator("#dropped li")).to_have_text(["/gone.txt"])
    assert axe_violations(page) == []
    # A new file, then Deploy All: the new one goes live, the dropped one stays out.
    page.set_input_files("#file-input", [_file("added.txt", b"added\n")])
    page.click("#upload-start")
    page.click("#deploy-all")
    expect(page.locator(".flash-success")).to_contain_text("Deployed build")
    origin = page.locator(".env-tab[data-env='dev-environment'] .domain").inner_text()
    assert runtime_get(origin + "/added.txt").content == b"added\n"
    assert runtime_get(origin + "/keep.txt").content == b"kept\n"
    assert runtime_get(origin + "/gone.txt").status_code == 404
    expect(_row(page, "/gone.txt")).to_have_attribute("data-status", "dropped")


def test_one_path_rule_from_core_in_both_faces(page, console_server):
    sign_in(page, console_server)
    # Assets (Legacy) takes what the API takes: accents and spaces (a space becomes "-").
    page.goto("/console/legacy")
    page.set_input_files("#legacy-input", [_file("café ü.txt", b"accented\n")])
    row = page.locator("#legacy-files tr[data-filename='café-ü.txt']")
    expect(row).to_be_visible()
    url = row.locator("a.asset-url").get_attribute("href")
    assert url.endswith("/assets/café-ü.txt"), url
    # And refuses what the API refuses, in core's words.
    page.set_input_files("#legacy-input", [_file("a#b.txt", b"x")])
    expect(page.locator("#legacy-progress .pending-file[data-filename='a#b.txt'] .pf-error")).to_have_text(
        "Path '/assets/a#b.txt' contains a character that is not allowed in a URL path")

    # The Assets pane takes /styles(1).css as the API does (the Serverless Toolkit's own client-side
    # check refuses it, but that is the toolkit's rule, not the API's).
    service = _api_service(console_server)
    page.goto(f"/console/services/{service['sid']}")
    page.set_input_files("#file-input", [_file("styles(1).css", b"a{}", "text/css"), _file("x#y.css", b"b{}")])
    page.click("#upload-start")
    expect(page.locator(".pending-file[data-path='/x#y.css'] .pf-error")).to_have_text(
        "Path '/x#y.css' contains a character that is not allowed in a URL path")
    page.click("#upload-cancel")
    expect(_row(page, "/styles(1).css")).to_be_visible()
    with console_server.http_client() as http:
        asset = http.post(f"/v1/Services/{service['sid']}/Assets", data={"FriendlyName": "api"}).json()
        assert upload_asset_version(http, service["sid"], asset["sid"], "/other(1).css", b"c{}")["path"] == \
            "/other(1).css"
        bad = http.post(f"/v1/Services/{service['sid']}/Assets/{asset['sid']}/Versions",
                        data={"Path": "/x#y.css", "Visibility": "public"}, files={"Content": ("x", b"x", "text/css")})
        assert bad.status_code == 400
        assert bad.json()["message"] == "Path '/x#y.css' contains a character that is not allowed in a URL path"


def test_phone_layout_contrast_and_target_sizes(browser, console_server):
    ctx = browser.new_context(viewport=PHONE, base_url=console_server.base_url)
    ctx.set_default_timeout(10_000)
    page = ctx.new_page()
    page.on("dialog", lambda d: d.accept())
    try:
        sign_in(page, console_server)
        page.goto("/console/services")
        page.fill("#unique_name", uniq("phone-layout-with-a-long-name"))
        page.click("button:has-text('Create service')")
        page.select_option("#env-name", "dev")
        page.click("button:has-text('Create environment')")
        page.set_input_files("#file-input", [_file("a-rather-long-file-name-for-a-phone-screen.txt", b"x")])
        page.click("#upload-start")
        expect(page.locator("#assets tbody tr")).to_have_count(1)
        service_url = page.url
        for url in ("/console/services", service_url, "/console/legacy", "/console/usage"):
            page.goto(url)
            _no_page_overflow(page)
            box = page.locator(".topbar").bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
            assert axe_violations(page) == []
        page.goto(service_url)
        expect(page.locator("#assets")).to_be_visible()
        screenshot(page, "phone-assets-pane")
        # The not-deployed ring: at least 3:1 against the white of the row (WCAG 1.4.11).
        ring, ground = page.locator("#assets .mark-pending").evaluate(
            "el => [getComputedStyle(el).borderTopColor, getComputedStyle(el).backgroundColor]")
        assert _contrast(ring, ground) >= 3.0, (ring, ground)
        # The ⋯ button: at least 24 px each way (WCAG 2.5.8).
        box = page.locator("#assets .asset-menu summary").bounding_box()
        assert box["height"] >= 24 and box["width"] >= 24, box
        # Legacy: a long URL keeps whole words per line (not 3–4 characters a line).
        page.goto("/console/legacy")
        page.set_input_files("#legacy-input", [_file("greeting-for-the-phone-layout.txt", b"x")])
        link = page.locator("#legacy-files tr[data-filename='greeting-for-the-phone-layout.txt'] a.asset-url")
        expect(link).to_be_visible()
        lines = link.evaluate("el => el.getClientRects().length")
        assert lines <= 3, f"the URL wraps over {lines} lines"
        _no_page_overflow(page)
    finally:
        ctx.close()


def _contrast(a: str, b: str) -> float:
    def luminance(css: str) -> float:
        r, g, b_ = (int(x) / 255 for x in re.findall(r"\d+", css)[:3])
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b_)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_failed_legacy_upload_shows_no_full_bar(browser, limited_console_server):
    srv = limited_console_server
    ctx = browser.new_context(viewport=VIEWPORT, base_url=srv.base_url)
    ctx.set_default_timeout(10_000)
    page = ctx.new_page()
    try:
        sign_in(page, srv)
        page.goto("/console/legacy")
        # Refused in the page (too large): no bar at all.
        page.set_input_files("#legacy-input", [_file("big.txt", b"z" * 1001)])
        big = page.locator("#legacy-progress .pending-file[data-filename='big.txt']")
        expect(big).to_have_class(re.compile("failed"))
        expect(big.locator("progress")).to_have_count(0)
        # Refused by the server (the name): the bar is empty and hidden.
        page.set_input_files("#legacy-input", [_file("bad#name.txt", b"z")])
        bad = page.locator("#legacy-progress .pending-file[data-filename='bad#name.txt']")
        expect(bad).to_have_class(re.compile("failed"))
        expect(bad.locator("progress")).to_be_hidden()
        assert bad.locator("progress").evaluate("el => el.value") == 0
    finally:
        ctx.close()


def test_900_assets_are_filtered_and_paginated(page, console_server):
    sign_in(page, console_server)
    service = _api_service(console_server)
    sid = service["sid"]
    with console_server.http_client() as http:
        for i in range(900):
            asset = http.post(f"/v1/Services/{sid}/Assets", data={"FriendlyName": f"a{i}"}).json()
            upload_asset_version(http, sid, asset["sid"], f"/file-{i:04d}.txt", b"x")
    page.goto(f"/console/services/{sid}")
    expect(page.locator("#assets tbody tr")).to_have_count(100)
    expect(page.locator("#page-of")).to_have_text("Page 1 of 9")
    expect(page.locator("#asset-count")).to_have_text("900 of 900 assets")
    page.click(".pager a[rel=next]")
    expect(page.locator("#page-of")).to_have_text("Page 2 of 9")
    expect(page.locator("#assets tbody tr").first).to_have_attribute("data-path", "/file-0100.txt")
    page.fill("#asset-filter", "file-089")
    page.click(".filter button")
    expect(page.locator("#assets tbody tr")).to_have_count(10)
    expect(page.locator("#asset-count")).to_have_text("10 of 900 assets")
    expect(page.locator(".pager")).to_have_count(0)
    assert axe_violations(page) == []
