"""What functions printed: the Logs resource (`…/Environments/{ZE}/Logs`), and `append`, through
which the function runner (`assethost.functions.logs`) stores the lines it collected."""

from __future__ import annotations

from datetime import datetime, timedelta

from assethost.core import clock, environments, lookup, sids
from assethost.core.context import Context
from assethost.core.errors import Invalid
from assethost.core.model import LogLine
from assethost.core.paging import Page, PageRequest, fetch
from assethost.core.ports import MetaStore, Value

# The levels of Twilio's Log resource (console.warn and Python's logging.warning are `warning`).
LEVELS = ("info", "warning", "error")

# (environment SID, build SID) → the deployment that put the build there, as a caller caches it.
Deployments = dict[tuple[str, str], "str | None"]


def _date(value: str | None, param: str) -> datetime | None:
    if value is None or value == "":
        return None
    text = value.strip().replace("Z", "").replace("z", "")
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text.split("+")[0].split(".")[0], fmt)
        except ValueError:
            continue
    raise Invalid(f"{param} must be a date like 2026-11-10T20:00:00Z (got {value!r})")


def page(ctx: Context, account_sid: str, service_ref: str, environment_sid: str, req: PageRequest,
         function_sid: str | None, start: str | None, end: str | None) -> Page[LogLine]:
    """Newest first, as Twilio lists them (the Serverless Toolkit reads page 1 for the latest
    lines, and `twilio-run logs --tail` polls it for new ones); by default over the last day (as
    Twilio's StartDate/EndDate defaults). The next page holds older lines."""
    end_at = _date(end, "EndDate") or clock.now()
    start_at = _date(start, "StartDate") or (end_at - min(timedelta(days=1), end_at - datetime.min))
    if function_sid is not None and not sids.is_sid(function_sid, sids.RESOURCE):
        raise Invalid(f"FunctionSid must be a Function SID (ZH…), got {function_sid!r}")
    with ctx.meta.read() as tx:
        _, env = environments.find(tx, account_sid, service_ref, environment_sid)
        where = {"environment_sid": env.sid} | ({"function_sid": function_sid} if function_sid else {})
        return fetch(tx.logs, where, req, between=("date_created", start_at, end_at), newest_first=True)


def get(ctx: Context, account_sid: str, service_ref: str, environment_sid: str, sid: str) -> LogLine:
    with ctx.meta.read() as tx:
        _, env = environments.find(tx, account_sid, service_ref, environment_sid)
        uri = f"/Services/{service_ref}/Environments/{environment_sid}/Logs/{sid}"
        return lookup.child(tx.logs, sids.LOG, sid, uri, environment_sid=env.sid)


def append(meta: MetaStore, lines: list[dict[str, Value]], deployments: Deployments) -> None:
    """Store log lines (the columns of LogLine but `deployment_sid`, which is filled in: the
    latest deployment of the line's build to its environment, looked up once per pair and kept
    in `deployments`)."""
    with meta.write() as tx:
        for line in lines:
            key = (str(line["environment_sid"]), str(line["build_sid"]))
            if key not in deployments:
                row = tx.deployments.last(environment_sid=key[0], build_sid=key[1])
                deployments[key] = row.sid if row is not None else None
            line["deployment_sid"] = deployments[key]
        tx.logs.insert_many(lines)
