"""Metadata store: SQLAlchemy Core over SQLite (default) or PostgreSQL, implementing
`core.ports.MetaStore`.

Core code talks to it through `Tx`: one `Rows` per table with a small set of generic operations;
no SQL text leaves this module. Rows come back as the frozen records of `core.model`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, Table, create_engine, event, func, insert, select, update
from sqlalchemy import delete as sa_delete
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from assethost.core import model
from assethost.core.ports import Duplicate, Value
from assethost.store import schema

T = TypeVar("T")

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


def _where(table: Table, where: Mapping[str, Value]) -> list[Any]:
    return [table.c[k] == v for k, v in where.items()]


class Rows(Generic[T]):
    """One table in one transaction; rows come back as the table's `core.model` record."""

    def __init__(self, conn: Connection, table: Table, record: type[T]) -> None:
        self.conn = conn
        self.t = table
        self.record = record

    def _one(self, q: Select[Any]) -> T | None:
        row = self.conn.execute(q).first()
        return None if row is None else self.record(**row._mapping)

    def _all(self, q: Select[Any]) -> list[T]:
        make = self.record
        return [make(**row._mapping) for row in self.conn.execute(q)]

    def get(self, **where: Value) -> T | None:
        return self._one(select(self.t).where(*_where(self.t, where)).limit(1))

    def one(self, **where: Value) -> T:
        found = self.get(**where)
        if found is None:
            raise LookupError(f"no {self.t.name} row where {where}")
        return found

    def lock(self, **where: Value) -> T | None:
        """Like get, but holds the row until the transaction ends (PostgreSQL row lock; SQLite's
        write transaction already excludes other writers)."""
        return self._one(select(self.t).where(*_where(self.t, where)).limit(1).with_for_update())

    def select(self, **where: Value) -> list[T]:
        return self._all(select(self.t).where(*_where(self.t, where)).order_by(*self._order()))

    def select_in(self, column: str, values: Sequence[Value], **where: Value) -> list[T]:
        rows: list[T] = []
        for start in range(0, len(values), 500):  # stay under bound-parameter limits
            chunk = values[start : start + 500]
            q = select(self.t).where(self.t.c[column].in_(chunk), *_where(self.t, where))
            rows.extend(self._all(q.order_by(*self._order())))
        return rows

    def last(self, **where: Value) -> T | None:
        """The newest row (highest id) matching."""
        return self._one(select(self.t).where(*_where(self.t, where)).order_by(self.t.c.id.desc()).limit(1))

    def count(self, **where: Value) -> int:
        q = select(func.count()).select_from(self.t).where(*_where(self.t, where))
        return int(self.conn.execute(q).scalar() or 0)

    def page(
        self,
        where: Mapping[str, Value],
        *,
        limit: int,
        offset: int = 0,
        after_id: int | None = None,
        before_id: int | None = None,
        between: tuple[str, Value, Value] | None = None,
        newest_first: bool = False,
    ) -> list[T]:
        """Rows in creation order, or the reverse with `newest_first`. Keyset when a page token
        gives one: `after_id` is the rows that follow that id in this order, `before_id` the
        `limit` rows that come just before it (returned in this order too). `between` = (column,
        low, high) keeps rows whose column lies in [low, high]."""
        t = self.t
        q = select(t).where(*_where(t, where))
        if between is not None:
            column, low, high = between
            q = q.where(t.c[column] >= low, t.c[column] <= high)
        forward, backward = (t.c.id.desc(), t.c.id) if newest_first else (t.c.id, t.c.id.desc())
        if before_id is not None:
            preceding = t.c.id > before_id if newest_first else t.c.id < before_id
            q = q.where(preceding).order_by(backward).limit(limit)
            return list(reversed(self._all(q)))
        if after_id is not None:
            q = q.where(t.c.id < after_id if newest_first else t.c.id > after_id)
        else:
            q = q.offset(offset)
        return self._all(q.order_by(forward).limit(limit))

    def insert(self, **values: Value) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(insert(self.t).values(**values))
        except IntegrityError as exc:
            raise Duplicate(str(exc.orig)) from exc

    def insert_many(self, rows: Sequence[Mapping[str, Value]]) -> None:
        if rows:
            self.conn.execute(insert(self.t), rows)

    def update(self, where: Mapping[str, Value], **values: Value) -> int:
        try:
            with self.conn.begin_nested():
                return int(self.conn.execute(update(self.t).where(*_where(self.t, where)).values(**values)).rowcount)
        except IntegrityError as exc:
            raise Duplicate(str(exc.orig)) from exc

    def delete(self, **where: Value) -> int:
        return int(self.conn.execute(sa_delete(self.t).where(*_where(self.t, where))).rowcount)

    def delete_before(self, column: str, value: Value) -> int:
        """Delete the rows whose column is below value (e.g. expired ones)."""
        return int(self.conn.execute(sa_delete(self.t).where(self.t.c[column] < value)).rowcount)

    def _order(self) -> list[Any]:
        return [self.t.c.id] if "id" in self.t.c else list(self.t.primary_key.columns)


class Tx:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.accounts = Rows(conn, schema.accounts, model.Account)
        self.api_keys = Rows(conn, schema.api_keys, model.ApiKey)
        self.services = Rows(conn, schema.services, model.Service)
        self.resources = Rows(conn, schema.resources, model.Resource)
        self.versions = Rows(conn, schema.versions, model.Version)
        self.builds = Rows(conn, schema.builds, model.Build)
        self.build_entries = Rows(conn, schema.build_entries, model.BuildEntry)
        self.environments = Rows(conn, schema.environments, model.Environment)
        self.deployments = Rows(conn, schema.deployments, model.Deployment)
        self.variables = Rows(conn, schema.variables, model.Variable)
        self.usage = Rows(conn, schema.usage, model.Usage)
        self.console_sessions = Rows(conn, schema.console_sessions, model.ConsoleSession)
        self.logs = Rows(conn, schema.logs, model.LogLine)
        self.media = Rows(conn, schema.media, model.Media)
        self.media_settings = Rows(conn, schema.media_settings, model.MediaSettings)

    def generation(self) -> int:
        value = self.conn.execute(select(schema.deploy_state.c.generation).limit(1)).scalar()
        return int(value or 0)

    def bump_generation(self) -> int:
        t = schema.deploy_state
        bump = update(t).where(t.c.id == 1).values(generation=t.c.generation + 1)
        if self.conn.execute(bump).rowcount == 0:
            try:
                with self.conn.begin_nested():
                    self.conn.execute(insert(t).values(id=1, generation=1))
            except IntegrityError:  # the very first bumps of a database, at once: another one made the row
                self.conn.execute(bump)
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
