"""The limits of files and builds (`config.Limits`, from `--max-*` flags) applied: the errors a
file or a build too large or too many gets."""

from __future__ import annotations

from assethost.config import Limits
from assethost.core.errors import Invalid, TooLarge


def check_file(limits: Limits, kind: str, visibility: str, path: str, size: int) -> None:
    limit = limits.max_bytes(kind, visibility)
    if size > limit:
        raise TooLarge(f"File {path} is {size} bytes; {visibility} {kind}s may be at most {limit} bytes")


def check_build(limits: Limits, entries: list[tuple[str, str, str, int]]) -> None:
    """entries: (kind, visibility, path, size) of everything a build would hold."""
    counts: dict[tuple[str, str], int] = {}
    for kind, visibility, path, size in entries:
        limit = limits.max_bytes(kind, visibility)
        if size > limit:
            raise Invalid(
                f"{kind.capitalize()} {path} is {size} bytes; {visibility} {kind}s may be at most {limit} bytes"
            )
        key = (kind, "any" if kind == "function" else visibility)
        counts[key] = counts.get(key, 0) + 1
    for (kind, visibility), count in counts.items():
        if kind == "function":
            limit, what = limits.max_function_versions, "function versions"
        elif visibility == "private":
            limit, what = limits.max_private_versions, "private asset versions"
        else:
            limit, what = limits.max_public_versions, f"{visibility} asset versions"
        if count > limit:
            raise Invalid(f"A build may hold at most {limit} {what}; this one has {count}")
