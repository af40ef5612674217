"""Serverless Toolkit / Assets plugin wire quirks the server must accept."""

import httpx
from helpers import (
    asset_with_version,
    create_asset,
    create_environment,
    create_service,
    upload_asset_version,
    wait_build,
)


def test_path_without_leading_slash_gets_one(http):
    svc = create_service(http)
    asset = create_asset(http, svc["sid"])
    v = upload_asset_version(http, svc["sid"], asset["sid"], "logo.png", b"png")
    assert v["path"] == "/logo.png"
    fetched = http.get(f"/v1/Services/{svc['sid']}/Assets/{asset['sid']}/Versions/{v['sid']}").json()
    assert fetched["path"] == "/logo.png"


def test_percent_encoded_path_stored_verbatim(http):
    svc = create_service(http)
    asset = create_asset(http, svc["sid"])
    # the Assets plugin sends encodeURIComponent(basename(file)) without a slash
    v = upload_asset_version(http, svc["sid"], asset["sid"], "my%20file.txt", b"x")
    assert v["path"] == "/my%20file.txt"
    v2 = upload_asset_version(http, svc["sid"], asset["sid"], "/dir/na%C3%AFve%2Bplus.txt", b"y")
    assert v2["path"] == "/dir/na%C3%AFve%2Bplus.txt"


def test_dependencies_with_extra_quotes_raw_form_body(http):
    """Exactly the body shape the toolkit sends (querystring.stringify, Dependencies wrapped in quotes)."""
    svc = create_service(http)
    _, av1 = asset_with_version(http, svc["sid"], "/a.css")
    _, av2 = asset_with_version(http, svc["sid"], "/b.css")
    deps = '"[{"name":"@twilio/runtime-handler","version":"2.1.0"},{"name":"twilio","version":"*"}]"'
    body = httpx.QueryParams([("Dependencies", deps), ("AssetVersions", av1["sid"]),
                              ("AssetVersions", av2["sid"]), ("Runtime", "node22")])
    resp = http.post(f"/v1/Services/{svc['sid']}/Builds", content=str(body).encode(),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 201, resp.text
    build = resp.json()
    assert build["dependencies"] == [{"name": "@twilio/runtime-handler", "version": "2.1.0"},
                                     {"name": "twilio", "version": "*"}]
    assert [v["sid"] for v in build["asset_versions"]] == [av1["sid"], av2["sid"]]
    assert build["runtime"] == "node22"
    assert wait_build(http, svc["sid"], build["sid"]) == "completed"


def test_toolkit_upload_part_order_and_function_filename(http):
    """Parts Path, Visibility, Content (filename without extension, application/javascript)."""
    svc = create_service(http)
    fn = http.post(f"/v1/Services/{svc['sid']}/Functions", data={"FriendlyName": "/hello"}).json()
    resp = http.post(f"/v1/Services/{svc['sid']}/Functions/{fn['sid']}/Versions",
                     data={"Path": "/hello", "Visibility": "protected"},
                     files={"Content": ("hello", b"exports.handler = () => {};", "application/javascript")})
    assert resp.status_code == 201, resp.text
    assert resp.json()["visibility"] == "protected"


def test_environment_lookup_by_null_suffix(http):
    """The toolkit finds the production env via domain_suffix === null in the list."""
    svc = create_service(http)
    create_environment(http, svc["sid"], "dev-environment", "dev")
    prod = create_environment(http, svc["sid"], "production")
    envs = http.get(f"/v1/Services/{svc['sid']}/Environments").json()["environments"]
    assert [e["sid"] for e in envs if e["domain_suffix"] is None] == [prod["sid"]]
    assert [e["domain_suffix"] for e in envs] == ["dev", None]
