"""Serving public assets: bytes, headers, content types, the root, methods and Host routing."""

from __future__ import annotations

import hashlib
import re
from email.utils import parsedate_to_datetime

import httpx
import pytest
from edgekit import FileSpec, png_bytes, raw_request

ETAG_RE = re.compile(r'^"[0-9a-f]+"$')

PUBLIC_PATHS = ["/hello.txt", "/big.txt", "/data.json", "/app.js", "/style.css", "/assets/index.html", "/logo.png",
                "/photo.jpg", "/ahoy.mp3", "/icon.svg", "/range.txt", "/blob.bin", "/secret/public.txt"]


@pytest.mark.parametrize("path", PUBLIC_PATHS)
def test_public_asset_bytes_and_common_headers(std_site, path):
    resp = std_site.get(path)
    expected = std_site.files[path].content
    assert resp.status_code == 200, resp.text[:300]
    assert resp.content == expected
    h = resp.headers
    assert "content-encoding" not in h  # Accept-Encoding: identity
    assert int(h["content-length"]) == len(expected)
    assert ETAG_RE.match(h["etag"]), h.get("etag")
    assert parsedate_to_datetime(h["last-modified"]) is not None
    assert h["x-content-type-options"] == "nosniff"
    assert h["accept-ranges"] == "bytes"
    assert h["cache-control"] == "public, max-age=0, must-revalidate"
    assert h["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(("path", "ctype"), [
    ("/hello.txt", "text/plain; charset=utf-8"),
    ("/big.txt", "text/plain; charset=utf-8"),
    ("/app.js", "text/javascript; charset=utf-8"),
    ("/style.css", "text/css; charset=utf-8"),
    ("/assets/index.html", "text/html; charset=utf-8"),
    ("/logo.png", "image/png"),
    ("/photo.jpg", "image/png"),  # a PNG uploaded as .jpg is sent as what it is
    ("/ahoy.mp3", "audio/mpeg"),
])
def test_content_type(std_site, path, ctype):
    resp = std_site.request("HEAD", path)
    assert resp.status_code == 200
    assert resp.headers["content-type"].lower().replace(" ", "") == ctype.replace(" ", "")


def test_json_and_svg_content_types(std_site):
    ctype = std_site.get("/data.json").headers["content-type"].lower()
    assert ctype.split(";")[0].strip() == "application/json"
    ctype = std_site.get("/icon.svg").headers["content-type"].lower()
    assert ctype.split(";")[0].strip() == "image/svg+xml"


@pytest.mark.parametrize(("path", "vary"), [
    ("/big.txt", True), ("/data.json", True), ("/app.js", True), ("/style.css", True),
    ("/assets/index.html", True), ("/logo.png", False), ("/photo.jpg", False), ("/ahoy.mp3", False),
    ("/icon.svg", False), ("/blob.bin", False),
])
def test_vary_accept_encoding_only_on_compressible_types(std_site, path, vary):
    h = std_site.get(path).headers
    if vary:
        assert "accept-encoding" in h.get("vary", "").lower()
    else:
        assert "accept-encoding" not in h.get("vary", "").lower()


def test_etags_are_stable_and_distinct(std_site):
    a1 = std_site.get("/hello.txt").headers["etag"]
    a2 = std_site.request("HEAD", "/hello.txt").headers["etag"]
    b = std_site.get("/big.txt").headers["etag"]
    assert a1 == a2
    assert a1 != b


def test_large_file_served_whole(std_site):
    resp = std_site.get("/blob.bin")
    assert resp.status_code == 200
    assert hashlib.sha256(resp.content).digest() == hashlib.sha256(std_site.files["/blob.bin"].content).digest()


def test_head_has_headers_and_no_body(std_site):
    get = std_site.get("/big.txt")
    head = raw_request(std_site.port, "HEAD", "/big.txt", std_site.host, {"Accept-Encoding": "identity"})
    assert head.status == 200
    assert head.body == b""
    assert head.header("content-length") == get.headers["content-length"]
    assert head.header("etag") == get.headers["etag"]
    assert head.header("content-type") == get.headers["content-type"]


def test_post_serves_public_asset(std_site):
    resp = std_site.request("POST", "/hello.txt", data={"a": "b"})
    assert resp.status_code == 200
    assert resp.content == b"hello edge\n"


def test_percent_encoded_path_reaches_asset(std_site):
    resp = raw_request(std_site.port, "GET", "/space%20name.txt", std_site.host)
    assert resp.status == 200
    assert resp.body == b"with a space\n"


def test_query_string_is_ignored_for_public_assets(std_site):
    resp = std_site.get("/hello.txt?cachebust=123&x=y")
    assert resp.status_code == 200
    assert resp.content == b"hello edge\n"


def test_options_is_cors_preflight(std_site):
    resp = std_site.request("OPTIONS", "/hello.txt", headers={"Origin": "https://example.com",
                                                                "Access-Control-Request-Method": "GET"})
    assert resp.status_code == 204
    assert resp.content == b""
    assert resp.headers["access-control-allow-origin"] == "*"
    methods = {m.strip() for m in resp.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "OPTIONS"} <= methods


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_are_not_served(std_site, method):
    resp = std_site.request(method, "/hello.txt", content=b"x")
    assert resp.status_code == 405
    assert b"hello edge" not in resp.content


def test_missing_path_is_404_text(std_site):
    resp = std_site.get("/nope.txt")
    assert resp.status_code == 404
    assert "application/json" not in resp.headers.get("content-type", "")


