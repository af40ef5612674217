"""`assethost logs`: what an environment's functions printed (the Logs resource,
`GET /v1/Services/{ZS}/Environments/{ZE}/Logs`), optionally followed as it grows (`--tail`).

The server stamps a line when the function prints it but writes lines to the database in batches
(every half second), so a line can become visible after later-stamped ones. `--tail` therefore
asks again every second from a little before the newest line it has seen (TAIL_OVERLAP_S) and
skips the SIDs it already printed.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from assethost.cli.client import Client
from assethost.cli.connection import Connection, connection_options
from assethost.cli.output import emit_json, handles_errors, json_option
from assethost.cli.targets import (
    TargetError,
    default_service_name,
    is_sid,
    parse_environment,
    require_environment,
    require_service,
)

API_DATE = "%Y-%m-%dT%H:%M:%SZ"
TAIL_INTERVAL_S = 1.0
TAIL_OVERLAP_S = 5.0  # how far before the newest seen line a poll starts (lines arrive in batches)
_AGO = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_when(value: str | None, option: str, now: datetime | None = None) -> datetime | None:
    """An ISO 8601 date/time (naive means UTC), or a duration ago: `30s`, `10m`, `2h`, `1d`."""
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    m = _AGO.match(text)
    if m:
        return (now or datetime.now(UTC)) - timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    try:
        when = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date: use e.g. 2026-11-10T20:00:00Z, 2026-11-10, or 10m / 2h / 1d ago",
            param_hint=option,
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def api_date(when: datetime) -> str:
    return when.astimezone(UTC).strftime(API_DATE)


def _parse_api_date(value: str | None) -> datetime | None:
    try:
        return datetime.strptime(value or "", API_DATE).replace(tzinfo=UTC)
    except ValueError:
        return None


class FunctionNames:
    """ZH… → path (the function's friendly name, which deploy and the toolkit set to its path)."""

    def __init__(self, client: Client, zs: str) -> None:
        self.client, self.zs = client, zs
        self.paths: dict[str, str] = {}
        self._checked: set[str] = set()
        self.refresh()

    def refresh(self) -> None:
        self.paths = {r["sid"]: r.get("friendly_name") or r["sid"] for r in self.client.resources(self.zs, "function")}

    def path(self, sid: str | None) -> str | None:
        if not sid:
            return None
        if sid not in self.paths and sid not in self._checked:
            self._checked.add(sid)  # created after we listed them (a redeploy while tailing)
            self.refresh()
        return self.paths.get(sid)

    def resolve(self, value: str) -> str:
        """--function: a ZH… SID, or a function path (`/hello`, `hello`, `hello.js`, `api/x.py`)."""
        if is_sid(value, "ZH"):
            return value
        wanted = "/" + value.strip().lstrip("/")
        candidates = [value, wanted]
        for ext in (".js", ".py"):
            if wanted.endswith(ext):
                candidates.append(wanted[: -len(ext)])
        by_path = {path: sid for sid, path in self.paths.items()}
        for candidate in candidates:
            if candidate in by_path:
                return by_path[candidate]
        known = ", ".join(sorted(by_path)) or "none"
        raise TargetError(f"no function {value!r} in this service (functions: {known})")


def fetch(client: Client, zs: str, ze: str, **params: Any) -> list[dict[str, Any]]:
    """Every line in the window, oldest first: the API lists them newest first (as Twilio does),
    each next page older, so this reads them all and turns them round."""
    query = {k: v for k, v in params.items() if v is not None}
    return list(reversed(list(client.iterate(f"/v1/Services/{zs}/Environments/{ze}/Logs", "logs", **query))))


def _line(entry: dict[str, Any]) -> str:
    where = entry.get("function_path") or entry.get("function_sid") or "-"
    return f"{entry.get('date_created')}  {entry.get('level', ''):<5}  {where}  {entry.get('message', '')}"


@click.command()
@click.option("--service-name", "-n", default=None,
              help="Service unique name or ZS… SID [default: package.json name here, else this folder's name].")
@click.option("--environment", "-e", default="dev", show_default=True,
              help="Environment domain suffix; production, prod or '' mean no suffix; or a ZE… SID.")
@click.option("--production", is_flag=True, help="The production environment (no domain suffix).")
@click.option("--function", "-f", "function", default=None, metavar="PATH|ZH…",
              help="Only this function: its path (/hello) or SID.")
@click.option("--start", default=None, metavar="WHEN",
              help="From this time: ISO 8601 (UTC unless it says otherwise) or 10m / 2h / 1d ago "
                   "[default: a day before --end].")
@click.option("--end", default=None, metavar="WHEN", help="Until this time [default: now].")
@click.option("--tail", is_flag=True, help="Keep printing new lines as they come, until Ctrl-C.")
@click.option("--tail-seconds", type=float, default=None, hidden=True,
              help="Stop --tail after this many seconds (for tests and scripts).")
@json_option
@connection_options
@handles_errors
def logs(service_name: str | None, environment: str, production: bool, function: str | None, start: str | None,
         end: str | None, tail: bool, tail_seconds: float | None, as_json: bool, conn: Connection) -> None:
    """Print what the environment's functions logged, oldest first (--tail: and follow it)."""
    if tail and end:
        raise click.UsageError("--tail follows new lines: it cannot be combined with --end")
    start_at = parse_when(start, "--start")
    end_at = parse_when(end, "--end")
    name = default_service_name(service_name)
    target = parse_environment(environment, production)
    with conn.client() as client:
        service = require_service(client, name)
        zs = service["sid"]
        env = require_environment(client, service, target)
        names = FunctionNames(client, zs)
        function_sid = names.resolve(function) if function else None
        params = {"FunctionSid": function_sid, "StartDate": api_date(start_at) if start_at else None,
                  "EndDate": api_date(end_at) if end_at else None}

        def enrich(entry: dict[str, Any]) -> dict[str, Any]:
            return entry | {"function_path": names.path(entry.get("function_sid"))}

        entries = [enrich(e) for e in fetch(client, zs, env["sid"], **params)]
        if not tail:
            if as_json:
                emit_json({"service_sid": zs, "environment_sid": env["sid"],
                           "domain_name": env.get("domain_name"), "function_sid": function_sid, "logs": entries})
            else:
                for entry in entries:
                    click.echo(_line(entry))
            return

        def show(entry: dict[str, Any]) -> None:
            click.echo(json.dumps(entry, sort_keys=False) if as_json else _line(entry))

        for entry in entries:
            show(entry)
        _follow(client, zs, env["sid"], params, entries, enrich, show, tail_seconds)


def _follow(client: Client, zs: str, ze: str, params: dict[str, Any], entries: list[dict[str, Any]],
            enrich: Any, show: Any, seconds: float | None) -> None:
    """Poll every TAIL_INTERVAL_S from a little before the newest line seen; print unseen SIDs."""
    seen: dict[str, datetime] = {}
    newest: datetime | None = None

    def remember(entry: dict[str, Any]) -> None:
        nonlocal newest
        when = _parse_api_date(entry.get("date_created")) or datetime.now(UTC)
        seen[entry["sid"]] = when
        newest = when if newest is None or when > newest else newest

    for entry in entries:
        remember(entry)
    deadline = time.monotonic() + seconds if seconds is not None else None
    try:
        while True:
            wait = TAIL_INTERVAL_S
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    return
            time.sleep(wait)
            query = dict(params)
            if newest is not None:
                since = newest - timedelta(seconds=TAIL_OVERLAP_S)
                query["StartDate"] = api_date(since)
                for sid in [s for s, when in seen.items() if when < since]:  # never asked for again
                    del seen[sid]
            for entry in fetch(client, zs, ze, **query):
                if entry["sid"] in seen:
                    continue
                remember(entry)
                show(enrich(entry))
    except KeyboardInterrupt:
        return
