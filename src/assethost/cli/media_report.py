"""What `assethost deploy` tells about media once a build is live: the files that fail a media
rule (the build's summary, from the server)."""

from __future__ import annotations

from typing import Any

from assethost.cli.client import Client
from assethost.cli.deploy import DeployResult


def after_deploy(client: Client, result: DeployResult) -> dict[str, Any]:
    zs, zb = result.service.get("sid"), result.build_sid
    if result.dry_run or not zs or not zb:
        return {"media_warnings": []}
    return {"media_warnings": client.build_details(zs, zb).get("media_warnings", [])}


def lines(report: dict[str, Any]) -> list[str]:
    return [f"  warning {w['path']}: {w['rule']}: {w['message']}" for w in report["media_warnings"]]
