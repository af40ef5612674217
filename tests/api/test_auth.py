"""Authentication (account SID + token, API keys) and account isolation."""

import base64
import secrets

import httpx
import pytest
from helpers import (
    assert_error,
    asset_with_version,
    completed_build,
    create_build,
    create_environment,
    create_function,
    create_service,
    deploy,
    expect_twilio_error,
    uniq,
    upload,
    upload_function_version,
)
from twilio.base.exceptions import TwilioException


def _raw(server, auth=None, headers=None) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, trust_env=False, timeout=30, auth=auth, headers=headers)


def test_no_credentials_is_401(server):
    with _raw(server) as c:
        for method, path in (("GET", "/v1/Services"), ("POST", "/v1/Services"),
                             ("GET", f"/v1/Services/ZS{'0' * 32}"), ("DELETE", f"/v1/Services/ZS{'0' * 32}")):
            assert_error(c.request(method, path), 401, 20003)


def test_wrong_password_is_401(server):
    with _raw(server, auth=(server.account_sid, secrets.token_hex(16))) as c:
        assert_error(c.get("/v1/Services"), 401, 20003)
        assert_error(c.post("/v1/Services", data={"UniqueName": uniq("x"), "FriendlyName": "x"}), 401, 20003)
    with _raw(server, auth=(server.account_sid, "")) as c:
        assert_error(c.get("/v1/Services"), 401, 20003)


def test_unknown_user_is_401(server):
    with _raw(server, auth=("AC" + secrets.token_hex(16), server.auth_token)) as c:
        assert_error(c.get("/v1/Services"), 401, 20003)
    with _raw(server, auth=("SK" + secrets.token_hex(16), server.auth_token)) as c:
        assert_error(c.get("/v1/Services"), 401, 20003)
    with _raw(server, auth=("nobody", "nothing")) as c:
        assert_error(c.get("/v1/Services"), 401, 20003)


def test_malformed_authorization_header_is_401(server):
    for value in ("Bearer abc", "Basic !!!notbase64", "Basic " + base64.b64encode(b"no-colon").decode()):
        with _raw(server, headers={"Authorization": value}) as c:
            assert_error(c.get("/v1/Services"), 401, 20003)


def test_wrong_credentials_with_twilio_client(server):
    client = server.twilio_client(server.account_sid, "0" * 32)
    expect_twilio_error(401, 20003, client.serverless.v1.services.create, unique_name=uniq("x"),
                        friendly_name="x")
    expect_twilio_error(401, 20003, client.serverless.v1.services("ZS" + "0" * 32).fetch)


def test_unauthenticated_upload_is_rejected_and_stores_nothing(server, http):
    svc = create_service(http)
    asset, _ = asset_with_version(http, svc["sid"])
    with _raw(server, auth=(server.account_sid, "wrong")) as c:
        resp = upload(c, svc["sid"], "Assets", asset["sid"], "/x.txt", b"x" * 100)
        assert_error(resp, 401, 20003)
    versions = http.get(f"/v1/Services/{svc['sid']}/Assets/{asset['sid']}/Versions").json()["asset_versions"]
    assert len(versions) == 1


def test_api_key_sees_same_account(server, http):
    svc = create_service(http)
    key_sid, secret = server.create_key()
    assert key_sid.startswith("SK") and len(key_sid) == 34
    with server.http_client(key_sid, secret) as kc:
        fetched = kc.get(f"/v1/Services/{svc['sid']}")
        assert fetched.status_code == 200, fetched.text
        assert fetched.json()["account_sid"] == server.account_sid
        created = create_service(kc)
        assert created["account_sid"] == server.account_sid
        asset = kc.post(f"/v1/Services/{svc['sid']}/Assets", data={"FriendlyName": "via-key"})
        assert asset.status_code == 201
        assert asset.json()["account_sid"] == server.account_sid
        # upload with the key too (the toolkit / plugin use API keys)
        resp = upload(kc, svc["sid"], "Assets", asset.json()["sid"], "/k.txt", b"k")
        assert resp.status_code == 201, resp.text
        assert resp.json()["account_sid"] == server.account_sid
        with _raw(server, auth=(key_sid, secret + "x")) as bad:
            assert_error(bad.get("/v1/Services"), 401, 20003)
    # the service created with the key is visible with the account token
    assert http.get(f"/v1/Services/{created['sid']}").status_code == 200


def test_api_key_with_twilio_client(server, http):
    svc = create_service(http)
    key_sid, secret = server.create_key()
    client = server.twilio_client(key_sid, secret, account_sid=server.account_sid)
    sids = [s.sid for s in client.serverless.v1.services.list()]
    assert svc["sid"] in sids
    assert client.serverless.v1.services(svc["unique_name"]).fetch().sid == svc["sid"]


def test_account_token_does_not_work_as_key_secret(server):
    key_sid, secret = server.create_key()
    with _raw(server, auth=(key_sid, server.auth_token)) as c:
        assert_error(c.get("/v1/Services"), 401, 20003)
    with _raw(server, auth=(server.account_sid, secret)) as c:
        assert_error(c.get("/v1/Services"), 401, 20003)


# ---------------------------------------------------------------------------------------- isolation

@pytest.fixture
def world(http):
    """A full tree of resources in the main account."""
    svc = create_service(http)
    asset, av = asset_with_version(http, svc["sid"])
    fn = create_function(http, svc["sid"])
    fv = upload_function_version(http, svc["sid"], fn["sid"])
    build = completed_build(http, svc["sid"], [av["sid"]], [fv["sid"]])
    env = create_environment(http, svc["sid"], "prod")
    assert deploy(http, svc["sid"], env["sid"], build["sid"]).status_code == 201
    var = http.post(f"/v1/Services/{svc['sid']}/Environments/{env['sid']}/Variables",
                    data={"Key": "SECRET", "Value": "v"}).json()
    return {"svc": svc, "asset": asset, "av": av, "fn": fn, "fv": fv, "build": build, "env": env, "var": var}


