"""Printing results: plain text for people, one JSON document on stdout with --json, and errors
on stderr (plus {"error": …} on stdout with --json) with a non-zero exit code."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import click

from assethost.cli.client import ApiError
from assethost.cli.deploy import DeployError
from assethost.cli.project import ProjectError
from assethost.cli.targets import TargetError

EXPECTED_ERRORS = (ApiError, DeployError, ProjectError, TargetError)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False))


def handles_errors(f: Callable[..., Any]) -> Callable[..., Any]:
    """Turns the CLI's expected failures into `Error: …` on stderr and exit code 1; a wrong
    command line or missing credentials stay click's (exit code 2). With --json, either also
    prints {"error", "status", "code"} on stdout: the HTTP status and Twilio code of the server's
    refusal, both null when no answer came or nothing was asked of the server."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kw: Any) -> Any:
        try:
            return f(*args, **kw)
        except EXPECTED_ERRORS as exc:
            if kw.get("as_json"):
                emit_json(error_json(str(exc), exc))
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)
        except click.ClickException as exc:
            if kw.get("as_json"):
                emit_json(error_json(exc.format_message(), exc))
            raise

    return wrapper


def error_json(message: str, exc: Exception) -> dict[str, Any]:
    # ApiError (status 0: no answer came) and DeployError carry them; other failures are local.
    status = getattr(exc, "status", None) or None
    return {"error": message, "status": status, "code": getattr(exc, "code", None) if status else None}


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")(f)
