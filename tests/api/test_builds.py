"""Builds and Build Status."""

import time

import pytest
from helpers import (
    BUILD_TIMEOUT_S,
    assert_date,
    assert_error,
    assert_sid,
    asset_with_version,
    completed_build,
    create_build,
    create_environment,
    create_function,
    create_service,
    deploy,
    expect_twilio_error,
    fake_sid,
    upload_function_version,
    wait_build,
)


@pytest.fixture
def service(http):
    return create_service(http)


@pytest.fixture
def versions(http, service):
    """Two asset versions (public, private) and one function version."""
    _, av1 = asset_with_version(http, service["sid"], "/style.css", b"body{}", "public")
    _, av2 = asset_with_version(http, service["sid"], "/data.json", b"{}", "private")
    fn = create_function(http, service["sid"])
    fv = upload_function_version(http, service["sid"], fn["sid"], "/fn", "exports.handler=()=>{}", "public")
    return av1, av2, fv


def test_create_build_with_twilio_client_and_poll_status(client, server, service, versions):
    av1, av2, fv = versions
    svc = client.serverless.v1.services(service["sid"])
    build = svc.builds.create(asset_versions=[av1["sid"], av2["sid"]], function_versions=[fv["sid"]],
                              dependencies='[{"name":"twilio","version":"3.29.2"}]')
    assert_sid(build.sid, "ZB")
    assert build.status == "building"
    assert build.account_sid == server.account_sid
    assert build.service_sid == service["sid"]
    assert build.runtime == "node22"
    assert build.dependencies == [{"name": "twilio", "version": "3.29.2"}]
    assert build.url == f"{server.base_url}/v1/Services/{service['sid']}/Builds/{build.sid}"

    embedded = {v["sid"]: v for v in build.asset_versions}
    assert set(embedded) == {av1["sid"], av2["sid"]}
    for src in (av1, av2):
        e = embedded[src["sid"]]
        assert e["asset_sid"] == src["asset_sid"]
        assert e["path"] == src["path"]
        assert e["visibility"] == src["visibility"]  # lower-case
        assert e["account_sid"] == server.account_sid
        assert e["service_sid"] == service["sid"]
        assert_date(e["date_created"])
    assert len(build.function_versions) == 1
    f = build.function_versions[0]
    assert (f["sid"], f["function_sid"], f["path"], f["visibility"]) == (fv["sid"], fv["function_sid"], "/fn",
                                                                          "public")

    deadline = time.monotonic() + BUILD_TIMEOUT_S
    status = svc.builds(build.sid).build_status().fetch()
    while status.status == "building" and time.monotonic() < deadline:
        time.sleep(0.2)
        status = svc.builds(build.sid).build_status().fetch()
    assert status.status == "completed"
    assert status.sid == build.sid
    assert status.url == f"{server.base_url}/v1/Services/{service['sid']}/Builds/{build.sid}/Status"
    assert svc.builds(build.sid).fetch().status == "completed"


def test_create_build_http_201_and_shape(http, server, service, versions):
    av1, _, _ = versions
    resp = create_build(http, service["sid"], [av1["sid"]])
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["status"] == "building"
    assert isinstance(body["dependencies"], list)
    assert body["function_versions"] == []
    assert [v["sid"] for v in body["asset_versions"]] == [av1["sid"]]
    assert body["links"]["build_status"] == f"{server.base_url}/v1/Services/{service['sid']}/Builds/{body['sid']}/Status"
    assert_date(body["date_created"])
    assert_date(body["date_updated"])
    assert wait_build(http, service["sid"], body["sid"]) == "completed"


def test_assets_only_and_functions_only_builds(http, service, versions):
    av1, _, fv = versions
    only_assets = completed_build(http, service["sid"], asset_versions=[av1["sid"]])
    assert only_assets["function_versions"] == []
    only_fn = completed_build(http, service["sid"], function_versions=[fv["sid"]])
    assert only_fn["asset_versions"] == []
    assert [v["sid"] for v in only_fn["function_versions"]] == [fv["sid"]]


