"""List envelopes and paging (meta.*_page_url followed verbatim, PageSize bounds)."""

from urllib.parse import parse_qs, urlsplit

import pytest
from helpers import assert_error, create_asset, create_environment, create_service, list_all, uniq

META_KEYS = {"first_page_url", "key", "next_page_url", "page", "page_size", "previous_page_url", "url"}


@pytest.fixture
def five_assets(http):
    svc = create_service(http)
    assets = [create_asset(http, svc["sid"], f"/asset-{i}.txt") for i in range(5)]
    return svc, assets


def test_twilio_list_and_stream_across_pages(client, five_assets):
    svc, assets = five_assets
    expected = [a["sid"] for a in assets]
    res = client.serverless.v1.services(svc["sid"]).assets
    assert [a.sid for a in res.list(page_size=2)] == expected
    assert [a.sid for a in res.stream(page_size=2)] == expected
    assert [a.friendly_name for a in res.list(page_size=2)] == [f"/asset-{i}.txt" for i in range(5)]
    assert [a.sid for a in res.list(page_size=2, limit=3)] == expected[:3]
    page = res.page(page_size=2)
    assert [a.sid for a in page] == expected[:2]
    page2 = page.next_page()
    assert [a.sid for a in page2] == expected[2:4]
    page3 = page2.next_page()
    assert [a.sid for a in page3] == expected[4:]
    assert page3.next_page() is None


def test_follow_next_page_url_verbatim(http, server, five_assets):
    svc, assets = five_assets
    url = f"/v1/Services/{svc['sid']}/Assets?PageSize=2"
    pages = []
    for _ in range(10):
        resp = http.get(url)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert set(body["meta"]) == META_KEYS, body["meta"]
        assert set(body) == {"assets", "meta"}
        pages.append(body)
        url = body["meta"]["next_page_url"]
        if url is None:
            break
        assert url.startswith(server.base_url + "/v1/Services/"), url
    assert [len(p["assets"]) for p in pages] == [2, 2, 1]
    assert [p["meta"]["page"] for p in pages] == [0, 1, 2]
    assert all(p["meta"]["page_size"] == 2 for p in pages)
    assert all(p["meta"]["key"] == "assets" for p in pages)
    assert pages[0]["meta"]["previous_page_url"] is None
    for p in pages[1:]:
        prev = p["meta"]["previous_page_url"]
        assert prev and prev.startswith(server.base_url + "/v1/Services/"), prev
    for p in pages:
        for key in ("first_page_url", "url"):
            assert p["meta"][key].startswith(server.base_url + f"/v1/Services/{svc['sid']}/Assets"), p["meta"]
        assert parse_qs(urlsplit(p["meta"]["url"]).query).get("PageSize") == ["2"]
    got = [a["sid"] for p in pages for a in p["assets"]]
    assert got == [a["sid"] for a in assets]

    # previous_page_url of the last page leads back to the middle page
    back = http.get(pages[2]["meta"]["previous_page_url"]).json()
    assert [a["sid"] for a in back["assets"]] == [a["sid"] for a in pages[1]["assets"]]
    # first_page_url leads to page 0
    first = http.get(pages[2]["meta"]["first_page_url"]).json()
    assert [a["sid"] for a in first["assets"]] == [a["sid"] for a in pages[0]["assets"]]


def test_default_page_size_and_empty_list(http):
    svc = create_service(http)
    body = http.get(f"/v1/Services/{svc['sid']}/Environments").json()
    assert body["environments"] == []
    meta = body["meta"]
    assert meta["page_size"] == 50
    assert meta["page"] == 0
    assert meta["key"] == "environments"
    assert meta["next_page_url"] is None
    assert meta["previous_page_url"] is None


def test_page_size_bounds(http, client):
    svc = create_service(http)
    for size in (0, 1001, -1, "abc"):
        assert_error(http.get(f"/v1/Services/{svc['sid']}/Assets", params={"PageSize": size}), 400, 20001,
                     "PageSize")
    assert http.get(f"/v1/Services/{svc['sid']}/Assets", params={"PageSize": 1000}).json()["meta"][
        "page_size"] == 1000
    assert http.get("/v1/Services", params={"PageSize": 1}).status_code == 200


@pytest.mark.parametrize("key, path", [
    ("services", "/v1/Services"),
    ("assets", "/v1/Services/{zs}/Assets"),
    ("functions", "/v1/Services/{zs}/Functions"),
    ("builds", "/v1/Services/{zs}/Builds"),
    ("environments", "/v1/Services/{zs}/Environments"),
    ("variables", "/v1/Services/{zs}/Environments/{ze}/Variables"),
    ("deployments", "/v1/Services/{zs}/Environments/{ze}/Deployments"),
])
def test_list_keys(http, key, path):
    svc = create_service(http)
    env = create_environment(http, svc["sid"])
    body = http.get(path.format(zs=svc["sid"], ze=env["sid"])).json()
    assert body["meta"]["key"] == key
    assert isinstance(body[key], list)


def test_services_paging_is_stable_with_many_items(http, server):
    # services of this account created so far + 3 new ones, listed 5 per page
    new = [create_service(http)["sid"] for _ in range(3)]
    all_services = list_all(http, "/v1/Services?PageSize=5", "services", max_pages=1000)
    sids = [s["sid"] for s in all_services]
    assert len(sids) == len(set(sids)), "duplicates across pages"
    assert sids[-3:] == new, "creation order not preserved"


def test_variables_and_environments_paging(client, http):
    svc = create_service(http)
    env = create_environment(http, svc["sid"])
    variables = client.serverless.v1.services(svc["sid"]).environments(env["sid"]).variables
    keys = [f"K{i}" for i in range(5)]
    for k in keys:
        variables.create(key=k, value=k.lower())
    assert [v.key for v in variables.stream(page_size=2)] == keys
    envs = [env["sid"]] + [create_environment(http, svc["sid"], domain_suffix=f"s{i}")["sid"] for i in range(2)]
    listed = list_all(http, f"/v1/Services/{svc['sid']}/Environments?PageSize=1", "environments")
    assert [e["sid"] for e in listed] == envs


def test_public_url_used_in_page_urls(server_factory):
    srv = server_factory(public_url="http://localhost:{port}")
    public = f"http://localhost:{srv.port}"
    with srv.http_client() as h:
        svc = create_service(h, uniq("pub"))
        assert svc["url"] == f"{public}/v1/Services/{svc['sid']}"
        for i in range(3):
            create_asset(h, svc["sid"], f"a{i}")
        body = h.get(f"/v1/Services/{svc['sid']}/Assets?PageSize=2").json()
        nxt = body["meta"]["next_page_url"]
        assert nxt.startswith(public + f"/v1/Services/{svc['sid']}/Assets"), nxt
        assert body["meta"]["url"].startswith(public + "/v1/"), body["meta"]
        second = h.get(nxt)  # localhost:{port} reaches the same server
        assert second.status_code == 200
        assert [a["friendly_name"] for a in second.json()["assets"]] == ["a2"]
        assert second.json()["meta"]["previous_page_url"].startswith(public + "/v1/")
    client = srv.twilio_client()
    assert [a.friendly_name for a in client.serverless.v1.services(svc["sid"]).assets.list(page_size=1)] == \
        ["a0", "a1", "a2"]
