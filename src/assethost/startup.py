"""What `assethost serve` checks before it creates anything: its role (`--edge-only` or
`--api-only`, not both), the account variables, the database
URL, the port, the data folder, the database server and the object store's bucket (with
`--blob-url`), in that order (cheapest first). The admin
commands (`accounts`, `keys`) check the last two the same way.

Each failure is a `StartupError` with one line for the person who started the server and the exit
code documented in the README ("Exit codes of `assethost serve`"). Nothing here creates a file, a
folder or a database: a server that cannot start leaves the machine as it found it.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from assethost.config import Settings
from assethost.core import accounts

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

BAD_SETTING = 2  # the same code as click's for a wrong command line
CANNOT_LISTEN = 3
NO_DATA_FOLDER = 4
NO_DATABASE = 5
NO_BLOB_STORE = 6

# A database server that neither answers nor refuses must not hold the start for minutes.
DB_CONNECT_TIMEOUT_S = 10


class StartupError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def check(settings: Settings) -> socket.socket:
    """Everything a start needs that can be known without creating anything. Returns the
    listening socket (so that the port is ours from now on); raises StartupError."""
    _check_roles(settings)
    _check_account(settings)
    _parse_database_url(settings)
    sock = _listen(settings.host, settings.port)
    try:
        check_store(settings)
        if settings.blob_url:
            _check_bucket(settings.blob_url)
    except BaseException:
        sock.close()
        raise
    return sock


def _check_bucket(url: str) -> None:
    from assethost.core.ports import StorageError
    from assethost.store.blobs.s3 import check_bucket  # boto3 loads only when it is used

    try:
        check_bucket(url)
    except StorageError as exc:
        raise StartupError(f"cannot use the blob store {url}: {exc}", NO_BLOB_STORE) from None


def check_store(settings: Settings) -> None:
    """The data folder and the database (what the admin commands need as well)."""
    db_url = _parse_database_url(settings)
    _check_data_folder(settings.data_dir)
    if not db_url.drivername.startswith("sqlite"):
        _check_database(settings.db_url, db_url.drivername)
    elif settings.database_url and db_url.database and db_url.database != ":memory:":
        _check_sqlite_folder(settings.database_url, Path(db_url.database).parent)


def _listen(host: str, port: int) -> socket.socket:
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise StartupError(f"cannot listen on {_where(host, port)}: {_reason(exc)}", CANNOT_LISTEN) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {_where(host, port)}: {_reason(exc)}", CANNOT_LISTEN) from None
    sock.set_inheritable(True)
    return sock


def _check_roles(settings: Settings) -> None:
    if settings.edge_only and settings.api_only:
        raise StartupError("--edge-only and --api-only leave nothing to serve together; choose one "
                           "(or neither, for both roles on one node)", BAD_SETTING)


def _check_account(settings: Settings) -> None:
    if not (settings.account_sid or settings.auth_token):
        return
    if not (settings.account_sid and settings.auth_token):
        raise StartupError("set both TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or neither", BAD_SETTING)
    problem = accounts.credentials_problem(settings.account_sid, settings.auth_token)
    if problem:
        raise StartupError(problem, BAD_SETTING)


def _parse_database_url(settings: Settings) -> URL:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(settings.db_url)
    except (ArgumentError, ValueError):  # ValueError: a port that is no number
        # The value itself is not repeated: an unparsable URL may still hold a password.
        raise StartupError("the database URL (--database-url, ASSETHOST_DATABASE_URL) is not a URL; "
                           "expected e.g. postgresql+psycopg://user@host/db", BAD_SETTING) from None


def _check_data_folder(data_dir: Path) -> None:
    """The folder, or the nearest folder above it that exists, must take new files."""
    existing = data_dir.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise StartupError(f"cannot use the data folder {data_dir}: {existing} is not a folder", NO_DATA_FOLDER)
    refused = _refuses_files(existing)
    if refused:
        raise StartupError(f"cannot use the data folder {data_dir}: {existing}: {refused}", NO_DATA_FOLDER)


def _refuses_files(folder: Path) -> str | None:
    """Why the folder takes no new file, or None. An unnamed file (O_TMPFILE on Linux), gone when
    closed: a real test of writing there, which os.access cannot give for root or a read-only mount."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as exc:
        return _reason(exc)


def _check_sqlite_folder(url: str, folder: Path) -> None:
    """SQLite creates its file but not the folder it goes in (the default file's is the data
    folder, which the start creates)."""
    if not folder.is_dir():
        raise StartupError(f"cannot use the database {url}: no folder {folder}", NO_DATABASE)
    refused = _refuses_files(folder)
    if refused:
        raise StartupError(f"cannot use the database {url}: {folder}: {refused}", NO_DATABASE)


def _check_database(url: str, driver: str) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.pool import NullPool

    shown = make_url(url).render_as_string(hide_password=True)
    connect_args = {"connect_timeout": DB_CONNECT_TIMEOUT_S} if driver.startswith("postgresql") else {}
    try:
        engine = create_engine(url, connect_args=connect_args, poolclass=NullPool)
    except (SQLAlchemyError, ImportError) as exc:
        raise StartupError(f"cannot use the database {shown}: {_first_line(exc)}", BAD_SETTING) from None
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as exc:
        cause = exc.orig if getattr(exc, "orig", None) is not None else exc  # type: ignore[attr-defined]
        raise StartupError(f"cannot connect to the database {shown}: {_first_line(cause)}", NO_DATABASE) from None
    finally:
        engine.dispose()


def _where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _reason(exc: OSError) -> str:
    text = exc.strerror or (os.strerror(exc.errno) if exc.errno else str(exc))
    return text[:1].lower() + text[1:]


def _first_line(exc: BaseException) -> str:
    """Drivers' messages run over several lines (hints, SQLAlchemy's background link)."""
    for line in str(exc).splitlines():
        if line.strip():
            text = line.strip()
            return text[:1].lower() + text[1:]
    return type(exc).__name__
