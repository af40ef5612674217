"""Environments, Deployments and Variables."""

import pytest
from helpers import (
    assert_date,
    assert_error,
    assert_sid,
    asset_with_version,
    completed_build,
    create_environment,
    create_service,
    deploy,
    expect_twilio_error,
    fake_sid,
    uniq,
)


@pytest.fixture
def service(http):
    return create_service(http)


@pytest.fixture
def build(http, service):
    _, av = asset_with_version(http, service["sid"])
    return completed_build(http, service["sid"], [av["sid"]])


def test_create_environment_without_suffix(client, server, service):
    env = client.serverless.v1.services(service["sid"]).environments.create(unique_name="production")
    assert_sid(env.sid, "ZE")
    assert env.unique_name == "production"
    assert env.domain_suffix is None
    assert env.domain_name == f"{service['domain_base']}.localhost"
    assert env.build_sid is None
    assert env.service_sid == service["sid"]
    assert env.account_sid == server.account_sid
    base = f"{server.base_url}/v1/Services/{service['sid']}/Environments/{env.sid}"
    assert env.url == base
    assert env.links["variables"] == base + "/Variables"
    assert env.links["deployments"] == base + "/Deployments"


def test_create_environment_with_suffix(http, service):
    resp = http.post(f"/v1/Services/{service['sid']}/Environments",
                     data={"UniqueName": "dev-environment", "DomainSuffix": "dev"})
    assert resp.status_code == 201, resp.text
    env = resp.json()
    assert env["domain_suffix"] == "dev"
    assert env["domain_name"] == f"{service['domain_base']}-dev.localhost"
    assert env["build_sid"] is None
    assert_date(env["date_created"])
    assert_date(env["date_updated"])


def test_base_domain_flag(server_factory):
    srv = server_factory("--base-domain", "assets.example.test")
    with srv.http_client() as h:
        svc = create_service(h, uniq("Dom"))
        env = create_environment(h, svc["sid"], "stage", "stage")
        assert env["domain_name"] == f"{svc['domain_base']}-stage.assets.example.test"
        assert env["domain_name"].startswith(svc["unique_name"].lower() + "-")


def test_environment_fetch_list_delete(client, service):
    envs = client.serverless.v1.services(service["sid"]).environments
    e1 = envs.create(unique_name="one", domain_suffix="one")
    e2 = envs.create(unique_name="two")
    assert [e.sid for e in envs.list()] == [e1.sid, e2.sid]
    assert envs(e1.sid).fetch().domain_suffix == "one"
    assert envs(e1.sid).delete() is True
    expect_twilio_error(404, 20404, envs(e1.sid).fetch)
    assert [e.sid for e in envs.list()] == [e2.sid]
    # unique name / suffix are free again after deletion
    assert envs.create(unique_name="one", domain_suffix="one").sid != e1.sid


def test_duplicate_environment_unique_name_or_suffix_conflicts(client, service):
    envs = client.serverless.v1.services(service["sid"]).environments
    envs.create(unique_name="staging", domain_suffix="stage")
    expect_twilio_error(409, 20409, envs.create, unique_name="staging", domain_suffix="other")
    expect_twilio_error(409, 20409, envs.create, unique_name="staging")
    expect_twilio_error(409, 20409, envs.create, unique_name="staging2", domain_suffix="stage")
    assert len(envs.list()) == 1


def test_same_environment_names_in_different_services(http, service):
    other = create_service(http)
    create_environment(http, service["sid"], "production")
    create_environment(http, service["sid"], "dev", "dev")
    create_environment(http, other["sid"], "production")
    create_environment(http, other["sid"], "dev", "dev")


@pytest.mark.parametrize("data, param", [
    ({}, "UniqueName"),
    ({"DomainSuffix": "x"}, "UniqueName"),
    ({"UniqueName": "u" * 101}, "UniqueName"),
    ({"UniqueName": "ok", "DomainSuffix": "s" * 17}, "DomainSuffix"),
], ids=["missing", "missing-with-suffix", "unique-101", "suffix-17"])
def test_environment_validation(http, service, data, param):
    assert_error(http.post(f"/v1/Services/{service['sid']}/Environments", data=data), 400, 20001, param)


def test_environment_length_limits_accepted(http, service):
    env = create_environment(http, service["sid"], "u" * 100, "s" * 16)
    assert env["unique_name"] == "u" * 100
    assert env["domain_suffix"] == "s" * 16


def test_deploy_build(client, server, service, build):
    svc = client.serverless.v1.services(service["sid"])
    env = svc.environments.create(unique_name="dev", domain_suffix="dev")
    dep = svc.environments(env.sid).deployments.create(build_sid=build["sid"])
    assert_sid(dep.sid, "ZD")
    assert dep.build_sid == build["sid"]
    assert dep.environment_sid == env.sid
    assert dep.service_sid == service["sid"]
    assert dep.account_sid == server.account_sid
    assert svc.environments(env.sid).fetch().build_sid == build["sid"]
    assert svc.environments(env.sid).deployments(dep.sid).fetch().build_sid == build["sid"]
    assert [d.sid for d in svc.environments(env.sid).deployments.list()] == [dep.sid]


def test_deploy_returns_201(http, service, build):
    env = create_environment(http, service["sid"])
    resp = deploy(http, service["sid"], env["sid"], build["sid"])
    assert resp.status_code == 201, resp.text
    assert resp.json()["build_sid"] == build["sid"]
    assert_date(resp.json()["date_created"])


