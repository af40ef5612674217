"""Real assethost servers for the tests: `python -m assethost serve` subprocesses on SQLite or on
a fresh PostgreSQL database, with the admin CLI and clients at hand."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import objectstore
import psutil
import pytest
from twilio.rest import Client

# twilio-python (requests) must not route loopback through a proxy nor splice region/edge into our host.
for _var in ("TWILIO_REGION", "TWILIO_EDGE"):
    os.environ.pop(_var, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("ASSETHOST_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
READY_TIMEOUT_S = 20.0

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_url_for(dbname: str, driver: str = "postgresql") -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    base = base.replace("postgresql://", f"{driver}://", 1)
    return f"{base}/{dbname}"


class Backend:
    """Where a test server keeps its data: 'sqlite' is the embedded set-up (SQLite and the blobs in
    --data); 'postgres' the scale-out one (a fresh PostgreSQL database, and the blobs in a bucket of
    the session's S3-compatible server, tests/objectstore.py, with --data as the node's cache)."""

    def __init__(self, name: str):
        self.name = name

    def blob_args(self) -> tuple[list[str], dict[str, str]]:
        """serve's arguments and environment for the blob store: a new bucket per server."""
        if self.name != "postgres":
            return [], {}
        store = objectstore.shared()
        return ["--blob-url", f"s3://{store.bucket('blobs')}/assethost"], store.env()

    def check(self) -> None:
        if self.name != "postgres":
            return
        try:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
        except Exception as exc:  # noqa: BLE001 - any failure means the postgres run cannot happen
            pytest.fail(f"PostgreSQL is required for the postgres run but unreachable at {PG_ADMIN_URL}: {exc}")

    def create_database(self) -> tuple[str | None, str | None]:
        """Return (sqlalchemy database url or None for sqlite default, database name to drop later)."""
        if self.name != "postgres":
            return None, None
        import psycopg

        dbname = f"assethost_test_{secrets.token_hex(6)}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        return _pg_url_for(dbname, "postgresql+psycopg"), dbname

    def drop_database(self, dbname: str | None) -> None:
        if not dbname:
            return
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


