"""aliases.changed_paths: which URLs of a new live build serve other bytes than the previous
build's at the same path (what Deploy All in the console names)."""

from __future__ import annotations

from datetime import UTC, datetime

from assethost.core.aliases import changed_paths
from assethost.core.model import BuildEntry

_WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def _entry(build: str, path: str, blob: str, visibility: str = "public", kind: str = "asset") -> BuildEntry:
    return BuildEntry(id=0, build_sid=build, version_sid=f"ZN{path}{blob}", resource_sid="ZH1", kind=kind, path=path,
                      visibility=visibility, blob_hash=blob * 64, size=1, content_type="text/plain",
                      version_date_created=_WHEN)


def test_only_served_paths_whose_blob_changed_are_named_sorted():
    before = [_entry("ZB1", "/b.txt", "1"), _entry("ZB1", "/a.txt", "2"), _entry("ZB1", "/same.txt", "3"),
              _entry("ZB1", "/gone.txt", "4"), _entry("ZB1", "/secret.txt", "5", "private"),
              _entry("ZB1", "/fn", "6", kind="function"), _entry("ZB1", "/vis.txt", "7")]
    after = [_entry("ZB2", "/b.txt", "8"), _entry("ZB2", "/a.txt", "9"), _entry("ZB2", "/same.txt", "3"),
             _entry("ZB2", "/new.txt", "a"), _entry("ZB2", "/secret.txt", "b", "private"),
             _entry("ZB2", "/fn", "c", kind="function"), _entry("ZB2", "/vis.txt", "7", "protected")]
    assert changed_paths(before, after) == ["/a.txt", "/b.txt"]


def test_a_first_deploy_changes_no_urls_bytes():
    assert changed_paths([], [_entry("ZB1", "/a.txt", "1")]) == []
