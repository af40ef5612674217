"""The edge's half of immutable aliases (core/aliases.py): for every served file of a build, the
same entry under its alias path with a year-long, immutable Cache-Control. The entry shares the
original's body and file, only its headers differ; the responder looks an alias up only when no
file has the path and the path has a `~` in it, so serving plain paths never pays for them."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from assethost.core.aliases import CACHE_CONTROL_PROTECTED, CACHE_CONTROL_PUBLIC, alias_path
from assethost.edge.conditional import not_modified_headers
from assethost.edge.httpparts import serialize

if TYPE_CHECKING:
    from assethost.edge.snapshot import FileEntry, Variant

MARK = "~"


def immutable(served: dict[str, FileEntry]) -> dict[str, FileEntry]:
    out = {}
    for entry in served.values():
        cache = CACHE_CONTROL_PUBLIC if entry.visibility == "public" else CACHE_CONTROL_PROTECTED
        variants = None if entry.variants is None else tuple(_immutable_variant(v, cache) for v in entry.variants)
        # Its heads are made from these fields at its first answer, as the original's are.
        out[alias_path(entry.path, entry.blob_hash)] = dataclasses.replace(
            entry, cache_control=cache.encode(), variants=variants, _ok_headers=None, _ok_head=None,
            _not_modified=None,
        )
    return out


def _immutable_variant(variant: Variant, cache: str) -> Variant:
    headers = _immutable(variant.headers, cache)
    not_modified = not_modified_headers(headers)
    return dataclasses.replace(variant, headers=headers, head=serialize(headers), not_modified_headers=not_modified,
                               not_modified_head=serialize(not_modified))


def _immutable(headers: list[tuple[bytes, bytes]], cache: str) -> list[tuple[bytes, bytes]]:
    return [h for h in headers if h[0] != b"cache-control"] + [(b"cache-control", cache.encode())]