class ServerProcess:
    """One `python -m assethost serve` subprocess with its own data dir and database."""

    def __init__(self, backend: Backend, workdir: Path, extra_args=(), public_url: str | None = None,
                 launcher=()):
        """launcher: a command the server is started through (it ends by running its arguments)."""
        self.backend = backend
        self.launcher = [str(a) for a in launcher]
        self.workdir = Path(workdir)
        self.data_dir = str(self.workdir / "data")
        Path(self.data_dir).mkdir(parents=True, exist_ok=True)
        self.extra_args = [str(a) for a in extra_args]
        self.public_url_template = public_url
        self.account_sid = "AC" + secrets.token_hex(16)
        self.auth_token = secrets.token_hex(16)
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.public_url = public_url.format(port=self.port) if public_url else None
        self.db_url, self._dbname = backend.create_database()
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "server.log"
        self.extra_env: dict[str, str] = {}  # set before start(): variables of the server's environment
        self.blob_args: list[str] | None = None  # serve's blob store arguments, chosen at the first start

    # ------------------------------------------------------------------ lifecycle
    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _env(self) -> dict:
        env = dict(os.environ)
        env.pop("TWILIO_REGION", None)
        env.pop("TWILIO_EDGE", None)
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        env["TWILIO_ACCOUNT_SID"] = self.account_sid
        env["TWILIO_AUTH_TOKEN"] = self.auth_token
        env["PYTHONUNBUFFERED"] = "1"
        # One npm cache for every test server (a flag wins over it): the twilio package each data
        # folder installs for getTwilioClient() is fetched from the registry once per machine.
        env.setdefault("ASSETHOST_NPM_CACHE", str(REPO / ".cache" / "npm-functions"))
        src = str(REPO / "src")
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.update(self.extra_env)
        return env

    def _db_args(self) -> list[str]:
        args = ["--data", self.data_dir]
        if self.db_url:
            args += ["--database-url", self.db_url]
        return args

    def start(self) -> ServerProcess:
        if self.blob_args is None:  # once: a restarted server keeps its bucket
            self.blob_args, blob_env = self.backend.blob_args()
            self.extra_env = {**blob_env, **self.extra_env}
        cmd = [sys.executable, "-m", "assethost", "serve", "--host", "127.0.0.1", "--port", str(self.port),
               *self._db_args(), *self.blob_args]
        if self.public_url:
            cmd += ["--public-url", self.public_url]
        cmd = self.launcher + cmd + self.extra_args
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, env=self._env(), stdout=self._log, stderr=subprocess.STDOUT,
                                     cwd=str(self.workdir), start_new_session=True)
        deadline = time.monotonic() + READY_TIMEOUT_S
        with httpx.Client(trust_env=False, timeout=2.0) as probe:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    self.stop()
                    pytest.fail(f"server exited with {self.proc.returncode} during startup:\n{self.log_tail()}")
                try:
                    probe.get(f"{self.base_url}/v1/Services")
                    return self
                except httpx.TransportError:
                    time.sleep(0.1)
        self.stop()
        pytest.fail(f"server not ready after {READY_TIMEOUT_S}s: {' '.join(cmd)}\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                children = psutil.Process(self.proc.pid).children(recursive=True)
            except psutil.Error:
                children = []
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            for child in children:
                try:
                    child.kill()
                except psutil.Error:
                    pass
        if getattr(self, "_log", None) and not self._log.closed:
            self._log.close()
        if self._dbname:
            self.backend.drop_database(self._dbname)
            self._dbname = None

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return "<no log>"

    # ------------------------------------------------------------------ observability
    def rss(self) -> int:
        """Resident memory of the server process plus all its children, in bytes."""
        proc = psutil.Process(self.pid)
        total = proc.memory_info().rss
        for child in proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total

    def worker_pids(self) -> list[int]:
        """The processes that accept connections: the forked workers of `--workers N` (their
        command line is the server's), or the server itself when it has none."""
        children = [p.pid for p in psutil.Process(self.pid).children() if "assethost" in " ".join(p.cmdline())]
        return children or [self.pid]

    @staticmethod
    def worker_holding(client_port: int, pids: list[int]) -> int | None:
        """Which of `pids` holds the server's end of the open connection from our `client_port`:
        the kernel hands each new connection to whichever worker accepts it first."""
        for pid in pids:
            if any(c.raddr and c.raddr.port == client_port for c in psutil.Process(pid).net_connections("tcp")):
                return pid
        return None

    # ------------------------------------------------------------------ admin CLI
    def admin(self, *args: str) -> dict:
        cmd = [sys.executable, "-m", "assethost", *args[:2], *self._db_args(), *args[2:], "--json"]
        res = subprocess.run(cmd, check=False, env=self._env(), cwd=str(self.workdir), capture_output=True, text=True,
                             timeout=60)
        assert res.returncode == 0, f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
        out = res.stdout.strip()
        try:
            return json.loads(out)
        except ValueError:
            return json.loads(out.splitlines()[-1])  # tolerate log lines before the JSON

    def create_account(self) -> tuple[str, str]:
        out = self.admin("accounts", "create")
        return out["account_sid"], out["auth_token"]

    def create_key(self, account_sid: str | None = None) -> tuple[str, str]:
        out = self.admin("keys", "create", "--account", account_sid or self.account_sid)
        assert out["account_sid"] == (account_sid or self.account_sid), out
        return out["sid"], out["secret"]

    # ------------------------------------------------------------------ clients
    def http_client(self, username: str | None = None, password: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, trust_env=False, timeout=60.0,
                            auth=(username or self.account_sid, password or self.auth_token))

    def twilio_client(self, username: str | None = None, password: str | None = None,
                      account_sid: str | None = None) -> Client:
        c = Client(username or self.account_sid, password or self.auth_token, account_sid=account_sid)
        c.serverless.base_url = self.base_url
        return c




def start_sqlite_server(workdir: Path, *extra_args: str) -> ServerProcess:
    """A started server on SQLite, for suites that need no PostgreSQL run."""
    srv = ServerProcess(Backend("sqlite"), workdir, extra_args)
    try:
        return srv.start()
    except BaseException:
        srv.stop()
        raise
