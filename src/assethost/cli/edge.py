"""Where deployed files are served, and requests to them (signed for protected assets).

The edge shares the API's port and picks the environment by Host, so an asset's URL is
`{api scheme}://{environment domain_name}[:{api port}]{path}`. Names under `.localhost` (the
server's default base domain) are sent to 127.0.0.1 with the Host header set, the way curl and
browsers resolve them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlsplit, urlunsplit

import httpx


def edge_url(api_url: str, domain_name: str, path: str) -> str:
    api = urlsplit(api_url)
    default = {"http": 80, "https": 443}.get(api.scheme)
    port = api.port if api.port and api.port != default else None
    return f"{api.scheme}://{domain_name}{f':{port}' if port else ''}{path}"


def signature(auth_token: str, url: str, params: list[tuple[str, str]] | None = None) -> str:
    """X-Twilio-Signature: base64 HMAC-SHA1 over the URL followed by the POST params sorted by
    name (then value), each as name+value; the same as twilio's RequestValidator."""
    values: dict[str, set[str]] = {}
    for name, value in params or ():
        values.setdefault(name, set()).add(value)
    data = url + "".join(name + value for name in sorted(values) for value in sorted(values[name]))
    mac = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def connect_target(url: str) -> tuple[str, dict[str, str]]:
    """The URL to connect to and extra headers: *.localhost goes to 127.0.0.1 with Host kept."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        netloc = "127.0.0.1" + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), {"Host": parts.netloc}
    return url, {}


def send(url: str, auth_token: str | None = None, params: list[tuple[str, str]] | None = None,
         method: str | None = None, timeout: float = 30.0) -> httpx.Response:
    """GET (or POST with form params) `url`, signed when an auth token is given."""
    method = method or ("POST" if params else "GET")
    target, headers = connect_target(url)
    if auth_token:
        headers["X-Twilio-Signature"] = signature(auth_token, url, params if method == "POST" else None)
    with httpx.Client(timeout=timeout, trust_env=False) as http:
        return http.request(method, target, headers=headers, data=dict(params) if params and method == "POST" else None)
