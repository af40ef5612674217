"""The records of core.model are the tables of store/schema.py, field for field, and the store
returns them typed."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from assethost.core import model
from assethost.store import schema
from assethost.store.meta import MetaStore, Tx

# Tables read through Tx; the rest (deploy_state, settings_kv) have operations of their own.
RECORDS = {
    "accounts": model.Account, "api_keys": model.ApiKey, "services": model.Service,
    "resources": model.Resource, "versions": model.Version, "builds": model.Build,
    "build_entries": model.BuildEntry, "environments": model.Environment, "deployments": model.Deployment,
    "variables": model.Variable, "usage": model.Usage, "console_sessions": model.ConsoleSession,
    "logs": model.LogLine, "media": model.Media, "media_settings": model.MediaSettings,
}


def test_every_table_but_the_two_counters_has_a_record():
    assert set(schema.metadata.tables) - set(RECORDS) == {"deploy_state", "settings_kv"}


@pytest.mark.parametrize("table", sorted(RECORDS))
def test_a_record_has_exactly_its_tables_columns(table):
    fields = [f.name for f in dataclasses.fields(RECORDS[table])]
    assert fields == [c.name for c in schema.metadata.tables[table].columns]


def test_rows_come_back_as_frozen_records(tmp_path):
    meta = MetaStore(f"sqlite:///{tmp_path / 'assethost.sqlite3'}")
    meta.migrate()
    try:
        with meta.write() as tx:
            assert isinstance(tx, Tx)
            tx.accounts.insert(sid="AC" + "1" * 32, friendly_name="One", auth_token="t" * 32,
                               date_created=datetime(2026, 12, 1))
        with meta.read() as tx:
            row = tx.accounts.one(sid="AC" + "1" * 32)
            assert tx.accounts.get(sid="AC" + "2" * 32) is None
            with pytest.raises(LookupError):
                tx.accounts.one(sid="AC" + "2" * 32)
        assert type(row) is model.Account
        assert (row.sid, row.friendly_name, row.auth_token) == ("AC" + "1" * 32, "One", "t" * 32)
        with pytest.raises(dataclasses.FrozenInstanceError):
            row.friendly_name = "Two"  # type: ignore[misc]
    finally:
        meta.dispose()
