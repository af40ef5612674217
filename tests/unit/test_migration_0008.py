"""Migration 0008 on a database made by the schema before it (0007), on SQLite and PostgreSQL:
every environment keeps its row, its deployments and its variables, and its domain loses the
base domain it was made under, whichever that was."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import text

from assethost.store.meta import MetaStore
from assethost.store.migrate import upgrade

NOW = datetime(2026, 12, 1, 12, 0, 0)
ACCOUNT = "AC" + "a" * 32
SERVICES = [("ZS" + "1" * 32, "shop", "shop-1234"), ("ZS" + "2" * 32, "Assets", "bold-lamp-5678")]
# (sid, service, unique name, suffix, the domain stored by the old schema)
ENVIRONMENTS = [
    ("ZE" + "1" * 32, 0, "dev", "dev", "shop-1234-dev.localhost"),
    ("ZE" + "2" * 32, 0, "production", None, "shop-1234.example.test"),  # made under another base domain
    ("ZE" + "3" * 32, 1, "legacy", None, "bold-lamp-5678.localhost"),
]


@pytest.fixture
def engine(backend, tmp_path):
    """An empty database, connected to as the server connects (on SQLite: foreign keys on)."""
    url, dbname = backend.create_database()
    meta = MetaStore(url or f"sqlite:///{tmp_path / 'assethost.sqlite3'}")
    yield meta.engine
    meta.dispose()
    backend.drop_database(dbname)


def _services(engine, services) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO accounts (sid, friendly_name, auth_token, date_created) "
                          "VALUES (:a, 'Main', 'token', :now)"), {"a": ACCOUNT, "now": NOW})
        for sid, unique, base in services:
            conn.execute(text(
                "INSERT INTO services (sid, account_sid, unique_name, friendly_name, include_credentials, ui_editable,"
                " domain_base, kind, date_created, date_updated) VALUES (:sid, :a, :u, :u, true, false, :b,"
                " 'serverless', :now, :now)"), {"sid": sid, "a": ACCOUNT, "u": unique, "b": base, "now": NOW})


def _fill(engine) -> None:
    _services(engine, SERVICES)
    with engine.begin() as conn:
        for sid, service, unique, suffix, domain in ENVIRONMENTS:
            params = {"sid": sid, "a": ACCOUNT, "s": SERVICES[service][0], "u": unique, "x": suffix, "d": domain,
                      "now": NOW}
            conn.execute(text(
                "INSERT INTO environments (sid, account_sid, service_sid, unique_name, domain_suffix, domain_name,"
                " build_sid, date_created, date_updated) VALUES (:sid, :a, :s, :u, :x, :d, NULL, :now, :now)"),
                params)
            conn.execute(text(
                "INSERT INTO deployments (sid, account_sid, service_sid, environment_sid, build_sid, date_created,"
                " date_updated) VALUES (:dep, :a, :s, :sid, NULL, :now, :now)"),
                {**params, "dep": "ZD" + sid[2:]})
            conn.execute(text(
                "INSERT INTO variables (sid, account_sid, service_sid, environment_sid, key, value, date_created,"
                " date_updated) VALUES (:var, :a, :s, :sid, 'KEY', :u, :now, :now)"),
                {**params, "var": "ZV" + sid[2:]})


def test_0008_keeps_every_environment_and_stores_its_domain_without_the_base_domain(engine):
    upgrade(engine, "0007")
    _fill(engine)
    upgrade(engine, "0008")
    with engine.connect() as conn:
        envs = conn.execute(text(
            "SELECT sid, unique_name, domain_suffix, domain_label FROM environments ORDER BY sid")).all()
        deployments = conn.execute(text("SELECT environment_sid FROM deployments ORDER BY sid")).scalars().all()
        variables = conn.execute(text("SELECT environment_sid, value FROM variables ORDER BY sid")).all()
    assert [tuple(e) for e in envs] == [
        ("ZE" + "1" * 32, "dev", "dev", "shop-1234-dev"),
        ("ZE" + "2" * 32, "production", None, "shop-1234"),
        ("ZE" + "3" * 32, "legacy", None, "bold-lamp-5678"),
    ]
    assert deployments == [e[0] for e in ENVIRONMENTS]
    assert [tuple(v) for v in variables] == [(e[0], e[2]) for e in ENVIRONMENTS]


def test_0008_labels_stay_unique(engine):
    upgrade(engine, "head")
    _services(engine, SERVICES[:1])
    insert = text(
        "INSERT INTO environments (sid, account_sid, service_sid, unique_name, domain_suffix, domain_label,"
        " build_sid, date_created, date_updated) VALUES (:sid, :a, :s, :u, NULL, 'shop-1234', NULL, :now, :now)")
    with engine.begin() as conn:
        conn.execute(insert, {"sid": "ZE" + "4" * 32, "a": ACCOUNT, "s": SERVICES[0][0], "u": "one", "now": NOW})
    with pytest.raises(Exception, match="(?i)unique"), engine.begin() as conn:
        conn.execute(insert, {"sid": "ZE" + "5" * 32, "a": ACCOUNT, "s": SERVICES[0][0], "u": "two", "now": NOW})
