"""Bad input: unknown/malformed SIDs, missing parameters, upload Path/Visibility/Content validation."""

import pytest
from helpers import (
    assert_error,
    asset_with_version,
    completed_build,
    create_asset,
    create_build,
    create_environment,
    create_function,
    create_service,
    expect_twilio_error,
    fake_sid,
    upload,
    upload_asset_version,
    upload_function_version,
)


@pytest.fixture
def service(http):
    return create_service(http)


@pytest.fixture
def asset(http, service):
    return create_asset(http, service["sid"])


MALFORMED = ["abc", "ZS", "ZS" + "0" * 31, "ZS" + "0" * 33, "ZS" + "g" * 32, "ZZ" + "0" * 32, "%27%20OR%201=1",
             "ZS" + "0" * 32 + "%00"]


@pytest.mark.parametrize("sid", MALFORMED)
def test_malformed_sids_in_path_are_404(http, service, sid):
    zs = service["sid"]
    for path in (f"/v1/Services/{zs}/Assets/{sid}", f"/v1/Services/{zs}/Functions/{sid}",
                 f"/v1/Services/{zs}/Builds/{sid}", f"/v1/Services/{zs}/Builds/{sid}/Status",
                 f"/v1/Services/{zs}/Environments/{sid}", f"/v1/Services/{sid}/Assets",
                 f"/v1/Services/{sid}/Environments"):
        assert_error(http.get(path), 404, 20404)


def test_wrong_prefix_sids_are_404(client, http, service):
    _, version = asset_with_version(http, service["sid"])
    build = completed_build(http, service["sid"], [version["sid"]])
    svc = client.serverless.v1.services(service["sid"])
    # a real SID of the wrong type in each position
    expect_twilio_error(404, 20404, client.serverless.v1.services(build["sid"]).fetch)
    expect_twilio_error(404, 20404, svc.assets(build["sid"]).fetch)
    expect_twilio_error(404, 20404, svc.builds(version["sid"]).fetch)
    expect_twilio_error(404, 20404, svc.environments(build["sid"]).fetch)
    expect_twilio_error(404, 20404, svc.assets(version["asset_sid"]).asset_versions(build["sid"]).fetch)


def test_unknown_well_formed_sids_are_404(client, http, service):
    env = create_environment(http, service["sid"])
    svc = client.serverless.v1.services(service["sid"])
    expect_twilio_error(404, 20404, svc.assets(fake_sid("ZH")).asset_versions(fake_sid("ZN")).fetch)
    expect_twilio_error(404, 20404, svc.functions(fake_sid("ZH")).function_versions(fake_sid("ZN")).fetch)
    expect_twilio_error(404, 20404, svc.builds(fake_sid("ZB")).fetch)
    expect_twilio_error(404, 20404, svc.environments(fake_sid("ZE")).fetch)
    expect_twilio_error(404, 20404, svc.environments(env["sid"]).deployments(fake_sid("ZD")).fetch)
    expect_twilio_error(404, 20404, svc.environments(env["sid"]).variables(fake_sid("ZV")).fetch)
    expect_twilio_error(404, 20404, svc.environments(env["sid"]).variables(fake_sid("ZV")).delete)


def test_unknown_route_is_404_json(http):
    assert_error(http.get("/v1/NoSuchThing"), 404, 20404)


def test_missing_parameters_name_the_parameter(http, service):
    zs = service["sid"]
    assert_error(http.post(f"/v1/Services/{zs}/Assets", data={}), 400, 20001, "FriendlyName")
    assert_error(http.post(f"/v1/Services/{zs}/Functions", data={}), 400, 20001, "FriendlyName")
    assert_error(http.post(f"/v1/Services/{zs}/Environments", data={}), 400, 20001, "UniqueName")
    env = create_environment(http, zs)
    assert_error(http.post(f"/v1/Services/{zs}/Environments/{env['sid']}/Variables", data={"Key": "K"}),
                 400, 20001, "Value")


# ------------------------------------------------------------------------------------ upload validation

BAD_PATHS = {
    "too-long": "/" + "a" * 255,
    "dotdot": "/a/../b.txt",
    "leading-dotdot": "../etc/passwd",
    "dot": "/a/./b.txt",
    "trailing-dotdot": "/a/..",
    "pct-dotdot": "/%2e%2e/secret.txt",
    "pct-dotdot-upper": "/a/%2E%2E/b.txt",
    "pct-dot": "/a/%2e/b.txt",
    "double-slash": "/a//b.txt",
    "question": "/a.txt?x=1",
    "hash": "/a.txt#frag",
    "nul": "/a\x00b.txt",
    "newline": "/a\nb.txt",
    "tab": "/a\tb.txt",
    "del": "/a\x7fb.txt",
    "empty": "",
}