# ------------------------------------------------------------------------------------------ root


def test_root_asset_served_at_slash(deployer):
    site = deployer.site([FileSpec("/", b"<html>root asset</html>", filename="index.html", mime="text/html"),
                          FileSpec("/assets/index.html", b"<html>legacy index</html>")])
    resp = site.get("/")
    assert resp.status_code == 200
    assert resp.content == b"<html>root asset</html>"
    assert site.get("/assets/index.html").content == b"<html>legacy index</html>"


def test_assets_index_html_served_at_root(deployer):
    site = deployer.site([FileSpec("/assets/index.html", b"<html>legacy index</html>"),
                          FileSpec("/other.txt", b"other")])
    resp = site.get("/")
    assert resp.status_code == 200
    assert resp.content == b"<html>legacy index</html>"
    assert resp.headers["content-type"].startswith("text/html")


def test_no_root_is_404(deployer):
    site = deployer.site([FileSpec("/other.txt", b"other")])
    assert site.get("/").status_code == 404


def test_private_root_candidates_are_never_served(deployer):
    marker = b"PRIVATE-ROOT-MARKER"
    site = deployer.site([FileSpec("/assets/index.html", marker + b"<html></html>", "private")])
    resp = site.get("/")
    assert resp.status_code == 404
    assert marker not in resp.content
    site2 = deployer.site([FileSpec("/", marker + b"<html></html>", "private", filename="index.html")])
    resp = site2.get("/")
    assert resp.status_code == 404
    assert marker not in resp.content


def test_protected_index_at_root_needs_signature(deployer, server):
    site = deployer.site([FileSpec("/assets/index.html", b"<html>protected index</html>", "protected")])
    assert site.get("/").status_code == 403
    resp = site.signed("GET", "/")
    assert resp.status_code == 200
    assert resp.content == b"<html>protected index</html>"


# ------------------------------------------------------------------------------------------ host routing


def test_unknown_host_under_base_domain_is_404(server):
    with httpx.Client(base_url=server.base_url, trust_env=False, headers={"Host": f"nosuch-0000.localhost:{server.port}"}) as c:
        resp = c.get("/hello.txt")
    assert resp.status_code == 404


def test_environment_without_deployment_is_404(deployer):
    service = deployer.service()
    env = deployer.environment(service["sid"], "nodeploy")
    with httpx.Client(base_url=deployer.server.base_url, trust_env=False,
                      headers={"Host": f"{env['domain_name']}:{deployer.server.port}"}) as c:
        assert c.get("/").status_code == 404
        assert c.get("/anything.txt").status_code == 404


def test_non_edge_host_goes_to_api(server, std_site):
    with httpx.Client(base_url=server.base_url, trust_env=False, auth=(server.account_sid, server.auth_token)) as c:
        resp = c.get("/v1/Services", headers={"Host": f"127.0.0.1:{server.port}"})
        assert resp.status_code == 200
        assert "services" in resp.json()
        # the asset path on the API host is not the asset
        resp = c.get("/hello.txt", headers={"Host": f"127.0.0.1:{server.port}"})
        assert resp.status_code == 404
        assert b"hello edge" not in resp.content
        # the base domain itself is not an environment
        resp = c.get("/v1/Services", headers={"Host": f"localhost:{server.port}"})
        assert resp.status_code == 200
        assert "services" in resp.json()
        # a name that merely contains the domain is not the edge either
        resp = c.get("/hello.txt", headers={"Host": f"{std_site.domain}.example.com:{server.port}"})
        assert b"hello edge" not in resp.content


def test_edge_does_not_serve_the_api(std_site, server):
    with httpx.Client(base_url=server.base_url, trust_env=False, auth=(server.account_sid, server.auth_token),
                      headers={"Host": std_site.host}) as c:
        resp = c.get("/v1/Services")
    assert resp.status_code == 404
    assert server.account_sid.encode() not in resp.content


def test_host_case_and_missing_port(std_site):
    for host in (std_site.host.upper(), std_site.domain, std_site.domain.upper()):
        resp = raw_request(std_site.port, "GET", "/hello.txt", host)
        assert resp.status == 200, host
        assert resp.body == b"hello edge\n"


def test_subdomain_of_environment_is_not_the_environment(std_site):
    resp = raw_request(std_site.port, "GET", "/hello.txt", f"www.{std_site.host}")
    assert resp.status == 404
    assert b"hello edge" not in resp.body


def test_two_environments_serve_their_own_builds(deployer):
    service = deployer.service()
    b1 = deployer.build(service["sid"], [FileSpec("/which.txt", b"dev build")])
    b2 = deployer.build(service["sid"], [FileSpec("/which.txt", b"stage build")])
    dev = deployer.environment(service["sid"], "dev")
    stage = deployer.environment(service["sid"], "stage")
    deployer.deploy(service["sid"], dev["sid"], b1)
    deployer.deploy(service["sid"], stage["sid"], b2)
    port = deployer.server.port
    assert raw_request(port, "GET", "/which.txt", f"{dev['domain_name']}:{port}").body == b"dev build"
    assert raw_request(port, "GET", "/which.txt", f"{stage['domain_name']}:{port}").body == b"stage build"


def test_png_helper_is_a_png():
    # guard for the fixtures: the sniffing tests rely on this being recognised as PNG
    import filetype

    assert filetype.guess_mime(png_bytes()) == "image/png"
