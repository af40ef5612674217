"""Metadata store: SQLAlchemy Core over SQLite (default) or PostgreSQL.

Core code talks to it through `Tx`, a small set of table-generic operations; no SQL text leaves
this module. Rows come back as SQLAlchemy `Row` objects (attribute access by column name).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Row, create_engine, event, func, insert, select, update
from sqlalchemy import delete as sa_delete
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from assethost.store import schema

TABLES = {t.name: t for t in schema.metadata.sorted_tables}


class Duplicate(Exception):
    """An insert or update broke a uniqueness rule."""


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'assethost.sqlite3'}"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, open transactions, so BEGIN IMMEDIATE is possible.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=15000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A writer takes the lock up front: a deferred transaction that upgrades to a write
        # fails at once with SQLITE_BUSY instead of waiting its turn.
        immediate = conn.get_execution_options().get("assethost_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class MetaStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})
            _configure_sqlite(self.engine)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)

    def migrate(self) -> None:
        from assethost.store.migrate import upgrade

        upgrade(self.engine)

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with self.engine.connect() as conn, conn.begin():
            yield Tx(conn)

    @contextmanager
    def write(self) -> Iterator[Tx]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(assethost_write=True)
            with conn.begin():
                yield Tx(conn)

    def dispose(self) -> None:
        self.engine.dispose()


def _where(table: Any, where: dict[str, Any]) -> list[Any]:
    return [table.c[k] == v for k, v in where.items()]


class Tx:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, table: str, **where: Any) -> Row | None:
        t = TABLES[table]
        return self.conn.execute(select(t).where(*_where(t, where)).limit(1)).first()

    def lock(self, table: str, **where: Any) -> Row | None:
        """Like get, but holds the row until the transaction ends (PostgreSQL row lock; SQLite's
        write transaction already excludes other writers)."""
        t = TABLES[table]
        return self.conn.execute(select(t).where(*_where(t, where)).limit(1).with_for_update()).first()

    def select(self, table: str, **where: Any) -> list[Row]:
        t = TABLES[table]
        return list(self.conn.execute(select(t).where(*_where(t, where)).order_by(t.c.id)))

    def select_in(self, table: str, column: str, values: list[Any], **where: Any) -> list[Row]:
        t = TABLES[table]
        if not values:
            return []
        rows: list[Row] = []
        for start in range(0, len(values), 500):  # stay under bound-parameter limits
            chunk = values[start : start + 500]
            q = select(t).where(t.c[column].in_(chunk), *_where(t, where)).order_by(t.c.id)
            rows.extend(self.conn.execute(q))
        return rows

    def last(self, table: str, **where: Any) -> Row | None:
        """The newest row (highest id) matching."""
        t = TABLES[table]
        return self.conn.execute(select(t).where(*_where(t, where)).order_by(t.c.id.desc()).limit(1)).first()

    def count(self, table: str, **where: Any) -> int:
        t = TABLES[table]
        return int(self.conn.execute(select(func.count()).select_from(t).where(*_where(t, where))).scalar())

    def page(
        self,
        table: str,
        where: dict[str, Any],
        *,
        limit: int,
        offset: int = 0,
        after_id: int | None = None,
        before_id: int | None = None,
        between: tuple[str, Any, Any] | None = None,
    ) -> list[Row]:
        """Rows in creation order. Keyset (after/before an id) when a page token gives one;
        `between` = (column, low, high) keeps rows whose column lies in [low, high]."""
        t = TABLES[table]
        q = select(t).where(*_where(t, where))
        if between is not None:
            column, low, high = between
            q = q.where(t.c[column] >= low, t.c[column] <= high)
        if before_id is not None:
            q = q.where(t.c.id < before_id).order_by(t.c.id.desc()).limit(limit)
            return list(reversed(list(self.conn.execute(q))))
        if after_id is not None:
            q = q.where(t.c.id > after_id)
        else:
            q = q.offset(offset)
        return list(self.conn.execute(q.order_by(t.c.id).limit(limit)))

    def insert(self, table: str, **values: Any) -> None:
        t = TABLES[table]
        try:
            with self.conn.begin_nested():
                self.conn.execute(insert(t).values(**values))
        except IntegrityError as exc:
            raise Duplicate(str(exc.orig)) from exc

    def insert_many(self, table: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.conn.execute(insert(TABLES[table]), rows)

    def update(self, table: str, where: dict[str, Any], **values: Any) -> int:
        t = TABLES[table]
        try:
            with self.conn.begin_nested():
                return self.conn.execute(update(t).where(*_where(t, where)).values(**values)).rowcount
        except IntegrityError as exc:
            raise Duplicate(str(exc.orig)) from exc

    def delete(self, table: str, **where: Any) -> int:
        t = TABLES[table]
        return self.conn.execute(sa_delete(t).where(*_where(t, where))).rowcount

    def delete_before(self, table: str, column: str, value: Any) -> int:
        """Delete the rows whose column is below value (e.g. expired ones)."""
        t = TABLES[table]
        return self.conn.execute(sa_delete(t).where(t.c[column] < value)).rowcount

    def generation(self) -> int:
        value = self.conn.execute(select(schema.deploy_state.c.generation).limit(1)).scalar()
        return int(value or 0)

    def bump_generation(self) -> int:
        t = schema.deploy_state
        if self.conn.execute(update(t).where(t.c.id == 1).values(generation=t.c.generation + 1)).rowcount == 0:
            self.conn.execute(insert(t).values(id=1, generation=1))
        return self.generation()

    def get_or_set(self, key: str, make: Callable[[], str]) -> str:
        """The value stored under key, storing make() first if there is none (first writer wins)."""
        t = schema.settings_kv
        found = self.conn.execute(select(t.c.value).where(t.c.key == key)).scalar()
        if found is not None:
            return str(found)
        try:
            with self.conn.begin_nested():
                self.conn.execute(insert(t).values(key=key, value=make()))
        except IntegrityError:
            pass
        return str(self.conn.execute(select(t.c.value).where(t.c.key == key)).scalar())

    def add_usage(self, account_sid: str, month: str, requests: int) -> None:
        t = schema.usage
        where = (t.c.account_sid == account_sid, t.c.month == month)
        if self.conn.execute(update(t).where(*where).values(requests=t.c.requests + requests)).rowcount:
            return
        try:
            with self.conn.begin_nested():
                self.conn.execute(insert(t).values(account_sid=account_sid, month=month, requests=requests))
        except IntegrityError:  # another process inserted the row first
            self.conn.execute(update(t).where(*where).values(requests=t.c.requests + requests))
