"""Runs the Alembic migrations shipped inside the package, on an existing engine, one process at a
time on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


# Held while PostgreSQL migrates (any number that no other program on the database locks):
# nodes starting at once on one database migrate in turn, the later ones finding it at head.
MIGRATION_LOCK = 0x61737365  # "asse"


def upgrade(engine: Engine, revision: str = "head") -> None:
    cfg = config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # released at the transaction's end, the migration's
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")  # the driver begins nothing by itself (store/meta.py)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