def test_redeploy_live_build_conflicts(client, http, service, build):
    svc = client.serverless.v1.services(service["sid"])
    env = svc.environments.create(unique_name="prod")
    svc.environments(env.sid).deployments.create(build_sid=build["sid"])
    expect_twilio_error(409, 20409, svc.environments(env.sid).deployments.create, build_sid=build["sid"])
    assert len(svc.environments(env.sid).deployments.list()) == 1
    # another build, then back to the first: both allowed
    _, av = asset_with_version(http, service["sid"])
    b2 = completed_build(http, service["sid"], [av["sid"]])
    svc.environments(env.sid).deployments.create(build_sid=b2["sid"])
    assert svc.environments(env.sid).fetch().build_sid == b2["sid"]
    svc.environments(env.sid).deployments.create(build_sid=build["sid"])
    assert svc.environments(env.sid).fetch().build_sid == build["sid"]
    assert len(svc.environments(env.sid).deployments.list()) == 3


def test_same_build_in_two_environments(client, service, build):
    svc = client.serverless.v1.services(service["sid"])
    dev = svc.environments.create(unique_name="dev", domain_suffix="dev")
    prod = svc.environments.create(unique_name="production")
    svc.environments(dev.sid).deployments.create(build_sid=build["sid"])
    svc.environments(prod.sid).deployments.create(build_sid=build["sid"])
    assert svc.environments(dev.sid).fetch().build_sid == build["sid"]
    assert svc.environments(prod.sid).fetch().build_sid == build["sid"]


def test_deploy_unknown_build_or_environment(client, http, service, build):
    svc = client.serverless.v1.services(service["sid"])
    env = svc.environments.create(unique_name="e")
    missing = fake_sid("ZB")
    assert_error(deploy(http, service["sid"], env.sid, missing), 404, 20404, missing)
    assert svc.environments(env.sid).fetch().build_sid is None
    expect_twilio_error(404, 20404, svc.environments(fake_sid("ZE")).deployments.create, build_sid=build["sid"])
    expect_twilio_error(404, 20404, svc.environments(env.sid).deployments(fake_sid("ZD")).fetch)
    expect_twilio_error(404, 20404, svc.environments(fake_sid("ZE")).fetch)
    expect_twilio_error(404, 20404, svc.environments("ZEbad").delete)


# ------------------------------------------------------------------------------------------ variables

@pytest.fixture
def env(http, service):
    return create_environment(http, service["sid"], "vars")


def test_variable_crud(client, server, service, env):
    variables = client.serverless.v1.services(service["sid"]).environments(env["sid"]).variables
    var = variables.create(key="API_URL", value="https://example.com")
    assert_sid(var.sid, "ZV")
    assert (var.key, var.value) == ("API_URL", "https://example.com")
    assert var.environment_sid == env["sid"]
    assert var.account_sid == server.account_sid
    assert var.url == (f"{server.base_url}/v1/Services/{service['sid']}/Environments/{env['sid']}"
                       f"/Variables/{var.sid}")
    updated = variables(var.sid).update(value="changed")
    assert (updated.key, updated.value) == ("API_URL", "changed")
    assert variables(var.sid).fetch().value == "changed"
    renamed = variables(var.sid).update(key="API_URL2")
    assert (renamed.key, renamed.value) == ("API_URL2", "changed")
    other = variables.create(key="OTHER", value="1")
    assert [(v.key, v.value) for v in variables.list()] == [("API_URL2", "changed"), ("OTHER", "1")]
    assert variables(var.sid).delete() is True
    expect_twilio_error(404, 20404, variables(var.sid).fetch)
    expect_twilio_error(404, 20404, variables(var.sid).update, value="x")
    assert [v.sid for v in variables.list()] == [other.sid]


def test_variable_duplicate_key_conflicts(client, service, env):
    variables = client.serverless.v1.services(service["sid"]).environments(env["sid"]).variables
    variables.create(key="K", value="1")
    expect_twilio_error(409, 20409, variables.create, key="K", value="2")
    second = variables.create(key="K2", value="2")
    expect_twilio_error(409, 20409, variables(second.sid).update, key="K")
    assert sorted(v.key for v in variables.list()) == ["K", "K2"]


@pytest.mark.parametrize("data, param", [
    ({"Value": "v"}, "Key"),
    ({"Key": "k"}, "Value"),
    ({"Key": "k" * 129, "Value": "v"}, "Key"),
    ({"Key": "k", "Value": "v" * 451}, "Value"),
    ({"Key": "k", "Value": "€" * 151}, "Value"),  # 453 bytes, 151 chars
], ids=["missing-key", "missing-value", "key-129", "value-451", "value-453-bytes"])
def test_variable_validation(http, service, env, data, param):
    url = f"/v1/Services/{service['sid']}/Environments/{env['sid']}/Variables"
    assert_error(http.post(url, data=data), 400, 20001, param)


def test_variable_limits_accepted(http, service, env):
    url = f"/v1/Services/{service['sid']}/Environments/{env['sid']}/Variables"
    resp = http.post(url, data={"Key": "k" * 128, "Value": "€" * 150})  # 450 bytes
    assert resp.status_code == 201, resp.text
    assert resp.json()["value"] == "€" * 150


def test_variables_in_unknown_environment(client, service):
    env = client.serverless.v1.services(service["sid"]).environments(fake_sid("ZE"))
    expect_twilio_error(404, 20404, env.variables.create, key="K", value="v")
    expect_twilio_error(404, 20404, env.variables(fake_sid("ZV")).fetch)
