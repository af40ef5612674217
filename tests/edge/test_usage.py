"""Request metering: /assethost/v1/Usage counts every edge request of an account's domains."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from edgekit import Deployer, FileSpec, raw_request, twilio_signature


def _usage(server, sid=None, token=None) -> dict:
    with server.http_client(sid, token) as c:
        resp = c.get("/assethost/v1/Usage")
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture(scope="module")
def other_site(server, other_account):
    sid, token = other_account
    with server.http_client(sid, token) as c:
        return Deployer(server, c).site([FileSpec("/o.txt", b"other account")], prefix="other")


def test_usage_shape(server):
    u = _usage(server)
    assert u["account_sid"] == server.account_sid
    assert u["month"] == datetime.now(UTC).strftime("%Y-%m")
    for key in ("requests", "free_requests", "billable_requests"):
        assert isinstance(u[key], int) and u[key] >= 0, u
    assert u["free_requests"] + u["billable_requests"] == u["requests"]
    assert Decimal(str(u["price_per_request"])) > 0
    assert Decimal(str(u["cost"])) == Decimal(str(u["price_per_request"])) * u["billable_requests"]


def test_usage_needs_auth(server):
    with httpx.Client(base_url=server.base_url, trust_env=False) as c:
        assert c.get("/assethost/v1/Usage").status_code == 401
    with httpx.Client(base_url=server.base_url, trust_env=False, auth=(server.account_sid, "wrong")) as c:
        assert c.get("/assethost/v1/Usage").status_code == 401


def test_usage_counts_every_edge_request_of_the_account(server, deployer, std_site, other_site, other_account):
    site2 = deployer.site([FileSpec("/x.txt", b"x")], prefix="usage")
    before = _usage(server)["requests"]
    other_before = _usage(server, *other_account)["requests"]
    etag = std_site.get("/hello.txt").headers["etag"]  # 1
    sent = 1
    for method, path, host, hdrs, status in [
        ("GET", "/hello.txt", std_site.host, {}, 200),
        ("HEAD", "/big.txt", std_site.host, {}, 200),
        ("GET", "/hello.txt", std_site.host, {"If-None-Match": etag}, 304),
        ("GET", "/range.txt", std_site.host, {"Range": "bytes=0-1"}, 206),
        ("GET", "/nope.txt", std_site.host, {}, 404),
        ("GET", "/secret/private.txt", std_site.host, {}, 404),
        ("GET", "/secret/protected.txt", std_site.host, {}, 403),
        ("GET", "/secret/protected.txt", std_site.host,
         {"X-Twilio-Signature": twilio_signature(server.auth_token, std_site.url("/secret/protected.txt"))}, 200),
        ("OPTIONS", "/hello.txt", std_site.host, {}, 204),
        ("GET", "/x.txt", site2.host, {}, 200),  # other domain, same account
        ("GET", "/", site2.host, {}, 404),
    ]:
        resp = raw_request(server.port, method, path, host, hdrs)
        assert resp.status == status, (method, path, resp.status)
        sent += 1
    after = _usage(server)["requests"]
    assert after - before == sent
    assert _usage(server, *other_account)["requests"] == other_before


def test_other_account_counted_separately(server, other_site, other_account):
    main_before = _usage(server)["requests"]
    other_before = _usage(server, *other_account)["requests"]
    for _ in range(5):
        assert other_site.get("/o.txt").status_code == 200
    assert _usage(server, *other_account)["requests"] == other_before + 5
    assert _usage(server)["requests"] == main_before


def test_api_requests_are_not_counted(server, std_site):
    before = _usage(server)["requests"]
    with server.http_client() as c:
        for _ in range(3):
            assert c.get("/v1/Services").status_code == 200
    assert _usage(server)["requests"] == before


def test_usage_never_undercounts_across_flushes(server, std_site):
    """The meter flushes in-memory counts to the database every couple of seconds; a reader must
    never see the count drop or lag behind the requests already answered, flush or no flush."""
    expected = _usage(server)["requests"]
    deadline = time.monotonic() + 4.5  # spans at least two flushes (flush interval 2 s)
    problems = []
    with std_site.client() as edge, server.http_client() as api:
        while time.monotonic() < deadline:
            assert edge.get("/hello.txt").status_code == 200
            expected += 1
            got = api.get("/assethost/v1/Usage").json()["requests"]
            if got != expected:
                problems.append((expected, got))
    assert not problems, f"usage count off {len(problems)} times (expected, got): {problems[:10]}"


def test_month_parameter(server):
    with server.http_client() as c:
        resp = c.get("/assethost/v1/Usage", params={"Month": "2001-01"})
        assert resp.status_code == 200
        assert resp.json()["requests"] == 0
        assert resp.json()["month"] == "2001-01"
        resp = c.get("/assethost/v1/Usage", params={"Month": "January"})
        assert resp.status_code == 400
    assert re.match(r"^\d{4}-\d{2}$", _usage(server)["month"])
