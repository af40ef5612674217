"""The console over plain HTTP (no browser): behind a TLS proxy (`--public-url https://…`) the
session cookie is Secure and runtime URLs are https without a port."""

from __future__ import annotations

import re

import httpx
import pytest
from consolekit import start_server, uniq


@pytest.fixture(scope="module")
def proxied_server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("console-proxied"), "--public-url", "https://assets.example.test")
    yield srv
    srv.stop()


def _csrf(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert match, html[:500]
    return match.group(1)


class CookieCarrier(httpx.Client):
    """Sends the console cookie back by hand: httpx, rightly, keeps Secure cookies off plain http
    (here the TLS would end at the proxy)."""

    def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
        if getattr(self, "cookie", None):
            request.headers["Cookie"] = self.cookie
        response = super().send(request, **kwargs)
        for header in response.headers.get_list("set-cookie"):
            self.cookie = header.split(";", 1)[0]
        return response


def test_behind_https_proxy_cookie_is_secure_and_urls_are_https(proxied_server):
    srv = proxied_server
    with CookieCarrier(base_url=srv.base_url, trust_env=False, timeout=10) as http:
        page = http.get("/console/signin")
        cookie = page.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie, cookie
        resp = http.post("/console/signin", data={"csrf": _csrf(page.text), "username": srv.account_sid,
                                                  "password": srv.auth_token, "next": "/console/services"})
        assert resp.status_code == 303 and resp.headers["location"] == "/console/services", resp.text
        token = _csrf(http.get("/console/services").text)
        unique = uniq("tls")
        resp = http.post("/console/services", data={"csrf": token, "unique_name": unique, "friendly_name": "TLS"})
        assert resp.status_code == 303
        service_url = resp.headers["location"]
        resp = http.post(service_url + "/environments", data={"csrf": token, "name": "dev"})
        assert resp.status_code == 303
        html = http.get(resp.headers["location"]).text
        assert re.search(rf'<span class="domain">https://{unique}-\d{{4}}-dev\.localhost</span>', html), html


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_root_of_the_api_origin_redirects_to_the_console(console_server, method):
    with httpx.Client(trust_env=False, timeout=10) as http:
        resp = http.request(method, f"{console_server.base_url}/", headers={"Accept": "text/html"})
        assert (resp.status_code, resp.headers["location"]) == (302, "/console")
        # Whatever the client accepts: no Twilio client asks for `/`.
        resp = http.get(f"{console_server.base_url}/", headers={"Accept": "application/json"})
        assert (resp.status_code, resp.headers["location"]) == (302, "/console")


def test_other_methods_on_the_root_stay_the_apis_404(console_server):
    with httpx.Client(trust_env=False, timeout=10) as http:
        resp = http.post(f"{console_server.base_url}/", data={"a": "b"})
        assert resp.status_code == 404
        assert resp.json()["status"] == 404
        assert "location" not in resp.headers
