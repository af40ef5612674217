"""Metadata store: SQLAlchemy Core over SQLite (default) or PostgreSQL, implementing
`core.ports.MetaStore`.

Core code talks to it through `Tx`: one `Rows` per table with a small set of generic operations;
no SQL text leaves this module. Rows come back as the frozen records of `core.model`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    BigInteger,
    Integer,
    Table,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import delete as sa_delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from assethost.core import clock, model
from assethost.core.ports import Duplicate, Value
from assethost.store import schema
from assethost.store.listen import Listener

T = TypeVar("T")
CHANNEL = "assethost_changes"  # the NOTIFY channel of the change feed (store/listen.py listens)

def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # The driver opens no transaction of its own: MetaStore.read and write (and the
        # migrations) send BEGIN, so that a writer can take its lock up front (BEGIN IMMEDIATE).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=15000")
        cur.close()


class MetaStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            # LIFO: the connection used last, whose caches are warm, serves the next request (FIFO
            # rotated through every connection a burst of uploads had opened: +10-20 % CPU per read).
            self.engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15},
                                        pool_use_lifo=True)
            _configure_sqlite(self.engine)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, pool_use_lifo=True)

    def migrate(self) -> None:
        from assethost.store.migrate import upgrade

        upgrade(self.engine)

    # On SQLite, BEGIN goes to the driver's connection here rather than from a "begin" event
    # listener: any engine event makes SQLAlchemy dispatch events around every statement, which
    # cost 20-40 µs per transaction, more than SQLite takes to answer a small read.

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with self.engine.connect() as conn, conn.begin():
            if self.is_sqlite:
                _driver(conn).execute("BEGIN")
            yield Tx(conn)

    @contextmanager
    def write(self) -> Iterator[Tx]:
        with self.engine.connect() as conn, conn.begin():
            if self.is_sqlite:
                # A writer takes the lock up front: a deferred transaction that upgrades to a
                # write fails at once with SQLITE_BUSY instead of waiting its turn.
                _driver(conn).execute("BEGIN IMMEDIATE")
            yield Tx(conn)

    def credentials_version(self) -> str:
        """`Tx.credentials_version`, outside a transaction: one plain query on a pooled driver
        connection (about 10 µs on SQLite, against about 100 µs for a SQLAlchemy transaction), as
        the API reads it at every request."""
        conn = self.engine.raw_connection()
        try:
            cur = conn.cursor()
            try:
                cur.execute(_CREDENTIALS_SQL)
                row = cur.fetchone()
            finally:
                cur.close()
            if not self.is_sqlite:
                conn.rollback()  # psycopg opened a transaction for the query (SQLite is in autocommit)
        finally:
            conn.close()
        return str(row[0]) if row else ""

    def dispose(self) -> None:
        self.engine.dispose()

    def listen(self, wake: Callable[[], None]) -> Listener | None:
        """On PostgreSQL, a thread holding one LISTEN connection that calls `wake` at each committed
        change (and after each reconnection, for what it may have missed); None on SQLite."""
        if self.is_sqlite:
            return None
        listener = Listener(self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False),
                            CHANNEL, wake)
        listener.start()
        return listener


def _driver(conn: Connection) -> Any:
    driver = conn.connection.driver_connection
    assert driver is not None
    return driver


CREDENTIALS_KEY = "credentials_version"
_CREDENTIALS_SQL = f"SELECT value FROM {schema.settings_kv.name} WHERE key = '{CREDENTIALS_KEY}'"
_CREDENTIALS = select(schema.settings_kv.c.value).where(schema.settings_kv.c.key == CREDENTIALS_KEY)
_GENERATION = select(schema.deploy_state.c.generation).limit(1)


def _where(table: Table, where: Mapping[str, Value]) -> list[Any]:
    return [table.c[k] == v for k, v in where.items()]


# Building a statement and its cache key costs more CPU than SQLite takes to run it: the read
# operations keep one statement per shape (table, operation, the filtered columns and which of
# them are NULL) with bound parameters, which SQLAlchemy then finds compiled in its own cache.
# The shapes are those the code asks for, a few hundred at most; past the bound nothing is kept.
_STATEMENTS: dict[tuple[Any, ...], Any] = {}
_MAX_STATEMENTS = 2000


def _shape(where: Mapping[str, Value]) -> tuple[tuple[str, bool], ...]:
    return tuple((k, v is None) for k, v in where.items())


def _bound_where(table: Table, shape: tuple[tuple[str, bool], ...]) -> list[Any]:
    return [table.c[k].is_(None) if null else table.c[k] == bindparam(f"w_{k}") for k, null in shape]


def _params(where: Mapping[str, Value]) -> dict[str, Any]:
    return {f"w_{k}": v for k, v in where.items() if v is not None}


def _statement(key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = build()
        if len(_STATEMENTS) < _MAX_STATEMENTS:
            _STATEMENTS[key] = stmt
    return stmt


class Rows(Generic[T]):
    """One table in one transaction; rows come back as the table's `core.model` record (whose
    fields are the table's columns in order: tests/unit/test_model.py)."""

    def __init__(self, conn: Connection, table: Table, record: type[T]) -> None:
        self.conn = conn
        self.t = table
        self.record = record

    def _one(self, q: Any, params: Mapping[str, Any] | None = None) -> T | None:
        row = self.conn.execute(q, params).first()
        return None if row is None else self.record(*row)

    def _all(self, q: Any, params: Mapping[str, Any] | None = None) -> list[T]:
        make = self.record
        return [make(*row) for row in self.conn.execute(q, params)]

    def get(self, **where: Value) -> T | None:
        shape = _shape(where)
        q = _statement((self.t.name, "get", shape),
                       lambda: select(self.t).where(*_bound_where(self.t, shape)).limit(1))
        return self._one(q, _params(where))

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
        shape = _shape(where)
        q = _statement((self.t.name, "select", shape),
                       lambda: select(self.t).where(*_bound_where(self.t, shape)).order_by(*self._order()))
        return self._all(q, _params(where))

    def select_in(self, column: str, values: Sequence[Value], **where: Value) -> list[T]:
        rows: list[T] = []
        for start in range(0, len(values), 500):  # stay under bound-parameter limits
            chunk = values[start : start + 500]
            q = select(self.t).where(self.t.c[column].in_(chunk), *_where(self.t, where))
            rows.extend(self._all(q.order_by(*self._order())))
        return rows

    def last(self, **where: Value) -> T | None:
        """The newest row (highest id) matching."""
        shape = _shape(where)
        q = _statement((self.t.name, "last", shape), lambda: select(self.t).where(
            *_bound_where(self.t, shape)).order_by(self.t.c.id.desc()).limit(1))
        return self._one(q, _params(where))

    def count(self, **where: Value) -> int:
        shape = _shape(where)
        q = _statement((self.t.name, "count", shape), lambda: select(func.count()).select_from(self.t).where(
            *_bound_where(self.t, shape)))
        return int(self.conn.execute(q, _params(where)).scalar() or 0)

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
        shape = _shape(where)
        mode = "before" if before_id is not None else "after" if after_id is not None else "offset"
        column = between[0] if between is not None else None
        params = _params(where) | {"p_limit": limit}
        if between is not None:
            params |= {"p_low": between[1], "p_high": between[2]}
        if mode == "offset":
            params["p_offset"] = offset
        else:
            params["p_cursor"] = before_id if before_id is not None else after_id

        def build() -> Any:
            t = self.t
            q = select(t).where(*_bound_where(t, shape))
            if column is not None:
                q = q.where(t.c[column] >= bindparam("p_low"), t.c[column] <= bindparam("p_high"))
            forward, backward = (t.c.id.desc(), t.c.id) if newest_first else (t.c.id, t.c.id.desc())
            cursor: Any = bindparam("p_cursor", type_=BigInteger)  # a PageToken may name any id below 10**18
            limit_ = bindparam("p_limit", type_=Integer)
            if mode == "before":
                preceding = t.c.id > cursor if newest_first else t.c.id < cursor
                return q.where(preceding).order_by(backward).limit(limit_)
            if mode == "after":
                q = q.where(t.c.id < cursor if newest_first else t.c.id > cursor)
            else:
                q = q.offset(bindparam("p_offset", type_=BigInteger))  # pages go up to 2**62 rows in
            return q.order_by(forward).limit(limit_)

        q = _statement((self.t.name, "page", shape, mode, column, newest_first), build)
        rows = self._all(q, params)
        return list(reversed(rows)) if mode == "before" else rows

    def insert(self, **values: Value) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(insert(self.t).values(**values))
        except IntegrityError as exc:
            raise Duplicate(str(exc.orig)) from exc

    def insert_many(self, rows: Sequence[Mapping[str, Value]]) -> None:
        if rows:
            self.conn.execute(insert(self.t), rows)

    def insert_new(self, rows: Sequence[Mapping[str, Value]]) -> None:
        if not rows:
            return
        # INSERT … ON CONFLICT DO NOTHING: both SQLite and PostgreSQL have it, each in its dialect
        dialect = sqlite_insert if self.conn.dialect.name == "sqlite" else pg_insert
        self.conn.execute(dialect(self.t).on_conflict_do_nothing(), rows)

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
    """One transaction; each table's `Rows` is made when first used (most transactions touch two
    or three of the thirteen)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @cached_property
    def accounts(self) -> Rows[model.Account]:
        return Rows(self.conn, schema.accounts, model.Account)

    @cached_property
    def api_keys(self) -> Rows[model.ApiKey]:
        return Rows(self.conn, schema.api_keys, model.ApiKey)

    @cached_property
    def services(self) -> Rows[model.Service]:
        return Rows(self.conn, schema.services, model.Service)

    @cached_property
    def resources(self) -> Rows[model.Resource]:
        return Rows(self.conn, schema.resources, model.Resource)

    @cached_property
    def versions(self) -> Rows[model.Version]:
        return Rows(self.conn, schema.versions, model.Version)

    @cached_property
    def builds(self) -> Rows[model.Build]:
        return Rows(self.conn, schema.builds, model.Build)

    @cached_property
    def build_entries(self) -> Rows[model.BuildEntry]:
        return Rows(self.conn, schema.build_entries, model.BuildEntry)

    @cached_property
    def environments(self) -> Rows[model.Environment]:
        return Rows(self.conn, schema.environments, model.Environment)

    @cached_property
    def deployments(self) -> Rows[model.Deployment]:
        return Rows(self.conn, schema.deployments, model.Deployment)

    @cached_property
    def variables(self) -> Rows[model.Variable]:
        return Rows(self.conn, schema.variables, model.Variable)

    @cached_property
    def usage(self) -> Rows[model.Usage]:
        return Rows(self.conn, schema.usage, model.Usage)

    @cached_property
    def console_sessions(self) -> Rows[model.ConsoleSession]:
        return Rows(self.conn, schema.console_sessions, model.ConsoleSession)

    @cached_property
    def logs(self) -> Rows[model.LogLine]:
        return Rows(self.conn, schema.logs, model.LogLine)

    @cached_property
    def media(self) -> Rows[model.Media]:
        return Rows(self.conn, schema.media, model.Media)

    @cached_property
    def media_settings(self) -> Rows[model.MediaSettings]:
        return Rows(self.conn, schema.media_settings, model.MediaSettings)

    def generation(self) -> int:
        value = self.conn.execute(_GENERATION).scalar()
        return int(value or 0)

    def bump_generation(self, environment_sid: str | None = None, service_sid: str | None = None,
                        account_sid: str | None = None) -> int:
        t = schema.deploy_state
        bump = update(t).where(t.c.id == 1).values(generation=t.c.generation + 1)
        if self.conn.execute(bump).rowcount == 0:
            try:
                with self.conn.begin_nested():
                    self.conn.execute(insert(t).values(id=1, generation=1))
            except IntegrityError:  # the very first bumps of a database, at once: another one made the row
                self.conn.execute(bump)
        generation = self.generation()
        self.conn.execute(insert(schema.changes).values(
            generation=generation, environment_sid=environment_sid, service_sid=service_sid,
            account_sid=account_sid, date_created=clock.now()))
        if self.conn.dialect.name == "postgresql":
            # Delivered to every LISTEN connection when (and only if) this transaction commits.
            self.conn.execute(select(func.pg_notify(CHANNEL, str(generation))))
        return generation

    def changes_after(self, generation: int, limit: int) -> list[model.Change]:
        t = schema.changes
        q = select(t).where(t.c.generation > generation).order_by(t.c.generation).limit(limit)
        return [model.Change(**row._mapping) for row in self.conn.execute(q)]

    def prune_changes(self, keep: int) -> int:
        t = schema.changes
        newest = self.conn.execute(select(func.max(t.c.generation))).scalar()
        if newest is None:
            return 0
        return int(self.conn.execute(sa_delete(t).where(t.c.generation <= int(newest) - keep)).rowcount)

    def credentials_version(self) -> str:
        return str(self.conn.execute(_CREDENTIALS).scalar() or "")

    def bump_credentials(self) -> None:
        # A new random value rather than a counter: it never comes back, and concurrent bumps
        # need no read-modify-write (whichever lands last, the value differs from every earlier one).
        t, value = schema.settings_kv, secrets.token_hex(16)
        if self.conn.execute(update(t).where(t.c.key == CREDENTIALS_KEY).values(value=value)).rowcount:
            return
        try:
            with self.conn.begin_nested():
                self.conn.execute(insert(t).values(key=CREDENTIALS_KEY, value=value))
        except IntegrityError:  # another transaction inserted the row first
            self.conn.execute(update(t).where(t.c.key == CREDENTIALS_KEY).values(value=value))

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
