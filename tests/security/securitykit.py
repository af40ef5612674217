"""Helpers of the security suite."""

from __future__ import annotations

import re

import httpx


class Console(httpx.Client):
    """The web console through plain HTTP: a cookie jar, a sign-in, the page's CSRF token."""

    def __init__(self, server):
        super().__init__(base_url=server.base_url, trust_env=False, timeout=30)
        self.server = server

    def csrf(self, path: str = "/console/signin") -> str:
        html = self.get(path).text
        match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
        assert match, html[:500]
        return match.group(1)

    def sign_in(self, username: str | None = None, password: str | None = None) -> Console:
        resp = self.post("/console/signin", data={
            "csrf": self.csrf(), "username": username or self.server.account_sid,
            "password": password or self.server.auth_token, "next": "/console/services"})
        assert resp.status_code == 303 and resp.headers["location"] == "/console/services", resp.text
        return self

    def upload(self, path: str, body: bytes, boundary: str) -> httpx.Response:
        """What the console's JavaScript sends for one file (multipart, CSRF header)."""
        return self.post(path, content=body, headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}", "X-CSRF-Token": self.csrf("/console/services"),
            "X-Requested-With": "assethost-console"})
