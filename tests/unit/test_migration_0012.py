"""Migration 0012 on a database made by the schema before it (0008), on SQLite and PostgreSQL:
every version keeps its row, `versions` gains the (service_sid, id) index and its resource index
becomes (resource_sid, id), a service's page of versions is read through the first, and the
migrated database is exactly store/schema.py."""

from __future__ import annotations

from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from assethost.store import schema
from assethost.store.meta import MetaStore
from assethost.store.migrate import upgrade

NOW = datetime(2026, 12, 1, 12, 0, 0)
ACCOUNT = "AC" + "a" * 32
SERVICES = ["ZS" + "1" * 32, "ZS" + "2" * 32]
VERSIONS = 2000  # every 100th of the second service, the rest of the first: a page of the second
# is 20 rows spread over the whole table, which a plan without the index would scan for


@pytest.fixture
def engine(backend, tmp_path):
    url, dbname = backend.create_database()
    meta = MetaStore(url or f"sqlite:///{tmp_path / 'assethost.sqlite3'}")
    yield meta.engine
    meta.dispose()
    backend.drop_database(dbname)


def _fill(engine) -> list[tuple[str, str]]:
    """Two services' VERSIONS versions, interleaved; returns (sid, service) in id order."""
    made = []
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO accounts (sid, friendly_name, auth_token, date_created) "
                          "VALUES (:a, 'Main', 'token', :now)"), {"a": ACCOUNT, "now": NOW})
        for n, service in enumerate(SERVICES):
            conn.execute(text(
                "INSERT INTO services (sid, account_sid, unique_name, friendly_name, include_credentials, ui_editable,"
                " domain_base, kind, date_created, date_updated) VALUES (:s, :a, :u, :u, true, false, :u,"
                " 'serverless', :now, :now)"), {"s": service, "a": ACCOUNT, "u": f"shop{n}", "now": NOW})
            conn.execute(text(
                "INSERT INTO resources (sid, account_sid, service_sid, kind, friendly_name, date_created, date_updated)"
                " VALUES (:r, :a, :s, 'asset', 'a', :now, :now)"),
                {"r": "ZH" + service[2:], "a": ACCOUNT, "s": service, "now": NOW})
        rows = []
        for i in range(VERSIONS):
            service = SERVICES[1] if i % 100 == 0 else SERVICES[0]
            sid = f"ZN{i:032x}"
            made.append((sid, service))
            rows.append({"sid": sid, "a": ACCOUNT, "s": service, "r": "ZH" + service[2:], "p": f"/f{i}.txt",
                         "h": f"{i:064x}", "now": NOW})
        conn.execute(text(
            "INSERT INTO versions (sid, account_sid, service_sid, resource_sid, kind, path, visibility, blob_hash,"
            " size, content_type, date_created) VALUES (:sid, :a, :s, :r, 'asset', :p, 'public', :h, 1,"
            " 'text/plain', :now)"), rows)
    return made


def _indexes(engine) -> dict[str, list[str]]:
    """The indexes of `versions` (those of its constraints left out: PostgreSQL lists them too)."""
    return {ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes("versions")
            if ix["name"].startswith("ix_")}


def _plan(engine, service: str) -> str:
    """How the database reads one page of a service's versions, as the API asks for it."""
    query = "SELECT * FROM versions WHERE service_sid = :s ORDER BY id LIMIT 51"
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return " ".join(str(r[-1]) for r in conn.execute(text("EXPLAIN QUERY PLAN " + query), {"s": service}))
        conn.execute(text("ANALYZE versions"))
        return " ".join(r[0] for r in conn.execute(text("EXPLAIN " + query), {"s": service}))


def test_0012_indexes_versions_by_service_and_keeps_every_row(engine):
    upgrade(engine, "0008")
    made = _fill(engine)
    assert "ix_versions_service" not in _indexes(engine)
    assert _indexes(engine)["ix_versions_resource"] == ["resource_sid"]
    upgrade(engine, "0012")
    assert _indexes(engine)["ix_versions_service"] == ["service_sid", "id"]
    assert _indexes(engine)["ix_versions_resource"] == ["resource_sid", "id"]
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT sid, service_sid FROM versions ORDER BY id")).all()
        page = conn.execute(text("SELECT sid FROM versions WHERE service_sid = :s ORDER BY id LIMIT 5"),
                            {"s": SERVICES[1]}).scalars().all()
    assert [tuple(r) for r in kept] == made
    assert page == [sid for sid, service in made if service == SERVICES[1]][:5]
    assert "ix_versions_service" in _plan(engine, SERVICES[1])


def test_0012_downgrade_gives_back_the_indexes_of_0008(engine):
    upgrade(engine, "0012")
    from alembic import command

    from assethost.store.migrate import config

    cfg = config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0008")
    assert _indexes(engine) == {"ix_versions_resource": ["resource_sid"],
                                "ix_versions_account_blob": ["account_sid", "blob_hash"]}


def test_the_migrated_database_is_the_schema(engine):
    """Every table, column and index of store/schema.py, and nothing else, after every migration."""
    upgrade(engine, "head")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    assert diff == []
