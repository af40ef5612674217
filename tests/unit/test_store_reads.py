"""The store's read operations keep one statement per shape with bound parameters
(store/meta.py): each call must still answer for its own values, NULL filters must stay `IS NULL`,
and every page mode (offset, after, before, newest first, between) must give the rows the plain
definition gives. Checked on SQLite and PostgreSQL against the rows computed in Python."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from assethost.store.meta import MetaStore

NOW = datetime(2026, 12, 1, 12, 0, 0)
ACCOUNT = "AC" + "a" * 32
SERVICE = "ZS" + "1" * 32
ROWS = 30


@pytest.fixture
def meta(backend, tmp_path):
    url, dbname = backend.create_database()
    store = MetaStore(url or f"sqlite:///{tmp_path / 'assethost.sqlite3'}")
    store.migrate()
    with store.write() as tx:
        tx.accounts.insert(sid=ACCOUNT, friendly_name="Main", auth_token="t" * 32, date_created=NOW)
        tx.services.insert(sid=SERVICE, account_sid=ACCOUNT, unique_name="shop", friendly_name="shop",
                           include_credentials=True, ui_editable=False, domain_base="shop-1234", kind="serverless",
                           date_created=NOW, date_updated=NOW)
        for i in range(ROWS):
            # every third environment has no suffix and every other one no build: NULL filters
            tx.environments.insert(
                sid=f"ZE{i:032x}", account_sid=ACCOUNT, service_sid=SERVICE, unique_name=f"env{i}",
                domain_suffix=None if i % 3 == 0 else f"s{i}", domain_label=f"shop-1234-{i}",
                build_sid=None if i % 2 else f"ZB{i:032x}", date_created=NOW + timedelta(seconds=i),
                date_updated=NOW)
    yield store
    store.dispose()
    backend.drop_database(dbname)


def _all(meta):
    with meta.read() as tx:
        return tx.environments.select(service_sid=SERVICE)


def test_each_call_answers_for_its_own_values(meta):
    rows = _all(meta)
    assert len(rows) == ROWS and [r.id for r in rows] == sorted(r.id for r in rows)
    with meta.read() as tx:
        for row in rows:  # the same shape again and again, other values each time
            assert tx.environments.get(sid=row.sid) == row
            assert tx.environments.one(unique_name=row.unique_name, service_sid=SERVICE) == row
            assert tx.environments.count(domain_suffix=row.domain_suffix) == (
                sum(1 for r in rows if r.domain_suffix is None) if row.domain_suffix is None else 1)
        assert tx.environments.get(sid="ZE" + "f" * 32) is None
        assert tx.environments.last(service_sid=SERVICE) == rows[-1]
        assert tx.environments.last(service_sid="ZS" + "2" * 32) is None


def test_null_filters_are_is_null(meta):
    rows = _all(meta)
    with meta.read() as tx:
        assert tx.environments.select(build_sid=None) == [r for r in rows if r.build_sid is None]
        assert tx.environments.select(build_sid=None, domain_suffix=None) == [
            r for r in rows if r.build_sid is None and r.domain_suffix is None]
        assert tx.environments.count(domain_suffix=None) == sum(1 for r in rows if r.domain_suffix is None)
        built = rows[0].build_sid
        assert tx.environments.select(build_sid=built) == [rows[0]]
        assert tx.environments.last(build_sid=None) == [r for r in rows if r.build_sid is None][-1]


@pytest.mark.parametrize("newest_first", [False, True])
def test_every_page_mode_gives_the_rows_of_its_definition(meta, newest_first):
    rows = _all(meta)
    ordered = list(reversed(rows)) if newest_first else rows
    where = {"service_sid": SERVICE}
    with meta.read() as tx:
        page = tx.environments.page
        for limit in (1, 7, ROWS + 5):
            for offset in (0, 3, ROWS):
                assert page(where, limit=limit, offset=offset, newest_first=newest_first) == \
                    ordered[offset:offset + limit]
            for pivot in ordered[::5]:
                i = ordered.index(pivot)
                assert page(where, limit=limit, after_id=pivot.id, newest_first=newest_first) == \
                    ordered[i + 1:i + 1 + limit]
                assert page(where, limit=limit, before_id=pivot.id, newest_first=newest_first) == \
                    ordered[max(0, i - limit):i]
        low, high = NOW + timedelta(seconds=5), NOW + timedelta(seconds=12)
        within = [r for r in ordered if low <= r.date_created <= high]
        assert page(where, limit=50, between=("date_created", low, high), newest_first=newest_first) == within
        assert page(where, limit=3, offset=1, between=("date_created", low, high), newest_first=newest_first) == \
            within[1:4]
        assert page({"service_sid": SERVICE, "build_sid": None}, limit=50, newest_first=newest_first) == \
            [r for r in ordered if r.build_sid is None]