@pytest.mark.parametrize("runtime", ["node8", "node18", "node20"])
def test_runtime_is_stored(http, service, versions, runtime):
    av1, _, _ = versions
    resp = create_build(http, service["sid"], [av1["sid"]], runtime=runtime)
    assert resp.status_code == 201, resp.text
    assert resp.json()["runtime"] == runtime
    assert http.get(f"/v1/Services/{service['sid']}/Builds/{resp.json()['sid']}").json()["runtime"] == runtime


@pytest.mark.parametrize("runtime", ["node99", "python3", "Node22", "node", "x" * 100])
def test_a_runtime_twilio_does_not_list_is_refused(client, http, service, versions, runtime):
    av1, _, _ = versions
    message = ("Runtime must be one of node8, node10, node12, node14, node16, node18, node20, node22"
               f" (got {runtime[:40]!r})")
    exc = expect_twilio_error(400, 20001, client.serverless.v1.services(service["sid"]).builds.create,
                              asset_versions=[av1["sid"]], runtime=runtime)
    assert exc.msg == f"Unable to create record: {message}"
    assert assert_error(create_build(http, service["sid"], [av1["sid"]], runtime=runtime), 400, 20001)["message"] == message
    builds = http.get(f"/v1/Services/{service['sid']}/Builds").json()["builds"]
    assert all(b["runtime"] != runtime for b in builds)


@pytest.mark.parametrize("deps", [
    '[{"name":"twilio","version":"3.29.2"},{"name":"@twilio/runtime-handler","version":"2.1.0"}]',
    '"[{"name":"twilio","version":"3.29.2"},{"name":"@twilio/runtime-handler","version":"2.1.0"}]"',
], ids=["plain-json", "toolkit-extra-quotes"])
def test_dependencies_parsed_to_list(http, service, versions, deps):
    av1, _, _ = versions
    resp = create_build(http, service["sid"], [av1["sid"]], dependencies=deps)
    assert resp.status_code == 201, resp.text
    expected = [{"name": "twilio", "version": "3.29.2"}, {"name": "@twilio/runtime-handler", "version": "2.1.0"}]
    assert resp.json()["dependencies"] == expected
    fetched = http.get(f"/v1/Services/{service['sid']}/Builds/{resp.json()['sid']}").json()
    assert fetched["dependencies"] == expected


def test_invalid_dependencies_rejected(http, service, versions):
    av1, _, _ = versions
    resp = create_build(http, service["sid"], [av1["sid"]], dependencies="not json at all {")
    assert_error(resp, 400, 20001, "Dependencies")


def test_versions_can_be_reused_in_new_build(http, service, versions):
    av1, av2, fv = versions
    b1 = completed_build(http, service["sid"], [av1["sid"], av2["sid"]], [fv["sid"]])
    b2 = completed_build(http, service["sid"], [av1["sid"]], [fv["sid"]])
    assert b1["sid"] != b2["sid"]
    assert [v["sid"] for v in b2["asset_versions"]] == [av1["sid"]]


def test_build_without_versions_is_400(client, http, service):
    assert_error(create_build(http, service["sid"]), 400, 20001)
    expect_twilio_error(400, 20001, client.serverless.v1.services(service["sid"]).builds.create)
    expect_twilio_error(400, 20001, client.serverless.v1.services(service["sid"]).builds.create,
                        dependencies='[{"name":"twilio","version":"3.29.2"}]')


def test_build_with_unknown_version_rejected(http, service, versions):
    av1, _, _ = versions
    missing = fake_sid("ZN")
    assert_error(create_build(http, service["sid"], [av1["sid"], missing]), 404, 20404, missing)
    assert_error(create_build(http, service["sid"], ["ZNnot-a-sid"]), 400, 20001, "ZNnot-a-sid")


def test_build_with_other_services_version_rejected(http, service):
    other = create_service(http)
    _, foreign = asset_with_version(http, other["sid"])
    assert_error(create_build(http, service["sid"], [foreign["sid"]]), 404, 20404, foreign["sid"])


def test_list_and_fetch_builds(client, service, versions, http):
    av1, _, _ = versions
    b1 = completed_build(http, service["sid"], [av1["sid"]])
    b2 = completed_build(http, service["sid"], [av1["sid"]])
    builds = client.serverless.v1.services(service["sid"]).builds
    assert [b.sid for b in builds.list()] == [b1["sid"], b2["sid"]]
    fetched = builds(b1["sid"]).fetch()
    assert fetched.status == "completed"
    assert [v["sid"] for v in fetched.asset_versions] == [av1["sid"]]


