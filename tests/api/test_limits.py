"""Per-file size limits and per-build version-count limits, on a server started with small limits."""

import os

import pytest
from helpers import (
    SMALL_LIMITS,
    assert_error,
    asset_with_version,
    completed_build,
    create_asset,
    create_build,
    create_function,
    create_service,
    expect_twilio_error,
    upload,
    upload_asset_version,
    upload_function_version,
)

PUB = SMALL_LIMITS["max_public_bytes"]       # 1000
PRIV = SMALL_LIMITS["max_private_bytes"]     # 500
N_PUB = SMALL_LIMITS["max_public_versions"]  # 3
N_PRIV = SMALL_LIMITS["max_private_versions"]  # 2
N_FN = SMALL_LIMITS["max_function_versions"]  # 2


@pytest.fixture
def lhttp(limited_server):
    with limited_server.http_client() as c:
        yield c


@pytest.fixture
def service(lhttp):
    return create_service(lhttp)


@pytest.mark.parametrize("visibility", ["public", "protected"])
def test_public_and_protected_size_limit(lhttp, service, visibility):
    asset = create_asset(lhttp, service["sid"])
    v = upload_asset_version(lhttp, service["sid"], asset["sid"], "/at-limit.bin", os.urandom(PUB), visibility)
    assert v["visibility"] == visibility
    resp = upload(lhttp, service["sid"], "Assets", asset["sid"], "/too-big.bin", os.urandom(PUB + 1), visibility,
                  filename="too-big.bin", mime="application/octet-stream")
    body = assert_error(resp, 413, 20413)
    assert "too-big.bin" in body["message"], body
    assert str(PUB) in body["message"], body


def test_private_size_limit(lhttp, service):
    asset = create_asset(lhttp, service["sid"])
    upload_asset_version(lhttp, service["sid"], asset["sid"], "/p.bin", os.urandom(PRIV), "private")
    resp = upload(lhttp, service["sid"], "Assets", asset["sid"], "/p2.bin", os.urandom(PRIV + 1), "private",
                  filename="p2.bin")
    body = assert_error(resp, 413, 20413)
    assert str(PRIV) in body["message"], body
    # the same size is fine as public (separate limit)
    upload_asset_version(lhttp, service["sid"], asset["sid"], "/p3.bin", os.urandom(PRIV + 1), "public")
    versions = lhttp.get(f"/v1/Services/{service['sid']}/Assets/{asset['sid']}/Versions").json()
    assert [v["path"] for v in versions["asset_versions"]] == ["/p.bin", "/p3.bin"]


def _versions(lhttp, zs, visibility, n):
    return [asset_with_version(lhttp, zs, f"/{visibility}-{i}.txt", os.urandom(16), visibility)[1]["sid"]
            for i in range(n)]


def test_private_versions_per_build(lhttp, limited_server, service):
    zs = service["sid"]
    priv = _versions(lhttp, zs, "private", N_PRIV + 1)
    completed_build(lhttp, zs, priv[:N_PRIV])
    body = assert_error(create_build(lhttp, zs, priv), 400, 20001, "private")
    assert str(N_PRIV) in body["message"] and str(N_PRIV + 1) in body["message"], body
    client = limited_server.twilio_client()
    exc = expect_twilio_error(400, 20001, client.serverless.v1.services(zs).builds.create, asset_versions=priv)
    assert "private" in exc.msg.lower()
    assert len(lhttp.get(f"/v1/Services/{zs}/Builds").json()["builds"]) == 1


def test_public_and_protected_versions_counted_separately(lhttp, service):
    zs = service["sid"]
    pub = _versions(lhttp, zs, "public", N_PUB + 1)
    prot = _versions(lhttp, zs, "protected", N_PUB + 1)
    # N public + N protected in one build is fine (separate limits)
    completed_build(lhttp, zs, pub[:N_PUB] + prot[:N_PUB])
    body = assert_error(create_build(lhttp, zs, pub), 400, 20001, "public")
    assert str(N_PUB) in body["message"] and str(N_PUB + 1) in body["message"], body
    body = assert_error(create_build(lhttp, zs, prot), 400, 20001, "protected")
    assert str(N_PUB) in body["message"] and str(N_PUB + 1) in body["message"], body


def test_function_versions_per_build(lhttp, service):
    zs = service["sid"]
    fvs = []
    for i in range(N_FN + 1):
        fn = create_function(lhttp, zs, f"/fn{i}")
        fvs.append(upload_function_version(lhttp, zs, fn["sid"], f"/fn{i}")["sid"])
    completed_build(lhttp, zs, function_versions=fvs[:N_FN])
    body = assert_error(create_build(lhttp, zs, function_versions=fvs), 400, 20001, "function")
    assert str(N_FN) in body["message"] and str(N_FN + 1) in body["message"], body


def test_mixed_build_within_limits(lhttp, service):
    zs = service["sid"]
    priv = _versions(lhttp, zs, "private", N_PRIV)
    pub = _versions(lhttp, zs, "public", N_PUB)
    fn = create_function(lhttp, zs)
    fv = upload_function_version(lhttp, zs, fn["sid"])
    build = completed_build(lhttp, zs, priv + pub, [fv["sid"]])
    assert len(build["asset_versions"]) == N_PRIV + N_PUB
