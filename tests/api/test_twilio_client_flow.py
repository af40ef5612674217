"""End-to-end deploy flow driven by the official twilio library (9.13.0), uploads via httpx multipart."""

import time

from helpers import (
    BUILD_TIMEOUT_S,
    expect_twilio_error,
    fake_sid,
    uniq,
    upload_asset_version,
    upload_function_version,
)
from twilio.base.exceptions import TwilioException


def _wait_completed(builds, build_sid):
    deadline = time.monotonic() + BUILD_TIMEOUT_S
    while time.monotonic() < deadline:
        status = builds(build_sid).build_status().fetch().status
        if status != "building":
            return status
        time.sleep(0.25)
    raise AssertionError(f"build {build_sid} did not finish within {BUILD_TIMEOUT_S}s")


def test_full_deploy_flow(client, http, server):
    services = client.serverless.v1.services
    name = uniq("flow")
    svc = services.create(unique_name=name, friendly_name="Flow", include_credentials=True, ui_editable=False)
    s = services(svc.sid)

    # assets + function, found again by friendly name like the toolkit does
    style = s.assets.create(friendly_name="/style.css")
    logo = s.assets.create(friendly_name="/logo.png")
    secret = s.assets.create(friendly_name="/secret.json")
    hello = s.functions.create(friendly_name="/hello")
    assert {a.friendly_name: a.sid for a in s.assets.list()} == {
        "/style.css": style.sid, "/logo.png": logo.sid, "/secret.json": secret.sid}

    v_style = upload_asset_version(http, svc.sid, style.sid, "/style.css", b"body{color:red}", "public",
                                   filename="style.css", mime="text/css")
    v_logo = upload_asset_version(http, svc.sid, logo.sid, "/logo.png", b"\x89PNG\r\n", "protected",
                                  filename="logo.png", mime="image/png")
    v_secret = upload_asset_version(http, svc.sid, secret.sid, "/secret.json", b'{"a":1}', "private",
                                    filename="secret.json", mime="application/json")
    v_hello = upload_function_version(http, svc.sid, hello.sid, "/hello")

    build = s.builds.create(asset_versions=[v_style["sid"], v_logo["sid"], v_secret["sid"]],
                            function_versions=[v_hello["sid"]],
                            dependencies='[{"name":"@twilio/runtime-handler","version":"2.1.0"}]')
    assert build.status == "building"
    assert _wait_completed(s.builds, build.sid) == "completed"
    fetched_build = s.builds(build.sid).fetch()
    assert {v["visibility"] for v in fetched_build.asset_versions} == {"public", "protected", "private"}
    assert fetched_build.dependencies == [{"name": "@twilio/runtime-handler", "version": "2.1.0"}]

    dev = s.environments.create(unique_name="dev-environment", domain_suffix="dev")
    prod = s.environments.create(unique_name="production")
    assert dev.domain_name == f"{svc.domain_base}-dev.localhost"
    assert prod.domain_name == f"{svc.domain_base}.localhost"
    assert dev.build_sid is None

    # variables before deploying (toolkit order)
    var = s.environments(dev.sid).variables.create(key="GREETING", value="hello")
    s.environments(dev.sid).variables(var.sid).update(value="ahoy")
    assert [(v.key, v.value) for v in s.environments(dev.sid).variables.list()] == [("GREETING", "ahoy")]

    dep = s.environments(dev.sid).deployments.create(build_sid=build.sid)
    assert dep.build_sid == build.sid
    assert s.environments(dev.sid).fetch().build_sid == build.sid
    expect_twilio_error(409, 20409, s.environments(dev.sid).deployments.create, build_sid=build.sid)

    # promote the same build to production
    s.environments(prod.sid).deployments.create(build_sid=build.sid)
    assert s.environments(prod.sid).fetch().build_sid == build.sid

    # redeploy: new versions for every file, new build reusing an older version
    v_style2 = upload_asset_version(http, svc.sid, style.sid, "/style.css", b"body{color:blue}", "public")
    build2 = s.builds.create(asset_versions=[v_style2["sid"], v_logo["sid"]], function_versions=[v_hello["sid"]])
    assert _wait_completed(s.builds, build2.sid) == "completed"
    s.environments(dev.sid).deployments.create(build_sid=build2.sid)
    assert s.environments(dev.sid).fetch().build_sid == build2.sid
    assert [d.build_sid for d in s.environments(dev.sid).deployments.list()] == [build.sid, build2.sid]
    assert [b.sid for b in s.builds.list()] == [build.sid, build2.sid]

    # build 1 is still live in production
    expect_twilio_error(409, 20409, s.builds(build.sid).delete)
    s.environments(prod.sid).deployments.create(build_sid=build2.sid)
    assert s.builds(build.sid).delete() is True
    assert [b.sid for b in s.builds.list()] == [build2.sid]

    # asset versions listing via the library
    assert [v.sid for v in s.assets(style.sid).asset_versions.list()] == [v_style["sid"], v_style2["sid"]]

    # tidy up: variable, service update, delete
    assert s.environments(dev.sid).variables(var.sid).delete() is True
    assert s.environments(dev.sid).variables.list() == []
    updated = s.update(friendly_name="Flow 2")
    assert updated.friendly_name == "Flow 2"
    assert services(name).fetch().friendly_name == "Flow 2"
    assert s.delete() is True
    expect_twilio_error(404, 20404, s.fetch)
    expect_twilio_error(404, 20404, s.environments(dev.sid).fetch)
    expect_twilio_error(404, 20404, s.builds(build2.sid).fetch)


def test_error_cases_surface_as_twilio_rest_exception(client, http):
    services = client.serverless.v1.services
    name = uniq("errs")
    svc = services.create(unique_name=name, friendly_name="E")
    s = services(svc.sid)
    # 409 duplicate unique name
    expect_twilio_error(409, 20409, services.create, unique_name=name, friendly_name="again")
    # 400 invalid parameters
    expect_twilio_error(400, 20001, services.create, unique_name="bad name!", friendly_name="x")
    expect_twilio_error(400, 20001, s.environments.create, unique_name="x" * 101)
    expect_twilio_error(400, 20001, s.builds.create)
    # 404 unknown
    expect_twilio_error(404, 20404, s.assets(fake_sid("ZH")).fetch)
    expect_twilio_error(404, 20404, s.builds(fake_sid("ZB")).build_status().fetch)
    expect_twilio_error(404, 20404, s.environments(fake_sid("ZE")).deployments.create, build_sid=fake_sid("ZB"))
    # environment conflicts
    s.environments.create(unique_name="stage", domain_suffix="stage")
    expect_twilio_error(409, 20409, s.environments.create, unique_name="stage2", domain_suffix="stage")
    # variables conflict
    env = s.environments.list()[0]
    s.environments(env.sid).variables.create(key="A", value="1")
    expect_twilio_error(409, 20409, s.environments(env.sid).variables.create, key="A", value="2")
    expect_twilio_error(400, 20001, s.environments(env.sid).variables.create, key="B", value="v" * 451)
    # lists of an unknown parent: library raises generic TwilioException (non-200 page)
    try:
        services(fake_sid("ZS")).assets.list()
    except TwilioException as exc:
        assert "Unable to fetch page" in str(exc)
    else:
        raise AssertionError("listing assets of an unknown service did not fail")