@pytest.mark.parametrize("path", list(BAD_PATHS.values()), ids=list(BAD_PATHS))
def test_bad_paths_rejected(http, service, asset, path):
    resp = upload(http, service["sid"], "Assets", asset["sid"], path, b"data")
    assert_error(resp, 400, 20001, "Path")
    versions = http.get(f"/v1/Services/{service['sid']}/Assets/{asset['sid']}/Versions").json()
    assert versions["asset_versions"] == []


def test_bad_path_rejected_for_functions(http, service):
    fn = create_function(http, service["sid"])
    resp = upload(http, service["sid"], "Functions", fn["sid"], "/x/../y", "exports.handler=()=>{}")
    assert_error(resp, 400, 20001, "Path")


def test_path_length_boundary(http, service, asset):
    path = "/" + "a" * 254  # 255 chars
    assert upload_asset_version(http, service["sid"], asset["sid"], path, b"x")["path"] == path
    no_slash = "b" * 254  # becomes 255 chars with the leading slash
    assert upload_asset_version(http, service["sid"], asset["sid"], no_slash, b"x")["path"] == "/" + no_slash


def test_unusual_but_valid_paths_accepted(http, service, asset):
    for path in ("/a/b/c/d.txt", "/.well-known/x.json", "/..hidden", "/a..b", "/ünïcode.txt"):
        v = upload_asset_version(http, service["sid"], asset["sid"], path, b"x")
        assert v["path"] == path


@pytest.mark.parametrize("visibility", ["secret", "", "publicc", "PUBLIC "])
def test_bad_visibility_rejected(http, service, asset, visibility):
    resp = upload(http, service["sid"], "Assets", asset["sid"], "/v.txt", b"x", visibility)
    assert_error(resp, 400, 20001, "Visibility")


def test_missing_visibility_rejected(http, service, asset):
    resp = upload(http, service["sid"], "Assets", asset["sid"], "/v.txt", b"x", None)
    assert_error(resp, 400, 20001, "Visibility")


def test_missing_path_rejected(http, service, asset):
    resp = upload(http, service["sid"], "Assets", asset["sid"], None, b"x")
    assert_error(resp, 400, 20001, "Path")


def test_missing_content_rejected(http, service, asset):
    resp = upload(http, service["sid"], "Assets", asset["sid"], "/c.txt", None)
    assert_error(resp, 400, 20001, "Content")
    fn = create_function(http, service["sid"])
    resp = upload(http, service["sid"], "Functions", fn["sid"], "/c", None)
    assert_error(resp, 400, 20001, "Content")


def test_upload_not_multipart_rejected(http, service, asset):
    resp = http.post(f"/v1/Services/{service['sid']}/Assets/{asset['sid']}/Versions",
                     data={"Path": "/x", "Visibility": "public"})
    assert resp.status_code == 400, resp.text
    assert_error(resp, 400, 20001)


def test_empty_file_is_accepted(http, service, asset):
    v = upload_asset_version(http, service["sid"], asset["sid"], "/empty.txt", b"")
    assert v["path"] == "/empty.txt"


def test_build_with_function_version_as_asset_version_rejected(http, service):
    fn = create_function(http, service["sid"])
    fv = upload_function_version(http, service["sid"], fn["sid"])
    resp = create_build(http, service["sid"], asset_versions=[fv["sid"]])
    assert_error(resp, 400, 20001, fv["sid"], "function version")


def test_nul_bytes_in_parameters_are_rejected(http, service):
    """NUL characters give 400 on every backend (PostgreSQL could not store them), never a 500."""
    zs = service["sid"]
    env = create_environment(http, zs)
    cases = [
        ("/v1/Services", {"UniqueName": "nul\x00name", "FriendlyName": "x"}, "UniqueName"),
        ("/v1/Services", {"UniqueName": "nul-" + fake_sid("ZS")[2:10], "FriendlyName": "a\x00b"}, "FriendlyName"),
        (f"/v1/Services/{zs}/Assets", {"FriendlyName": "/a\x00b"}, "FriendlyName"),
        (f"/v1/Services/{zs}/Environments", {"UniqueName": "e\x00v", "DomainSuffix": "nul"}, "UniqueName"),
        (f"/v1/Services/{zs}/Environments/{env['sid']}/Variables", {"Key": "K\x00", "Value": "v"}, "Key"),
        (f"/v1/Services/{zs}/Environments/{env['sid']}/Variables", {"Key": "K0", "Value": "v\x00"}, "Value"),
    ]
    for url, data, param in cases:
        assert_error(http.post(url, data=data), 400, 20001, param)


@pytest.mark.parametrize("ident", ["nul%00name", "ZS" + "0" * 32 + "%00", "%C3%28", "a" * 300])
def test_odd_service_identifiers_are_404(http, ident):
    for path in (f"/v1/Services/{ident}", f"/v1/Services/{ident}/Assets", f"/v1/Services/{ident}/Builds"):
        assert_error(http.get(path), 404, 20404)
