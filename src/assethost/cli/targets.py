"""Naming services and environments on the command line, and finding them by those names.

Environments are named by domain suffix, as the toolkit does: `dev` is the environment whose
domain_suffix is `dev` (unique name `dev-environment` when we create it); `production`, `prod` or an
empty name mean the environment without a suffix (unique name `production`). A ZE… SID names one
environment directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assethost.cli.client import ApiError, Client

PRODUCTION_NAMES = ("", "production", "prod")
_SID = re.compile(r"^(Z[A-Z])[0-9a-f]{32}$")
_DNS_LABEL = re.compile(r"^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*$")
MAX_SERVICE_NAME = 50


class TargetError(Exception):
    pass


def is_sid(value: str | None, prefix: str) -> bool:
    m = _SID.match(value or "")
    return bool(m and m.group(1) == prefix)


@dataclass(frozen=True)
class EnvTarget:
    suffix: str | None  # None: production
    sid: str | None = None

    @property
    def unique_name(self) -> str:
        return f"{self.suffix}-environment" if self.suffix else "production"

    @property
    def label(self) -> str:
        return self.sid or self.suffix or "production"


def parse_environment(value: str | None, production: bool = False) -> EnvTarget:
    if production:
        return EnvTarget(None)
    value = (value or "").strip()
    if is_sid(value, "ZE"):
        return EnvTarget(None, sid=value)
    if value.lower() in PRODUCTION_NAMES:
        return EnvTarget(None)
    if not _DNS_LABEL.match(value) or len(value) > 16:
        raise TargetError(
            f"environment {value!r}: a domain suffix has at most 16 letters, digits and inner hyphens"
        )
    return EnvTarget(value)


def find_environment(envs: list[dict[str, Any]], target: EnvTarget) -> dict[str, Any] | None:
    """The toolkit's getEnvironmentFromSuffix; with several matches, the one with our unique name."""
    if target.sid:
        return next((e for e in envs if e["sid"] == target.sid), None)
    matches = [e for e in envs if (e.get("domain_suffix") or None) == target.suffix]
    if len(matches) > 1:
        preferred = [e for e in matches if e.get("unique_name") == target.unique_name]
        matches = preferred or matches
    return matches[0] if matches else None


def service_name_for(project_dir: Path, package_name: str | None) -> str:
    """Default service name: package.json's name (without an @scope/), else the folder's name,
    with anything but letters, digits and hyphens turned into hyphens."""
    raw = package_name.rsplit("/", 1)[-1] if package_name else Path(project_dir).resolve().name
    name = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9-]", "-", raw)).strip("-")[:MAX_SERVICE_NAME].strip("-")
    if not name:
        raise TargetError(f"cannot make a service name from {raw!r}: pass --service-name")
    return name


def find_service(client: Client, name: str) -> dict[str, Any] | None:
    if is_sid(name, "ZS"):
        try:
            return client.get(f"/v1/Services/{name}")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
    return next((s for s in client.services() if s["unique_name"] == name), None)


def require_service(client: Client, name: str) -> dict[str, Any]:
    service = find_service(client, name)
    if service is None:
        raise TargetError(f"no service named {name!r} (see `assethost list`)")
    return service


def require_environment(client: Client, service: dict[str, Any], target: EnvTarget) -> dict[str, Any]:
    env = find_environment(client.environments(service["sid"]), target)
    if env is None:
        raise TargetError(f"service {service['unique_name']} has no environment {target.label!r}")
    return env


def default_service_name(service_name: str | None, project_dir: Path | None = None) -> str:
    """--service-name, else the name `deploy` would use for the project in project_dir (default: here)."""
    if service_name:
        return service_name
    from assethost.cli.project import read_package_json

    root = Path(project_dir or Path.cwd())
    name = read_package_json(root).get("name")
    return service_name_for(root, name if isinstance(name, str) else None)