def test_delete_build(client, http, service, versions):
    av1, _, _ = versions
    build = completed_build(http, service["sid"], [av1["sid"]])
    builds = client.serverless.v1.services(service["sid"]).builds
    assert builds(build["sid"]).delete() is True
    expect_twilio_error(404, 20404, builds(build["sid"]).fetch)
    expect_twilio_error(404, 20404, builds(build["sid"]).build_status().fetch)
    expect_twilio_error(404, 20404, builds(build["sid"]).delete)


def test_delete_deployed_build_conflicts(client, http, service, versions):
    av1, _, _ = versions
    b1 = completed_build(http, service["sid"], [av1["sid"]])
    b2 = completed_build(http, service["sid"], [av1["sid"]])
    env = create_environment(http, service["sid"])
    assert deploy(http, service["sid"], env["sid"], b1["sid"]).status_code == 201
    builds = client.serverless.v1.services(service["sid"]).builds
    expect_twilio_error(409, 20409, builds(b1["sid"]).delete)
    assert builds(b1["sid"]).fetch().sid == b1["sid"]  # still there
    # superseded -> deletable
    assert deploy(http, service["sid"], env["sid"], b2["sid"]).status_code == 201
    assert builds(b1["sid"]).delete() is True
    expect_twilio_error(409, 20409, builds(b2["sid"]).delete)


def test_delete_build_after_environment_deleted(http, service, versions):
    av1, _, _ = versions
    build = completed_build(http, service["sid"], [av1["sid"]])
    env = create_environment(http, service["sid"])
    assert deploy(http, service["sid"], env["sid"], build["sid"]).status_code == 201
    assert_error(http.delete(f"/v1/Services/{service['sid']}/Builds/{build['sid']}"), 409, 20409)
    assert http.delete(f"/v1/Services/{service['sid']}/Environments/{env['sid']}").status_code == 204
    assert http.delete(f"/v1/Services/{service['sid']}/Builds/{build['sid']}").status_code == 204


def test_unknown_build_sids(client, service):
    builds = client.serverless.v1.services(service["sid"]).builds
    for sid in (fake_sid("ZB"), "ZBxyz", fake_sid("ZE")):
        expect_twilio_error(404, 20404, builds(sid).fetch)
        expect_twilio_error(404, 20404, builds(sid).build_status().fetch)
        expect_twilio_error(404, 20404, builds(sid).delete)


def test_build_status_payload(http, server, service, versions):
    av1, _, _ = versions
    build = completed_build(http, service["sid"], [av1["sid"]])
    body = http.get(f"/v1/Services/{service['sid']}/Builds/{build['sid']}/Status").json()
    assert body["sid"] == build["sid"]
    assert body["account_sid"] == server.account_sid
    assert body["service_sid"] == service["sid"]
    assert body["status"] == "completed"
    assert body["url"] == f"{server.base_url}/v1/Services/{service['sid']}/Builds/{build['sid']}/Status"


def test_a_build_of_more_than_a_thousand_versions(server, http):
    """1000 public + 50 protected versions: more form fields than Starlette's default maximum.
    (One asset with many versions under different paths; all but the first made from stored
    content, to keep the test quick.)"""
    import hashlib

    from helpers import create_asset, create_service, uniq, upload

    service = create_service(http, uniq("big"))
    asset = create_asset(http, service["sid"])
    first = upload(http, service["sid"], "Assets", asset["sid"], "/f0.txt", b"same bytes", "public")
    assert first.status_code == 201, first.text
    versions = [first.json()["sid"]]
    digest = hashlib.sha256(b"same bytes").hexdigest()
    for i in range(1, 1050):
        resp = http.post(
            f"/assethost/v1/Services/{service['sid']}/Assets/{asset['sid']}/Versions",
            data={"Path": f"/f{i}.txt", "Visibility": "public" if i < 1000 else "protected", "ContentSha256": digest},
        )
        assert resp.status_code == 201, resp.text
        versions.append(resp.json()["sid"])
    resp = http.post(f"/v1/Services/{service['sid']}/Builds", data={"AssetVersions": versions})
    assert resp.status_code == 201, resp.text
    assert len(resp.json()["asset_versions"]) == 1050
