"""Services: /v1/Services[/{Sid or UniqueName}]."""

import re

import pytest
from helpers import assert_date, assert_error, assert_sid, create_service, expect_twilio_error, fake_sid, uniq


def test_create_service_with_twilio_client_returns_full_resource(client, http, server):
    name = uniq("Svc")  # mixed case on purpose
    svc = client.serverless.v1.services.create(unique_name=name, friendly_name="My Service")
    assert_sid(svc.sid, "ZS")
    assert svc.account_sid == server.account_sid
    assert svc.unique_name == name
    assert svc.friendly_name == "My Service"
    assert svc.include_credentials is True
    assert svc.ui_editable is False
    assert re.fullmatch(re.escape(name.lower()) + r"-\d{4}", svc.domain_base), svc.domain_base
    assert svc.url == f"{server.base_url}/v1/Services/{svc.sid}"
    assert set(svc.links) >= {"environments", "functions", "assets", "builds"}
    assert svc.links["assets"] == f"{server.base_url}/v1/Services/{svc.sid}/Assets"

    raw = http.get(f"/v1/Services/{svc.sid}")
    assert raw.status_code == 200
    assert raw.headers["content-type"].startswith("application/json")
    body = raw.json()
    assert_date(body["date_created"])
    assert_date(body["date_updated"])


def test_create_service_status_201_and_flags(http):
    name = uniq("svc")
    resp = http.post("/v1/Services", data={"UniqueName": name, "FriendlyName": "x",
                                           "IncludeCredentials": "false", "UiEditable": "true"})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["include_credentials"] is False
    assert body["ui_editable"] is True
    assert body["unique_name"] == name


def test_fetch_service_by_sid_and_unique_name(client):
    name = uniq("svc")
    created = client.serverless.v1.services.create(unique_name=name, friendly_name="F")
    by_sid = client.serverless.v1.services(created.sid).fetch()
    by_name = client.serverless.v1.services(name).fetch()
    assert by_sid.sid == by_name.sid == created.sid
    assert by_name.unique_name == name
    assert by_name.domain_base == created.domain_base


def test_update_service(client):
    svc = client.serverless.v1.services.create(unique_name=uniq("svc"), friendly_name="before")
    updated = client.serverless.v1.services(svc.sid).update(friendly_name="after", include_credentials=False,
                                                             ui_editable=True)
    assert updated.friendly_name == "after"
    assert updated.include_credentials is False
    assert updated.ui_editable is True
    fetched = client.serverless.v1.services(svc.sid).fetch()
    assert (fetched.friendly_name, fetched.include_credentials, fetched.ui_editable) == ("after", False, True)
    assert fetched.unique_name == svc.unique_name


def test_update_service_by_unique_name(client):
    name = uniq("svc")
    svc = client.serverless.v1.services.create(unique_name=name, friendly_name="before")
    updated = client.serverless.v1.services(name).update(friendly_name="renamed")
    assert updated.sid == svc.sid
    assert client.serverless.v1.services(svc.sid).fetch().friendly_name == "renamed"


def test_unique_name_cannot_be_updated(http):
    svc = create_service(http)
    resp = http.post(f"/v1/Services/{svc['sid']}", data={"UniqueName": uniq("other"), "FriendlyName": "x"})
    # Twilio's update takes no UniqueName: it is ignored, like any parameter the update does not know.
    assert resp.status_code == 200, resp.text
    assert resp.json()["unique_name"] == svc["unique_name"]
    assert resp.json()["friendly_name"] == "x"
    fetched = http.get(f"/v1/Services/{svc['sid']}").json()
    assert fetched["unique_name"] == svc["unique_name"]
    assert fetched["domain_base"] == svc["domain_base"]


def test_delete_service_by_sid(client, http):
    svc = client.serverless.v1.services.create(unique_name=uniq("svc"), friendly_name="x")
    resp = http.delete(f"/v1/Services/{svc.sid}")
    assert resp.status_code == 204
    assert resp.content == b""
    expect_twilio_error(404, 20404, client.serverless.v1.services(svc.sid).fetch)
    expect_twilio_error(404, 20404, client.serverless.v1.services(svc.unique_name).fetch)


