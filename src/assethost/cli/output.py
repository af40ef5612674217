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
    """Turns the CLI's expected failures into `Error: …` on stderr and exit code 1."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kw: Any) -> Any:
        try:
            return f(*args, **kw)
        except EXPECTED_ERRORS as exc:
            if kw.get("as_json"):
                body: dict[str, Any] = {"error": str(exc)}
                if isinstance(exc, ApiError):
                    body |= {"status": exc.status, "code": exc.code}
                emit_json(body)
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)

    return wrapper


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")(f)
