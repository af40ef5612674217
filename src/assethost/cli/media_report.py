"""What `assethost deploy` tells about media once a build is live: the files that fail a media
rule (the build's summary, from the server) and the URLs whose bytes changed, each with its new
immutable URL, so that nothing keeps pointing at a cached old greeting."""

from __future__ import annotations

from typing import Any

from assethost.cli.client import Client
from assethost.cli.deploy import DeployResult
from assethost.cli.edge import edge_url
from assethost.core.aliases import alias_path


def after_deploy(client: Client, result: DeployResult) -> dict[str, Any]:
    zs, zb = result.service.get("sid"), result.build_sid
    if result.dry_run or not zs or not zb:
        return {"media_warnings": [], "changed_urls": []}
    warnings = client.build_details(zs, zb).get("media_warnings", [])
    changed: list[dict[str, str]] = []
    domain = result.environment.get("domain_name")
    if result.changed and result.previous_build_sid and domain:
        hashes = {v["sid"]: v["sha256"] for v in client.versions_with_hashes(zs, "asset")}
        previous = client.build(zs, result.previous_build_sid)
        before = {v["path"]: hashes.get(v["sid"]) for v in previous.get("asset_versions", [])}
        for p in sorted(result.files, key=lambda p: p.file.path):
            now = hashes.get(p.version_sid or "")
            if p.file.kind != "asset" or p.file.visibility == "private" or now is None:
                continue
            if p.file.path in before and before[p.file.path] != now:
                changed.append({"url": edge_url(client.api_url, domain, p.file.path),
                                "immutable_url": edge_url(client.api_url, domain, alias_path(p.file.path, now))})
    return {"media_warnings": warnings, "changed_urls": changed}


def lines(report: dict[str, Any]) -> list[str]:
    out = []
    for c in report["changed_urls"]:
        out.append(f"  changed bytes: {c['url']}  (now {c['immutable_url']})")
    for w in report["media_warnings"]:
        out.append(f"  warning {w['path']}: {w['rule']}: {w['message']}")
    return out