def test_delete_service_by_unique_name_with_twilio_client(client):
    name = uniq("svc")
    svc = client.serverless.v1.services.create(unique_name=name, friendly_name="x")
    assert client.serverless.v1.services(name).delete() is True
    expect_twilio_error(404, 20404, client.serverless.v1.services(svc.sid).fetch)
    expect_twilio_error(404, 20404, client.serverless.v1.services(svc.sid).delete)
    # the unique name is free again
    again = client.serverless.v1.services.create(unique_name=name, friendly_name="x")
    assert again.sid != svc.sid


def test_duplicate_unique_name_conflicts(client):
    name = uniq("svc")
    client.serverless.v1.services.create(unique_name=name, friendly_name="x")
    exc = expect_twilio_error(409, 20409, client.serverless.v1.services.create, unique_name=name,
                              friendly_name="y")
    assert exc.msg


def test_service_appears_in_list(client):
    svc = client.serverless.v1.services.create(unique_name=uniq("svc"), friendly_name="listed")
    sids = [s.sid for s in client.serverless.v1.services.list()]
    assert svc.sid in sids


@pytest.mark.parametrize("data, param", [
    ({"FriendlyName": "x"}, "UniqueName"),
    ({"UniqueName": "PLACEHOLDER"}, "FriendlyName"),
    ({"UniqueName": "a" * 51, "FriendlyName": "x"}, "UniqueName"),
    ({"UniqueName": "has space", "FriendlyName": "x"}, "UniqueName"),
    ({"UniqueName": "-leading", "FriendlyName": "x"}, "UniqueName"),
    ({"UniqueName": "trailing-", "FriendlyName": "x"}, "UniqueName"),
    ({"UniqueName": "under_score", "FriendlyName": "x"}, "UniqueName"),
    ({"UniqueName": "dot.name", "FriendlyName": "x"}, "UniqueName"),
    ({"UniqueName": "", "FriendlyName": "x"}, "UniqueName"),
    ({"UniqueName": "PLACEHOLDER", "FriendlyName": "f" * 256}, "FriendlyName"),
], ids=["missing-unique", "missing-friendly", "unique-51", "space", "leading-hyphen", "trailing-hyphen",
        "underscore", "dot", "empty-unique", "friendly-256"])
def test_create_service_validation(http, data, param):
    data = {k: (uniq("svc") if v == "PLACEHOLDER" else v) for k, v in data.items()}
    resp = http.post("/v1/Services", data=data)
    assert_error(resp, 400, 20001, param)


def test_create_service_validation_via_twilio_client(client):
    exc = expect_twilio_error(400, 20001, client.serverless.v1.services.create, unique_name="x" * 51,
                              friendly_name="x")
    assert "UniqueName" in exc.msg


def test_unique_name_limits_accepted(http):
    name = ("a" + uniq("b").replace("-", "") + "z" * 50)[:50]
    body = create_service(http, name, "f" * 255)
    assert body["unique_name"] == name
    assert len(body["friendly_name"]) == 255
    body2 = create_service(http, "A1-" + uniq("b"))
    assert body2["domain_base"].startswith(body2["unique_name"].lower() + "-")


def test_unknown_and_malformed_service_sids_are_404(client, http):
    for ident in (fake_sid("ZS"), "ZS123", "ZH" + "0" * 32, "no-such-service-" + uniq("x")):
        expect_twilio_error(404, 20404, client.serverless.v1.services(ident).fetch)
        expect_twilio_error(404, 20404, client.serverless.v1.services(ident).update, friendly_name="x")
        expect_twilio_error(404, 20404, client.serverless.v1.services(ident).delete)
    assert_error(http.get(f"/v1/Services/{fake_sid('ZS')}"), 404, 20404)


def test_invalid_boolean_rejected(http):
    resp = http.post("/v1/Services", data={"UniqueName": uniq("svc"), "FriendlyName": "x",
                                           "IncludeCredentials": "maybe"})
    assert_error(resp, 400, 20001, "IncludeCredentials")


def test_unicode_friendly_name_roundtrip(client):
    svc = client.serverless.v1.services.create(unique_name=uniq("svc"), friendly_name="Größe ✓ 日本")
    assert client.serverless.v1.services(svc.sid).fetch().friendly_name == "Größe ✓ 日本"


def test_domain_base_differs_between_services(http):
    a = create_service(http)
    b = create_service(http)
    assert a["domain_base"] != b["domain_base"]
    assert a["sid"] != b["sid"]
