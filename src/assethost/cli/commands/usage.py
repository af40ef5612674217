"""`assethost usage`: the account's edge requests this month and what they cost."""

from __future__ import annotations

import re

import click

from assethost.cli.connection import Connection, connection_options
from assethost.cli.output import emit_json, handles_errors, json_option


@click.command()
@click.option("--month", default=None, metavar="YYYY-MM", help="[default: this month (UTC)]")
@json_option
@connection_options
@handles_errors
def usage(month: str | None, as_json: bool, conn: Connection) -> None:
    """Requests served for this account in a month, how many were free, and the cost."""
    if month and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise click.UsageError(f"--month {month!r}: expected YYYY-MM")
    with conn.client() as client:
        u = client.usage(month)
    if as_json:
        emit_json(u)
        return
    click.echo(f"account {u['account_sid']}, {u['month']}")
    click.echo(f"  requests:  {u['requests']} ({u['free_requests']} free, {u['billable_requests']} billable)")
    click.echo(f"  price:     {u['price_per_request']} {u['price_unit']} per billable request")
    click.echo(f"  cost:      {u['cost']} {u['price_unit']}")
