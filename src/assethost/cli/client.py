"""HTTP client for the Serverless v1 API and assethost's extensions (`/assethost/v1`).

Only what the CLI needs: Basic auth, Twilio error bodies turned into ApiError, lists followed
through `meta.next_page_url`, and retries for 429/503 (honouring Retry-After) and for dropped
connections on reads. httpx.Client is shared by the upload threads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import IO, Any, Self

import httpx

PAGE_SIZE = 1000
RETRY_STATUSES = (429, 503)
MAX_RETRIES = 5


class ApiError(Exception):
    def __init__(self, status: int, code: int | None, message: str, method: str = "", url: str = "") -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.method, self.url = status, code, message, method, url

    def __str__(self) -> str:
        if not self.status:  # no answer came: there is no status to show
            return self.message
        code = f", code {self.code}" if self.code is not None and self.code != self.status else ""
        return f"{self.message} (HTTP {self.status}{code})"


def _error_from(resp: httpx.Response) -> ApiError:
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "message" in body:
        return ApiError(resp.status_code, body.get("code"), str(body["message"]), resp.request.method,
                        str(resp.request.url))
    text = resp.text.strip()[:200] or resp.reason_phrase
    return ApiError(resp.status_code, None, text, resp.request.method, str(resp.request.url))


class Client:
    def __init__(self, api_url: str, username: str, password: str, timeout: float = 120.0,
                 max_connections: int = 16, source: str = "--username/--password") -> None:
        """source: where the credentials came from (connection.py), named when they are refused."""
        self.api_url = api_url.rstrip("/")
        self.username = username
        self.source = source
        self.http = httpx.Client(
            base_url=self.api_url, auth=(username, password), timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            headers={"User-Agent": f"assethost-cli/{_version()}"},
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing
    def request(self, method: str, url: str, *, rewind: Callable[[], None] | None = None, once: bool = False,
                **kw: Any) -> Any:
        """JSON body of a 2xx answer (None for 204); ApiError otherwise. `once`: never sent again
        (a streamed body cannot be)."""
        for attempt in range(MAX_RETRIES + 1):
            try:
                resp = self.http.request(method, url, **kw)
            except httpx.TransportError as exc:
                if method != "GET" or attempt == MAX_RETRIES:
                    raise ApiError(0, None, f"cannot reach {self.api_url} ({exc}): is the server running "
                                   "(assethost serve), and is that its address (--api-url, ASSETHOST_API_URL)?",
                                   method, url) from None
                time.sleep(0.2 * (attempt + 1))
                continue
            if resp.status_code in RETRY_STATUSES and attempt < MAX_RETRIES and not once:
                time.sleep(_retry_after(resp, attempt))
                if rewind:
                    rewind()
                continue
            if resp.status_code >= 400:
                error = _error_from(resp)
                if resp.status_code == 401:
                    error.message += f": the server refused {self.username} (from {self.source})"
                raise error
            if resp.status_code == 204 or not resp.content:
                return None
            try:
                return resp.json()
            except ValueError:
                raise ApiError(resp.status_code, None, f"not JSON: {resp.text[:200]!r}", method, url) from None
        raise AssertionError("unreachable")

    def get(self, url: str, **params: Any) -> Any:
        return self.request("GET", url, params=params or None)

    def post(self, url: str, data: Any) -> Any:
        return self.request("POST", url, data=data)

    def iterate(self, url: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        params.setdefault("PageSize", PAGE_SIZE)
        body = self.request("GET", url, params=params)
        while True:
            yield from body[key]
            next_url = (body.get("meta") or {}).get("next_page_url")
            if not next_url:
                return
            body = self.request("GET", next_url)

    def list_all(self, url: str, key: str, **params: Any) -> list[dict[str, Any]]:
        return list(self.iterate(url, key, **params))

    # ------------------------------------------------------------------ Serverless v1
    def services(self) -> list[dict[str, Any]]:
        return self.list_all("/v1/Services", "services")

    def create_service(self, unique_name: str, friendly_name: str | None = None) -> dict[str, Any]:
        return self.post("/v1/Services", {"UniqueName": unique_name, "FriendlyName": friendly_name or unique_name})

    def environments(self, service: str) -> list[dict[str, Any]]:
        return self.list_all(f"/v1/Services/{service}/Environments", "environments")

    def environment(self, service: str, sid: str) -> dict[str, Any]:
        return self.get(f"/v1/Services/{service}/Environments/{sid}")

    def create_environment(self, service: str, unique_name: str, suffix: str | None) -> dict[str, Any]:
        data = {"UniqueName": unique_name, "FriendlyName": f"{unique_name} Environment (Created by assethost)"}
        if suffix:
            data["DomainSuffix"] = suffix
        return self.post(f"/v1/Services/{service}/Environments", data)

    def resources(self, service: str, kind: str) -> list[dict[str, Any]]:
        return self.list_all(f"/v1/Services/{service}/{_collection(kind)}", f"{kind}s")

    def create_resource(self, service: str, kind: str, friendly_name: str) -> dict[str, Any]:
        return self.post(f"/v1/Services/{service}/{_collection(kind)}", {"FriendlyName": friendly_name})

    def upload_version(self, service: str, kind: str, resource: str, path: str, visibility: str,
                       filename: str, content: IO[bytes], content_type: str) -> dict[str, Any]:
        def rewind() -> None:
            content.seek(0)

        return self.request(
            "POST", f"/v1/Services/{service}/{_collection(kind)}/{resource}/Versions",
            data={"Path": path, "Visibility": visibility},
            files={"Content": (filename, content, content_type)}, rewind=rewind,
        )

    def builds(self, service: str) -> list[dict[str, Any]]:
        return self.list_all(f"/v1/Services/{service}/Builds", "builds")

    def build(self, service: str, sid: str) -> dict[str, Any]:
        return self.get(f"/v1/Services/{service}/Builds/{sid}")

    def build_status(self, service: str, sid: str) -> str:
        return self.get(f"/v1/Services/{service}/Builds/{sid}/Status")["status"]

    def create_build(self, service: str, asset_versions: list[str], function_versions: list[str],
                     dependencies: list[dict[str, str]], runtime: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if asset_versions:
            data["AssetVersions"] = asset_versions
        if function_versions:
            data["FunctionVersions"] = function_versions
        if dependencies:
            data["Dependencies"] = json.dumps(dependencies)
        if runtime:
            data["Runtime"] = runtime
        return self.post(f"/v1/Services/{service}/Builds", data)

    def deployments(self, service: str, environment: str) -> list[dict[str, Any]]:
        return self.list_all(f"/v1/Services/{service}/Environments/{environment}/Deployments", "deployments")

    def deploy(self, service: str, environment: str, build: str) -> dict[str, Any]:
        return self.post(f"/v1/Services/{service}/Environments/{environment}/Deployments", {"BuildSid": build})

    def variables(self, service: str, environment: str) -> list[dict[str, Any]]:
        return self.list_all(f"/v1/Services/{service}/Environments/{environment}/Variables", "variables")

    def set_variable(self, service: str, environment: str, key: str, value: str, sid: str | None) -> dict[str, Any]:
        base = f"/v1/Services/{service}/Environments/{environment}/Variables"
        return self.post(f"{base}/{sid}" if sid else base, {"Key": key, "Value": value})

    # ------------------------------------------------------------------ assethost extensions
    def versions_with_hashes(self, service: str, kind: str | None = None) -> list[dict[str, Any]]:
        params = {"Kind": kind} if kind else {}
        return self.list_all(f"/assethost/v1/Services/{service}/Versions", "versions", **params)

    def version_media(self, service: str, asset: str, version: str) -> dict[str, Any]:
        """An asset version with its media facts, checks and immutable URL."""
        return self.get(f"/assethost/v1/Services/{service}/Assets/{asset}/Versions/{version}")

    def build_details(self, service: str, sid: str) -> dict[str, Any]:
        """A build's status, why it failed, and the files that fail media rules."""
        return self.get(f"/assethost/v1/Services/{service}/Builds/{sid}")

    def version_from_content(self, service: str, kind: str, resource: str, path: str, visibility: str,
                             sha256: str, content_type: str | None) -> dict[str, Any]:
        data = {"Path": path, "Visibility": visibility, "ContentSha256": sha256}
        if content_type:
            data["ContentType"] = content_type
        return self.post(f"/assethost/v1/Services/{service}/{_collection(kind)}/{resource}/Versions", data)

    def bulk_manifest(self, service: str, files: list[dict[str, Any]]) -> dict[str, Any]:
        """Which content of these files the server lacks for this account (the bulk deploy)."""
        return self.request("POST", f"/assethost/v1/Services/{service}/Manifest", json={"files": files})

    def bulk_deploy(self, service: str, manifest: dict[str, Any], content: Iterator[bytes],
                    content_bytes: int) -> dict[str, Any]:
        """One streamed request: the manifest's line, then `content_bytes` bytes of the files it
        lists in "upload". Never retried (the body cannot be rewound); a deploy run again sends
        only what the server still lacks."""
        line = json.dumps(manifest, separators=(",", ":")).encode() + b"\n"

        def body() -> Iterator[bytes]:
            yield line
            yield from content

        return self.request(
            "POST", f"/assethost/v1/Services/{service}/Deploy", content=body(), once=True,
            headers={"Content-Type": "application/vnd.assethost.deploy",
                     "Content-Length": str(len(line) + content_bytes)},
        )

    def usage(self, month: str | None = None) -> dict[str, Any]:
        return self.get("/assethost/v1/Usage", **({"Month": month} if month else {}))


def _collection(kind: str) -> str:
    return {"asset": "Assets", "function": "Functions"}[kind]


def _retry_after(resp: httpx.Response, attempt: int) -> float:
    try:
        return min(float(resp.headers.get("retry-after", "")), 30.0)
    except ValueError:
        return min(0.5 * 2**attempt, 8.0)


def _version() -> str:
    from assethost import __version__

    return __version__
