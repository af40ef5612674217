"""Assets, Functions and their Versions (incl. the multipart upload endpoint)."""

import pytest
from helpers import (
    assert_date,
    assert_error,
    assert_sid,
    create_asset,
    create_function,
    create_service,
    expect_twilio_error,
    fake_sid,
    uniq,
    upload,
    upload_asset_version,
    upload_function_version,
)

ASSET_VERSION_KEYS = {"sid", "account_sid", "service_sid", "asset_sid", "path", "visibility", "date_created", "url"}


@pytest.fixture
def service(http):
    return create_service(http)


def test_asset_crud_with_twilio_client(client, server, service):
    assets = client.serverless.v1.services(service["sid"]).assets
    asset = assets.create(friendly_name="/logo.png")
    assert_sid(asset.sid, "ZH")
    assert asset.friendly_name == "/logo.png"
    assert asset.service_sid == service["sid"]
    assert asset.account_sid == server.account_sid
    base = f"{server.base_url}/v1/Services/{service['sid']}/Assets/{asset.sid}"
    assert asset.url == base
    assert asset.links == {"asset_versions": base + "/Versions"}

    assert assets(asset.sid).fetch().friendly_name == "/logo.png"
    updated = assets(asset.sid).update(friendly_name="/logo2.png")
    assert updated.friendly_name == "/logo2.png"
    assert [a.sid for a in assets.list()] == [asset.sid]

    assert assets(asset.sid).delete() is True
    expect_twilio_error(404, 20404, assets(asset.sid).fetch)
    assert assets.list() == []


def test_asset_create_returns_201_with_dates(http, service):
    resp = http.post(f"/v1/Services/{service['sid']}/Assets", data={"FriendlyName": "a"})
    assert resp.status_code == 201
    body = resp.json()
    assert_date(body["date_created"])
    assert_date(body["date_updated"])


def test_asset_friendly_name_required(client, http, service):
    assets = client.serverless.v1.services(service["sid"]).assets
    assert_error(http.post(f"/v1/Services/{service['sid']}/Assets", data={}), 400, 20001, "FriendlyName")
    asset = assets.create(friendly_name="x")
    resp = http.post(f"/v1/Services/{service['sid']}/Assets/{asset.sid}", data={})
    assert_error(resp, 400, 20001, "FriendlyName")
    assert_error(http.post(f"/v1/Services/{service['sid']}/Assets", data={"FriendlyName": "f" * 256}),
                 400, 20001, "FriendlyName")
    assert assets(asset.sid).fetch().friendly_name == "x"


def test_function_crud_with_twilio_client(client, server, service):
    functions = client.serverless.v1.services(service["sid"]).functions
    fn = functions.create(friendly_name="/hello")
    assert_sid(fn.sid, "ZH")
    base = f"{server.base_url}/v1/Services/{service['sid']}/Functions/{fn.sid}"
    assert fn.url == base
    assert fn.links == {"function_versions": base + "/Versions"}
    assert functions(fn.sid).update(friendly_name="/bye").friendly_name == "/bye"
    assert [f.sid for f in functions.list()] == [fn.sid]
    expect_twilio_error(400, 20001, functions.create, friendly_name="f" * 256)
    assert functions(fn.sid).delete() is True
    expect_twilio_error(404, 20404, functions(fn.sid).fetch)


def test_functions_and_assets_are_separate_collections(http, service):
    asset = create_asset(http, service["sid"])
    fn = create_function(http, service["sid"])
    assert_error(http.get(f"/v1/Services/{service['sid']}/Functions/{asset['sid']}"), 404, 20404)
    assert_error(http.get(f"/v1/Services/{service['sid']}/Assets/{fn['sid']}"), 404, 20404)


def test_upload_asset_version(client, http, server, service):
    asset = create_asset(http, service["sid"])
    resp = upload(http, service["sid"], "Assets", asset["sid"], "/img/logo.png", b"\x89PNG fake", "public",
                  filename="logo.png", mime="image/png")
    assert resp.status_code == 201, resp.text
    version = resp.json()
    assert ASSET_VERSION_KEYS <= set(version), version
    assert "links" not in version
    assert_sid(version["sid"], "ZN")
    assert version["account_sid"] == server.account_sid
    assert version["service_sid"] == service["sid"]
    assert version["asset_sid"] == asset["sid"]
    assert version["path"] == "/img/logo.png"
    assert version["visibility"] == "public"
    assert_date(version["date_created"])
    assert version["url"] == (f"{server.base_url}/v1/Services/{service['sid']}/Assets/{asset['sid']}"
                              f"/Versions/{version['sid']}")

    fetched = client.serverless.v1.services(service["sid"]).assets(asset["sid"]).asset_versions(
        version["sid"]).fetch()
    assert (fetched.sid, fetched.path, fetched.visibility) == (version["sid"], "/img/logo.png", "public")
    listed = client.serverless.v1.services(service["sid"]).assets(asset["sid"]).asset_versions.list()
    assert [v.sid for v in listed] == [version["sid"]]


