"""Finding a record by the SID in a request's path, within its parent."""

from __future__ import annotations

from typing import TypeVar

from assethost.core import sids
from assethost.core.errors import NotFound
from assethost.core.ports import Rows, Value

T = TypeVar("T")


def child(rows: Rows[T], prefix: str, sid: str, uri: str, **parent: Value) -> T:
    """The record `sid` under `parent` (e.g. service_sid=…), or NotFound naming `uri`. A string
    that is no SID of the kind (`prefix`) is simply not found, without a query."""
    row = rows.get(sid=sid, **parent) if sids.is_sid(sid, prefix) else None
    if row is None:
        raise NotFound.resource(uri)
    return row
