"""Records to Twilio's JSON shapes. Every `url`, `links` entry and paging URL is absolute on the
public origin, so clients that follow them verbatim never leave this server."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

from assethost.core import checks
from assethost.core.environments import domain_name
from assethost.core.mediafiles import VersionMedia
from assethost.core.model import (
    Build,
    BuildEntry,
    Deployment,
    Environment,
    LogLine,
    MediaSettings,
    Resource,
    Service,
    Variable,
    Version,
)
from assethost.core.paging import Identified, Page
from assethost.core.usage import PRICE_PER_REQUEST, Usage

R = TypeVar("R", bound=Identified)

_COLLECTION = {"asset": "Assets", "function": "Functions"}


def date(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


class Renderer:
    def __init__(self, origin: str, base_domain: str) -> None:
        self.origin = origin.rstrip("/")
        self.v1 = self.origin + "/v1"
        self.base_domain = base_domain  # completes every environment's domain

    def service_url(self, sid: str) -> str:
        return f"{self.v1}/Services/{sid}"

    def service(self, row: Service) -> dict[str, Any]:
        url = self.service_url(row.sid)
        return {
            "sid": row.sid,
            "account_sid": row.account_sid,
            "friendly_name": row.friendly_name,
            "unique_name": row.unique_name,
            "include_credentials": bool(row.include_credentials),
            "ui_editable": bool(row.ui_editable),
            "domain_base": row.domain_base,
            "date_created": date(row.date_created),
            "date_updated": date(row.date_updated),
            "url": url,
            "links": {
                "environments": f"{url}/Environments",
                "functions": f"{url}/Functions",
                "assets": f"{url}/Assets",
                "builds": f"{url}/Builds",
            },
        }

    def resource(self, row: Resource) -> dict[str, Any]:
        url = f"{self.service_url(row.service_sid)}/{_COLLECTION[row.kind]}/{row.sid}"
        return {
            "sid": row.sid,
            "account_sid": row.account_sid,
            "service_sid": row.service_sid,
            "friendly_name": row.friendly_name,
            "date_created": date(row.date_created),
            "date_updated": date(row.date_updated),
            "url": url,
            "links": {f"{row.kind}_versions": f"{url}/Versions"},
        }

    def version_url(self, service_sid: str, kind: str, resource_sid: str, sid: str) -> str:
        return f"{self.service_url(service_sid)}/{_COLLECTION[kind]}/{resource_sid}/Versions/{sid}"

    def version(self, row: Version) -> dict[str, Any]:
        url = self.version_url(row.service_sid, row.kind, row.resource_sid, row.sid)
        body: dict[str, Any] = {
            "sid": row.sid,
            "account_sid": row.account_sid,
            "service_sid": row.service_sid,
            f"{row.kind}_sid": row.resource_sid,
            "path": row.path,
            "visibility": row.visibility,
            "date_created": date(row.date_created),
            "url": url,
        }
        if row.kind == "function":
            body["links"] = {"function_version_content": f"{url}/Content"}
        return body

    def version_facts(self, row: Version) -> dict[str, Any]:
        """The version with what only assethost tells: kind, content hash, size and type."""
        return self.version(row) | {
            "kind": row.kind,
            "resource_sid": row.resource_sid,
            "sha256": row.blob_hash,
            "size": row.size,
            "content_type": row.content_type,
        }

    def function_content(self, row: Version, content: str) -> dict[str, Any]:
        return {
            "sid": row.sid,
            "account_sid": row.account_sid,
            "service_sid": row.service_sid,
            "function_sid": row.resource_sid,
            "content": content,
            "url": self.version_url(row.service_sid, "function", row.resource_sid, row.sid) + "/Content",
        }

    def build_entry(self, build: Build, entry: BuildEntry) -> dict[str, Any]:
        return {
            "sid": entry.version_sid,
            "account_sid": build.account_sid,
            "service_sid": build.service_sid,
            f"{entry.kind}_sid": entry.resource_sid,
            "date_created": date(entry.version_date_created),
            "path": entry.path,
            "visibility": entry.visibility,
            "url": self.version_url(build.service_sid, entry.kind, entry.resource_sid, entry.version_sid),
        }

    def build(self, row: Build, entries: list[BuildEntry]) -> dict[str, Any]:
        url = f"{self.service_url(row.service_sid)}/Builds/{row.sid}"
        return {
            "sid": row.sid,
            "account_sid": row.account_sid,
            "service_sid": row.service_sid,
            "asset_versions": [self.build_entry(row, e) for e in entries if e.kind == "asset"],
            "function_versions": [self.build_entry(row, e) for e in entries if e.kind == "function"],
            "dependencies": json.loads(row.dependencies),
            "runtime": row.runtime,
            "status": row.status,
            "date_created": date(row.date_created),
            "date_updated": date(row.date_updated),
            "url": url,
            "links": {"build_status": f"{url}/Status"},
        }

    def build_status(self, row: Build) -> dict[str, Any]:
        return {
            "sid": row.sid,
            "account_sid": row.account_sid,
            "service_sid": row.service_sid,
            "status": row.status,
            "url": f"{self.service_url(row.service_sid)}/Builds/{row.sid}/Status",
        }

    def build_details(self, row: Build, warnings: list[checks.FileWarning]) -> dict[str, Any]:
        return {
            "sid": row.sid,
            "account_sid": row.account_sid,
            "service_sid": row.service_sid,
            "status": row.status,
            "status_reason": row.status_reason,
            "media_warnings": [{"path": w.path, "rule": w.rule, "message": w.message} for w in warnings],
            "date_updated": date(row.date_updated),
            "url": f"{self.origin}/assethost/v1/Services/{row.service_sid}/Builds/{row.sid}",
        }

    # --- assethost extensions: media ----------------------------------------------------------

    def edge_url(self, domain_label: str, path: str) -> str:
        """An environment's URL as clients reach the edge: the API's scheme and port (they share
        them), the environment's domain."""
        scheme, _, netloc = self.origin.partition("://")
        port = netloc.rsplit(":", 1)[1] if ":" in netloc and not netloc.endswith("]") else None
        return f"{scheme}://{domain_name(domain_label, self.base_domain)}{':' + port if port else ''}{path}"

    @staticmethod
    def media_warnings(results: list[checks.Result]) -> list[dict[str, Any]]:
        return [{"rule": r.rule, "message": r.message} for r in results]

    def version_media(self, vm: VersionMedia) -> dict[str, Any]:
        """The version as the standard API shows it, plus what its bytes are and how they fare."""
        facts = vm.media
        media: dict[str, Any] | None = None
        if facts is not None:
            media = {"kind": facts.kind, "format": facts.format}
            if facts.kind in ("audio", "video"):
                media |= {"codec": facts.codec,
                          "duration_seconds": None if facts.duration_ms is None else facts.duration_ms / 1000}
            if facts.kind == "audio":
                media |= {"sample_rate": facts.sample_rate, "channels": facts.channels, "bitrate": facts.bitrate}
            if facts.kind == "image":
                media |= {"width": facts.width, "height": facts.height, "has_exif": facts.has_exif,
                          "has_gps": facts.has_gps}
            media["checks"] = [{"rule": r.rule, "ok": r.ok, "message": r.message} for r in vm.checks]
        alias = vm.immutable_url
        return self.version(vm.version) | {
            "media": media,
            "immutable_url": self.edge_url(alias.domain_label, alias.path) if alias else None,
        }

    def media_settings(self, row: MediaSettings) -> dict[str, Any]:
        return {
            "service_sid": row.service_sid,
            "strip_metadata": bool(row.strip_metadata),
            "strict_rules": [n for n in row.strict_rules.split(",") if n],
            "rules": [{"rule": r.name, "checks": r.checks, "source": r.source} for r in checks.RULES],
            "url": f"{self.origin}/assethost/v1/Services/{row.service_sid}/MediaSettings",
        }

    def log(self, row: LogLine) -> dict[str, Any]:
        return {
            "sid": row.sid,
            "account_sid": row.account_sid,
            "service_sid": row.service_sid,
            "environment_sid": row.environment_sid,
            "build_sid": row.build_sid,
            "deployment_sid": row.deployment_sid,
            "function_sid": row.function_sid,
            "request_sid": row.request_sid,
            "level": row.level,
            "message": row.message,
            "date_created": date(row.date_created),
            "url": f"{self.service_url(row.service_sid)}/Environments/{row.environment_sid}/Logs/{row.sid}",
        }

    def environment(self, row: Environment) -> dict[str, Any]:
        url = f"{self.service_url(row.service_sid)}/Environments/{row.sid}"
        return {
            "sid": row.sid,
            "account_sid": row.account_sid,
            "service_sid": row.service_sid,
            "build_sid": row.build_sid,
            "unique_name": row.unique_name,
            "domain_suffix": row.domain_suffix,
            "domain_name": domain_name(row.domain_label, self.base_domain),
            "date_created": date(row.date_created),
            "date_updated": date(row.date_updated),
            "url": url,
            "links": {
                "variables": f"{url}/Variables",
                "deployments": f"{url}/Deployments",
                "logs": f"{url}/Logs",
            },
        }

    def deployment(self, row: Deployment) -> dict[str, Any]:
        return self._in_environment(row, "Deployments", build_sid=row.build_sid)

    def variable(self, row: Variable) -> dict[str, Any]:
        return self._in_environment(row, "Variables", key=row.key, value=row.value)

    def _in_environment(self, row: Deployment | Variable, collection: str, **fields: Any) -> dict[str, Any]:
        return {
            "sid": row.sid,
            "account_sid": row.account_sid,
            "service_sid": row.service_sid,
            "environment_sid": row.environment_sid,
            **fields,
            "date_created": date(row.date_created),
            "date_updated": date(row.date_updated),
            "url": f"{self.service_url(row.service_sid)}/Environments/{row.environment_sid}/{collection}/{row.sid}",
        }

    def usage(self, u: Usage) -> dict[str, Any]:
        return {
            "account_sid": u.account_sid,
            "month": u.month,
            "requests": u.requests,
            "free_requests": u.free_requests,
            "billable_requests": u.billable_requests,
            "price_per_request": str(PRICE_PER_REQUEST),
            "price_unit": "USD",
            "cost": f"{u.cost:.4f}",
            "url": f"{self.origin}/assethost/v1/Usage?Month={u.month}",
        }

    def listing(
        self, path: str, key: str, page: Page[R], item: Callable[[R], dict[str, Any]],
        filters: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        req = page.request
        base = self.origin + path

        def link(page_no: int, token: str | None) -> str:
            query = dict(filters or {})
            query.update(PageSize=str(req.size), Page=str(page_no))
            if token:
                query["PageToken"] = token
            return f"{base}?{urlencode(query)}"

        current_token = None
        if req.after_id is not None:
            current_token = f"PA{req.after_id}"
        elif req.before_id is not None:
            current_token = f"PB{req.before_id}"
        next_token, previous_token = page.next_token, page.previous_token
        return {
            key: [item(row) for row in page.rows],
            "meta": {
                "first_page_url": link(0, None),
                "key": key,
                "next_page_url": link(req.page + 1, next_token) if next_token else None,
                "page": req.page,
                "page_size": req.size,
                "previous_page_url": link(req.page - 1, previous_token) if previous_token else None,
                "url": link(req.page, current_token),
            },
        }
