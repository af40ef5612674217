"""List paging: PageSize, Page and an opaque PageToken, as Twilio's lists take them.

Tokens are keyset cursors: `PA<id>` means "after row id", `PB<id>` "before row id", in the list's
own order (oldest first, or newest first for a list that asks so: on one of those, the next page
holds older rows). They keep pages stable while rows are added, which plain offsets would not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from assethost.core.errors import Invalid
from assethost.core.ports import Rows, Value


class Identified(Protocol):
    @property
    def id(self) -> int: ...


R = TypeVar("R", bound=Identified)

DEFAULT_SIZE = 50
MAX_SIZE = 1000
# Page × PageSize becomes a row offset, which SQLite and PostgreSQL hold in a signed 64-bit
# integer (a larger one is a database error, not an empty page). No list comes anywhere near.
MAX_OFFSET = 2**62
_TOKEN = re.compile(r"^P([AB])(\d{1,18})$")
_INTEGER = re.compile(r"^-?[0-9]+$")
_MAX_DIGITS = 100


@dataclass(frozen=True)
class PageRequest:
    size: int = DEFAULT_SIZE
    page: int = 0
    after_id: int | None = None
    before_id: int | None = None

    @classmethod
    def parse(cls, size: str | None, page: str | None, token: str | None) -> PageRequest:
        n = _int(size, "PageSize", DEFAULT_SIZE)
        if not 1 <= n <= MAX_SIZE:
            raise Invalid(f"PageSize must be between 1 and {MAX_SIZE} (got {n})")
        p = _int(page, "Page", 0)
        if not 0 <= p <= MAX_OFFSET // n:
            raise Invalid(f"Page must be between 0 and {MAX_OFFSET // n} with PageSize {n} (got {p})")
        after = before = None
        if token:
            m = _TOKEN.match(token)
            if not m:
                raise Invalid(f"Invalid PageToken {token!r}")
            if m.group(1) == "A":
                after = int(m.group(2))
            else:
                before = int(m.group(2))
        return cls(size=n, page=p, after_id=after, before_id=before)


@dataclass(frozen=True)
class Page(Generic[R]):
    rows: list[R]
    request: PageRequest
    has_next: bool

    @property
    def next_token(self) -> str | None:
        return f"PA{self.rows[-1].id}" if self.has_next and self.rows else None

    @property
    def previous_token(self) -> str | None:
        if self.request.page == 0 or not self.rows:
            return None
        return f"PB{self.rows[0].id}"


def fetch(table: Rows[R], where: Mapping[str, Value], req: PageRequest,
          between: tuple[str, Value, Value] | None = None, newest_first: bool = False) -> Page[R]:
    """One page of `table`'s rows matching `where`: in creation order, or newest first."""
    rows = table.page(
        where, limit=req.size + 1, offset=req.page * req.size,
        after_id=req.after_id, before_id=req.before_id, between=between, newest_first=newest_first,
    )
    if req.before_id is not None:
        # Going back: the extra row, if any, is the first one and belongs to an earlier page.
        rows = rows[-req.size :]
        return Page(rows=rows, request=req, has_next=True)
    return Page(rows=rows[: req.size], request=req, has_next=len(rows) > req.size)


def _int(value: str | None, param: str, default: int) -> int:
    """Plain decimal digits with an optional minus sign: int() would also take "+5", " 5",
    "5_000" and other scripts' digits (and refuses a few thousand digits with an error of its own)."""
    if value is None or value == "":
        return default
    if not _INTEGER.match(value):
        raise Invalid(f"{param} must be an integer (got {value[:40]!r})")
    if len(value) > _MAX_DIGITS:
        raise Invalid(f"{param} is too large (got a number of {len(value)} digits)")
    return int(value)
