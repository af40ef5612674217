"""`assethost serve` that cannot start: one line on stderr, the documented exit code, and no data
folder, database file or account left behind (real subprocesses, a real port, a real PostgreSQL
refusing)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from clikit import REPO
from servers import PG_ADMIN_URL
from sqlalchemy.engine import make_url

VALID_SID = "AC" + "0" * 32


def _serve(tmp_path: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "ASSETHOST_"))}
    env["PYTHONPATH"] = str(REPO / "src")
    env.update(variables)
    return subprocess.run(
        [sys.executable, "-m", "assethost", "serve", "--host", "127.0.0.1", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )


@pytest.fixture
def busy_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def test_busy_port(tmp_path, busy_port):
    result = _serve(tmp_path, "--port", str(busy_port), "--data", "data")
    assert (result.returncode, result.stdout, result.stderr) == (
        3, "", f"assethost: cannot listen on 127.0.0.1:{busy_port}: address already in use\n")
    assert not (tmp_path / "data").exists()


def test_unknown_host(tmp_path):
    result = _serve(tmp_path, "--host", "no-such-host.invalid", "--port", "0", "--data", "data")
    assert (result.returncode, result.stdout, result.stderr) == (
        3, "", "assethost: cannot listen on no-such-host.invalid:0: name or service not known\n")
    assert not (tmp_path / "data").exists()


def test_database_that_refuses(tmp_path):
    result = _serve(tmp_path, "--port", "0", "--data", "data",
                    "--database-url", "postgresql+psycopg://nobody:secret@127.0.0.1:1/x")
    assert (result.returncode, result.stdout) == (5, "")
    assert result.stderr == (
        "assethost: cannot connect to the database postgresql+psycopg://nobody:***@127.0.0.1:1/x: "
        'connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused\n')
    assert not (tmp_path / "data").exists()


def test_database_that_does_not_exist(tmp_path):
    # The test PostgreSQL server, asked for a database it does not have.
    url = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + "/assethost_no_such_db"
    result = _serve(tmp_path, "--port", "0", "--data", "data", "--database-url", url)
    assert (result.returncode, result.stdout) == (5, "")
    assert result.stderr.count("\n") == 1
    shown = make_url(url).render_as_string(hide_password=True)
    assert result.stderr.startswith(f"assethost: cannot connect to the database {shown}: ")
    assert 'database "assethost_no_such_db" does not exist' in result.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("url", ["garbage", "postgresql+psycopg://user:pass@host:notaport/db"])
def test_database_url_that_is_no_url(tmp_path, url):
    result = _serve(tmp_path, "--port", "0", "--data", "data", "--database-url", url)
    assert (result.returncode, result.stdout, result.stderr) == (
        2, "", ("assethost: the database URL (--database-url, ASSETHOST_DATABASE_URL) is not a URL; "
                "expected e.g. postgresql+psycopg://user@host/db\n"))
    assert not (tmp_path / "data").exists()


def test_database_url_of_an_unknown_kind(tmp_path):
    result = _serve(tmp_path, "--port", "0", "--data", "data", "--database-url", "nosuchdb://host/x")
    assert (result.returncode, result.stdout, result.stderr) == (
        2, "", "assethost: cannot use the database nosuchdb://host/x: can't load plugin: sqlalchemy.dialects:nosuchdb\n")
    assert not (tmp_path / "data").exists()


def test_sqlite_file_in_a_folder_that_does_not_exist(tmp_path):
    url = f"sqlite:///{tmp_path}/missing/assethost.sqlite3"
    result = _serve(tmp_path, "--port", "0", "--data", "data", "--database-url", url)
    assert (result.returncode, result.stdout, result.stderr) == (
        5, "", f"assethost: cannot use the database {url}: no folder {tmp_path / 'missing'}\n")
    assert sorted(tmp_path.iterdir()) == []


def test_malformed_account_sid(tmp_path):
    result = _serve(tmp_path, "--port", "0", "--data", "data",
                    TWILIO_ACCOUNT_SID="ACnot-a-sid", TWILIO_AUTH_TOKEN="token")
    assert (result.returncode, result.stdout, result.stderr) == (
        2, "", "assethost: TWILIO_ACCOUNT_SID must be AC followed by 32 lower-case hex digits (got 'ACnot-a-sid')\n")
    assert not (tmp_path / "data").exists()


def test_account_sid_without_token(tmp_path):
    result = _serve(tmp_path, "--port", "0", "--data", "data", TWILIO_ACCOUNT_SID=VALID_SID)
    assert (result.returncode, result.stdout, result.stderr) == (
        2, "", "assethost: set both TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or neither\n")
    assert not (tmp_path / "data").exists()


def test_data_folder_under_a_file(tmp_path):
    (tmp_path / "plain-file").write_text("not a folder")
    result = _serve(tmp_path, "--port", "0", "--data", "plain-file/data")
    assert (result.returncode, result.stdout, result.stderr) == (
        4, "", f"assethost: cannot use the data folder plain-file/data: {tmp_path / 'plain-file'} is not a folder\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain-file"]


def test_data_folder_that_is_a_file(tmp_path):
    (tmp_path / "data").write_text("not a folder")
    result = _serve(tmp_path, "--port", "0", "--data", "data")
    # click's own check of --data, with its short usage text.
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines()[-1] == "Error: Invalid value for '--data': Directory 'data' is a file."
    assert len(result.stderr.splitlines()) == 4
    assert (tmp_path / "data").read_text() == "not a folder"


def test_data_folder_on_a_read_only_file_system(tmp_path):
    # /proc takes no new files, even from root (for whom permission bits do not count).
    result = _serve(tmp_path, "--port", "0", "--data", "/proc/assethost-data")
    assert (result.returncode, result.stdout) == (4, "")
    assert result.stderr.startswith("assethost: cannot use the data folder /proc/assethost-data: /proc: ")
    assert result.stderr.count("\n") == 1
    assert not Path("/proc/assethost-data").exists()


def test_admin_commands_check_the_database_the_same_way(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "ASSETHOST_"))}
    env["PYTHONPATH"] = str(REPO / "src")
    result = subprocess.run(
        [sys.executable, "-m", "assethost", "accounts", "create", "--data", "data",
         "--database-url", "postgresql+psycopg://nobody@127.0.0.1:1/x"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert (result.returncode, result.stdout) == (5, "")
    assert result.stderr == (
        "assethost: cannot connect to the database postgresql+psycopg://nobody@127.0.0.1:1/x: "
        'connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused\n')
    assert not (tmp_path / "data").exists()


def test_edge_only_and_api_only_together(tmp_path):
    result = _serve(tmp_path, "--port", "0", "--data", "data", "--edge-only", "--api-only")
    assert (result.returncode, result.stdout, result.stderr) == (
        2, "", ("assethost: --edge-only and --api-only leave nothing to serve together; choose one (or neither, "
                "for both roles on one node)\n"))
    assert not (tmp_path / "data").exists()
    by_variables = _serve(tmp_path, "--port", "0", "--data", "data", ASSETHOST_EDGE_ONLY="1", ASSETHOST_API_ONLY="1")
    assert (by_variables.returncode, by_variables.stderr) == (2, result.stderr)
