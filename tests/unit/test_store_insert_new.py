"""`Rows.insert_new` (store/meta.py): rows already there are skipped, the others inserted, in one
statement and without spoiling the transaction, on SQLite and PostgreSQL (the bulk deploy records
media facts this way, while a concurrent upload may record the same blob's)."""

from __future__ import annotations

from datetime import datetime

import pytest

from assethost.store.meta import MetaStore

NOW = datetime(2026, 12, 1, 12, 0, 0)


def _facts(blob_hash: str, kind: str) -> dict:
    return {"blob_hash": blob_hash, "kind": kind, "format": None, "codec": None, "sniffed_type": None,
            "duration_ms": None, "sample_rate": None, "channels": None, "bitrate": None, "width": None,
            "height": None, "has_exif": False, "has_gps": False, "date_created": NOW}


@pytest.fixture
def meta(backend, tmp_path):
    url, dbname = backend.create_database()
    store = MetaStore(url or f"sqlite:///{tmp_path / 'assethost.sqlite3'}")
    store.migrate()
    yield store
    store.dispose()
    backend.drop_database(dbname)


def test_insert_new_skips_rows_that_are_there_and_keeps_them_unchanged(meta):
    a, b, c = ("a" * 64, "b" * 64, "c" * 64)
    with meta.write() as tx:
        tx.media.insert(**_facts(a, "text"))
    with meta.write() as tx:
        tx.media.insert_new([_facts(a, "image"), _facts(b, "audio"), _facts(c, "other")])
        tx.media.insert_new([])
        assert tx.media.count() == 3  # the transaction goes on after the skipped row
    with meta.read() as tx:
        assert {m.blob_hash: m.kind for m in tx.media.select()} == {a: "text", b: "audio", c: "other"}
