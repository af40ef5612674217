"""Deployments switch what a domain serves from the very next request: redeploy, rollback, removal."""

from __future__ import annotations

import pytest
from edgekit import FileSpec, raw_request


def _get(site, path="/v.txt"):
    return raw_request(site.port, "GET", path, site.host, {"Accept-Encoding": "identity"})


def test_redeploy_and_rollback_are_immediate(deployer):
    site = deployer.site([FileSpec("/v.txt", b"version one\n"), FileSpec("/keep.txt", b"kept\n")])
    b1 = site.build_sid
    first = _get(site)
    assert (first.status, first.body) == (200, b"version one\n")
    b2 = deployer.build(site.service_sid, [FileSpec("/v.txt", b"version two!\n"), FileSpec("/keep.txt", b"kept\n")])
    for _ in range(3):
        deployer.deploy(site.service_sid, site.env_sid, b2)
        second = _get(site)  # no sleep
        assert (second.status, second.body) == (200, b"version two!\n")
        assert second.header("etag") != first.header("etag")
        assert second.header("content-length") == str(len(b"version two!\n"))
        deployer.deploy(site.service_sid, site.env_sid, b1)  # rollback
        back = _get(site)
        assert (back.status, back.body) == (200, b"version one\n")
        assert back.header("etag") == first.header("etag")


def test_old_etag_after_redeploy_gets_full_response(deployer):
    site = deployer.site([FileSpec("/v.txt", b"old bytes")])
    etag = _get(site).header("etag")
    b2 = deployer.build(site.service_sid, [FileSpec("/v.txt", b"new bytes")])
    deployer.deploy(site.service_sid, site.env_sid, b2)
    resp = raw_request(site.port, "GET", "/v.txt", site.host, {"If-None-Match": etag})
    assert resp.status == 200
    assert resp.body == b"new bytes"


def test_removed_file_is_gone_immediately(deployer):
    site = deployer.site([FileSpec("/v.txt", b"one"), FileSpec("/gone.txt", b"soon gone")])
    assert _get(site, "/gone.txt").status == 200
    b2 = deployer.build(site.service_sid, [FileSpec("/v.txt", b"two")])
    deployer.deploy(site.service_sid, site.env_sid, b2)
    resp = _get(site, "/gone.txt")
    assert resp.status == 404
    assert b"soon gone" not in resp.body


def test_public_to_private_is_immediate(deployer):
    site = deployer.site([FileSpec("/v.txt", b"was public")])
    missing = _get(site, "/never-existed.txt")
    b2 = deployer.build(site.service_sid, [FileSpec("/v.txt", b"now private", "private")])
    deployer.deploy(site.service_sid, site.env_sid, b2)
    resp = _get(site)
    assert resp.status == 404
    assert resp.body == missing.body
    assert b"private" not in resp.body


def test_public_to_protected_is_immediate(deployer):
    site = deployer.site([FileSpec("/v.txt", b"was public")])
    b2 = deployer.build(site.service_sid, [FileSpec("/v.txt", b"now protected", "protected")])
    deployer.deploy(site.service_sid, site.env_sid, b2)
    resp = _get(site)
    assert resp.status == 403
    assert b"now protected" not in resp.body
    assert site.signed("GET", "/v.txt").content == b"now protected"


def test_deploy_to_one_environment_leaves_the_other(deployer):
    service = deployer.service()
    b1 = deployer.build(service["sid"], [FileSpec("/v.txt", b"one")])
    b2 = deployer.build(service["sid"], [FileSpec("/v.txt", b"two")])
    dev, stage = deployer.environment(service["sid"], "dev"), deployer.environment(service["sid"], "stage")
    deployer.deploy(service["sid"], dev["sid"], b1)
    deployer.deploy(service["sid"], stage["sid"], b1)
    deployer.deploy(service["sid"], dev["sid"], b2)
    port = deployer.server.port
    assert raw_request(port, "GET", "/v.txt", f"{dev['domain_name']}:{port}").body == b"two"
    assert raw_request(port, "GET", "/v.txt", f"{stage['domain_name']}:{port}").body == b"one"


def test_environment_without_suffix(deployer):
    site = deployer.site([FileSpec("/v.txt", b"no suffix")], suffix=None)
    assert site.domain.endswith(".localhost")
    assert _get(site).body == b"no suffix"


def test_deleting_environment_stops_serving_at_once(deployer):
    site = deployer.site([FileSpec("/v.txt", b"alive")])
    assert _get(site).status == 200
    resp = deployer.http.delete(f"/v1/Services/{site.service_sid}/Environments/{site.env_sid}")
    assert resp.status_code == 204, resp.text
    resp = _get(site)
    assert resp.status == 404
    assert b"alive" not in resp.body


def test_deleting_service_stops_serving_at_once(deployer):
    site = deployer.site([FileSpec("/v.txt", b"alive")])
    env2 = deployer.environment(site.service_sid, "second")
    deployer.deploy(site.service_sid, env2["sid"], site.build_sid)
    host2 = f"{env2['domain_name']}:{site.port}"
    assert raw_request(site.port, "GET", "/v.txt", host2).status == 200
    resp = deployer.http.delete(f"/v1/Services/{site.service_sid}")
    assert resp.status_code == 204, resp.text
    for host in (site.host, host2):
        resp = raw_request(site.port, "GET", "/v.txt", host)
        assert resp.status == 404
        assert b"alive" not in resp.body


@pytest.mark.parametrize("n_files", [1, 40])
def test_many_quick_redeploys(deployer, n_files):
    specs_a = [FileSpec(f"/f{i}.txt", b"A%d" % i) for i in range(n_files)]
    specs_b = [FileSpec(f"/f{i}.txt", b"B%d" % i) for i in range(n_files)]
    site = deployer.site(specs_a)
    ba = site.build_sid
    bb = deployer.build(site.service_sid, specs_b)
    for round_ in range(4):
        build, letter = (bb, b"B") if round_ % 2 == 0 else (ba, b"A")
        deployer.deploy(site.service_sid, site.env_sid, build)
        last = n_files - 1
        assert _get(site, f"/f{last}.txt").body == letter + str(last).encode()
        assert _get(site, "/f0.txt").body == letter + b"0"