def test_second_account_list_is_empty(server, world):
    # An account of its own: the session's `other_account` gets services from other suites
    # (tests/edge/test_usage.py deploys with it), so its list is empty only if they run later.
    sid, token = server.create_account()
    assert sid != server.account_sid
    with server.http_client(sid, token) as oc:
        body = oc.get("/v1/Services").json()
        assert body["services"] == []
    client = server.twilio_client(sid, token)
    assert client.serverless.v1.services.list() == []


def test_second_account_cannot_see_or_touch_resources(server, http, other_http, world):
    w = world
    s = f"/v1/Services/{w['svc']['sid']}"
    e = f"{s}/Environments/{w['env']['sid']}"
    for path in (s, f"/v1/Services/{w['svc']['unique_name']}", f"{s}/Assets", f"{s}/Assets/{w['asset']['sid']}",
                 f"{s}/Assets/{w['asset']['sid']}/Versions", f"{s}/Assets/{w['asset']['sid']}/Versions/{w['av']['sid']}",
                 f"{s}/Functions/{w['fn']['sid']}", f"{s}/Functions/{w['fn']['sid']}/Versions/{w['fv']['sid']}",
                 f"{s}/Functions/{w['fn']['sid']}/Versions/{w['fv']['sid']}/Content",
                 f"{s}/Builds", f"{s}/Builds/{w['build']['sid']}", f"{s}/Builds/{w['build']['sid']}/Status",
                 f"{s}/Environments", e, f"{e}/Deployments", f"{e}/Variables", f"{e}/Variables/{w['var']['sid']}"):
        assert_error(other_http.get(path), 404, 20404)

    # writes
    assert_error(other_http.post(s, data={"FriendlyName": "hijacked"}), 404, 20404)
    assert_error(other_http.post(f"{s}/Assets", data={"FriendlyName": "x"}), 404, 20404)
    assert_error(other_http.post(f"{s}/Assets/{w['asset']['sid']}", data={"FriendlyName": "x"}), 404, 20404)
    assert_error(upload(other_http, w["svc"]["sid"], "Assets", w["asset"]["sid"], "/evil.txt", b"evil"), 404, 20404)
    assert_error(create_build(other_http, w["svc"]["sid"], [w["av"]["sid"]]), 404, 20404)
    assert_error(other_http.post(f"{s}/Environments", data={"UniqueName": "x"}), 404, 20404)
    assert_error(other_http.post(f"{e}/Deployments", data={"BuildSid": w["build"]["sid"]}), 404, 20404)
    assert_error(other_http.post(f"{e}/Variables", data={"Key": "A", "Value": "b"}), 404, 20404)
    assert_error(other_http.post(f"{e}/Variables/{w['var']['sid']}", data={"Value": "b"}), 404, 20404)
    # deletes
    for path in (f"{e}/Variables/{w['var']['sid']}", e, f"{s}/Builds/{w['build']['sid']}",
                 f"{s}/Assets/{w['asset']['sid']}", f"{s}/Functions/{w['fn']['sid']}", s):
        assert_error(other_http.delete(path), 404, 20404)

    # nothing changed for the owner
    assert http.get(s).json()["friendly_name"] == w["svc"]["friendly_name"]
    assert http.get(f"{s}/Assets/{w['asset']['sid']}").status_code == 200
    assert len(http.get(f"{s}/Assets/{w['asset']['sid']}/Versions").json()["asset_versions"]) == 1
    assert http.get(e).json()["build_sid"] == w["build"]["sid"]
    assert http.get(f"{e}/Variables/{w['var']['sid']}").json()["value"] == "v"


def test_second_account_errors_via_twilio_client(server, other_account, world):
    client = server.twilio_client(*other_account)
    svc = client.serverless.v1.services(world["svc"]["sid"])
    expect_twilio_error(404, 20404, svc.fetch)
    expect_twilio_error(404, 20404, svc.update, friendly_name="x")
    expect_twilio_error(404, 20404, svc.delete)
    expect_twilio_error(404, 20404, svc.assets(world["asset"]["sid"]).fetch)
    expect_twilio_error(404, 20404, svc.builds(world["build"]["sid"]).fetch)
    expect_twilio_error(404, 20404, svc.environments(world["env"]["sid"]).fetch)
    with pytest.raises(TwilioException):
        svc.assets.list()


def test_second_account_can_build_only_with_own_versions(server, other_http, world):
    own = create_service(other_http)
    resp = create_build(other_http, own["sid"], [world["av"]["sid"]])
    assert_error(resp, 404, 20404, world["av"]["sid"])


def test_unique_names_are_per_account(server, http, other_http):
    name = uniq("shared")
    mine = create_service(http, name)
    theirs = create_service(other_http, name)
    assert mine["sid"] != theirs["sid"]
    assert http.get(f"/v1/Services/{name}").json()["sid"] == mine["sid"]
    assert other_http.get(f"/v1/Services/{name}").json()["sid"] == theirs["sid"]


def test_api_key_of_second_account_sees_only_that_account(server, http, other_account, world):
    key_sid, secret = server.create_key(other_account[0])
    with server.http_client(key_sid, secret) as kc:
        assert_error(kc.get(f"/v1/Services/{world['svc']['sid']}"), 404, 20404)
        created = create_service(kc)
        assert created["account_sid"] == other_account[0]
    assert_error(http.get(f"/v1/Services/{created['sid']}"), 404, 20404)