@pytest.mark.parametrize("visibility", ["public", "protected", "private"])
def test_upload_each_visibility(http, service, visibility):
    asset = create_asset(http, service["sid"])
    version = upload_asset_version(http, service["sid"], asset["sid"], "/v.txt", b"v", visibility)
    assert version["visibility"] == visibility
    raw = http.get(version["url"])  # absolute URL on the server
    assert raw.status_code == 200
    assert raw.json()["visibility"] == visibility


def test_multiple_versions_listed_in_creation_order(http, service):
    asset = create_asset(http, service["sid"])
    sids = [upload_asset_version(http, service["sid"], asset["sid"], f"/v{i}.txt", f"{i}".encode())["sid"]
            for i in range(3)]
    resp = http.get(f"/v1/Services/{service['sid']}/Assets/{asset['sid']}/Versions")
    assert resp.status_code == 200
    body = resp.json()
    assert body["meta"]["key"] == "asset_versions"
    assert [v["sid"] for v in body["asset_versions"]] == sids


def test_asset_version_under_wrong_asset_is_404(http, service):
    a1 = create_asset(http, service["sid"])
    a2 = create_asset(http, service["sid"])
    v = upload_asset_version(http, service["sid"], a1["sid"])
    assert_error(http.get(f"/v1/Services/{service['sid']}/Assets/{a2['sid']}/Versions/{v['sid']}"), 404, 20404)
    assert_error(http.get(f"/v1/Services/{service['sid']}/Assets/{a1['sid']}/Versions/{fake_sid('ZN')}"),
                 404, 20404)


def test_upload_function_version_and_content(client, http, server, service):
    fn = create_function(http, service["sid"])
    code = "exports.handler = function (context, event, callback) {\n  callback(null, 'ünïcode ✓');\n};\n"
    version = upload_function_version(http, service["sid"], fn["sid"], "/hello", code, "protected")
    assert_sid(version["sid"], "ZN")
    assert version["function_sid"] == fn["sid"]
    assert version["path"] == "/hello"
    assert version["visibility"] == "protected"
    url = f"{server.base_url}/v1/Services/{service['sid']}/Functions/{fn['sid']}/Versions/{version['sid']}"
    assert version["url"] == url
    assert version["links"]["function_version_content"] == url + "/Content"

    fv = client.serverless.v1.services(service["sid"]).functions(fn["sid"]).function_versions
    assert fv(version["sid"]).fetch().path == "/hello"
    assert [v.sid for v in fv.list()] == [version["sid"]]
    content = fv(version["sid"]).function_version_content().fetch()
    assert content.content == code
    assert content.sid == version["sid"]
    assert content.function_sid == fn["sid"]

    raw = http.get(f"/v1/Services/{service['sid']}/Functions/{fn['sid']}/Versions/{version['sid']}/Content")
    assert raw.status_code == 200
    body = raw.json()
    assert {"sid", "account_sid", "service_sid", "function_sid", "content", "url"} <= set(body)
    assert body["content"] == code
    assert body["account_sid"] == server.account_sid
    assert body["url"] == url + "/Content"


def test_upload_to_unknown_asset_or_service_is_404(http, service):
    asset = create_asset(http, service["sid"])
    assert_error(upload(http, service["sid"], "Assets", fake_sid("ZH"), "/a", b"x"), 404, 20404)
    assert_error(upload(http, fake_sid("ZS"), "Assets", asset["sid"], "/a", b"x"), 404, 20404)
    assert_error(upload(http, service["sid"], "Assets", "ZHnope", "/a", b"x"), 404, 20404)
    assert_error(upload(http, service["sid"], "Functions", fake_sid("ZH"), "/a", b"x"), 404, 20404)


def test_unknown_sids_on_asset_endpoints_raise_404(client, service):
    svc = client.serverless.v1.services(service["sid"])
    expect_twilio_error(404, 20404, svc.assets(fake_sid("ZH")).fetch)
    expect_twilio_error(404, 20404, svc.assets(fake_sid("ZH")).update, friendly_name="x")
    expect_twilio_error(404, 20404, svc.assets(fake_sid("ZH")).delete)
    expect_twilio_error(404, 20404, svc.assets("ZH-bad").fetch)
    expect_twilio_error(404, 20404, svc.functions(fake_sid("ZH")).fetch)
    expect_twilio_error(404, 20404, client.serverless.v1.services(fake_sid("ZS")).assets.create,
                        friendly_name=uniq("a"))
