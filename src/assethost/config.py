"""Every setting of the server process, as plain dataclasses holding their defaults, gathered in
one `Settings`. `assethost serve` fills it from its flags, then `ASSETHOST_*` environment
variables, then these defaults (see `cli/serve_options.py`); it reads the account to serve from
`TWILIO_ACCOUNT_SID` and `TWILIO_AUTH_TOKEN`. Nothing else reads the environment for them; what
else the server takes from it is npm's own configuration (`npm_config_*`), handed on to
dependency installs.

The bottom of the package: it imports no other part of assethost, so that every layer may
import it. What a setting means for a request is checked where the request is handled
(`core/limits.py` for the limits of files and builds)."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
WILDCARD_HOSTS = ("0.0.0.0", "::", "")
NETWORKS = ("none", "public")
LOG_FORMATS = ("text", "json")
ACCESS_LOG_FORMATS = ("off", "common", "json")


@dataclass(frozen=True)
class Limits:
    """Per-file and per-build limits; sizes and counts default to what Twilio documents.

    "25 MB" is taken as 25 MiB so that a 25 MiB recording, the size people actually have, fits."""

    max_public_bytes: int = 25 * MiB  # public and protected, per file
    max_private_bytes: int = 10 * MiB
    max_function_bytes: int = 10 * MiB
    max_public_versions: int = 1000  # per build, public and protected each
    max_private_versions: int = 50
    max_function_versions: int = 50
    # The most bytes of a form (every API and console request body but a file upload), which is
    # read whole: a build naming 3000 versions takes about 150 KB.
    max_form_bytes: int = 4 * MiB

    def max_bytes(self, kind: str, visibility: str) -> int:
        if kind == "function":
            return self.max_function_bytes
        return self.max_private_bytes if visibility == "private" else self.max_public_bytes

    def upload_ceiling(self, kind: str) -> int:
        """The most bytes an upload may stream before its visibility is known."""
        if kind == "function":
            return self.max_function_bytes
        return max(self.max_public_bytes, self.max_private_bytes)


@dataclass(frozen=True)
class EdgeOptions:
    """How the edge answers deployed assets."""

    memory_file_limit: int = 256 * KiB  # files up to this size are served from memory
    memory_budget: int = 512 * MiB  # ... while all of them together, per process, stay within this
    public_cache_control: str = "public, max-age=0, must-revalidate"
    # Protected responses must never be kept by a shared cache: it would hand them to anyone.
    protected_cache_control: str = "private, no-cache"
    compress_limit: int = 8 * MiB  # larger compressible files are sent uncompressed


@dataclass(frozen=True)
class FrontLimits:
    """What one client connection may cost the server: the bounds of the HTTP front, in the
    style of nginx's (`large_client_header_buffers`, `client_max_body_size`,
    `client_header_timeout`, `client_body_timeout`, `keepalive_timeout`, `send_timeout`,
    `worker_connections`).

    They hold for every connection of the port, edge and API alike: the front checks a request's
    head before it hands an API connection to uvicorn, and the protocol it hands over to keeps
    checking the requests that follow (see `edge/apiproto.py`)."""

    max_request_line: int = 8 * KiB  # longest request target (URI); longer ones get 414
    max_header_bytes: int = 32 * KiB  # request line and header fields together; past it 431
    max_body_bytes: int = 1 * MiB  # an edge request's body (forms, function calls); past it 413
    header_timeout: float = 10.0  # from a request's first byte to the end of its header; then 408
    body_timeout: float = 30.0  # longest wait for the next bytes of a request body; then 408
    keepalive_timeout: float = 5.0  # an idle connection (no request begun) is closed after this
    send_timeout: float = 30.0  # a client that takes under 256 KiB of our answers in this long is dropped
    write_buffer_bytes: int = 64 * KiB  # unsent bytes of one connection past which it is not read
    max_connections: int = 1000  # open connections per process; more get 503 and are closed

    @property
    def shortest_wait(self) -> float:
        """How often a connection we are busy answering looks at its waits again."""
        return min(self.header_timeout, self.body_timeout, self.keepalive_timeout, self.send_timeout)


@dataclass(frozen=True)
class FunctionOptions:
    """How functions are run."""

    timeout: float = 10.0  # seconds one invocation may run before its worker is stopped (504)
    concurrency: int = 30  # invocations running at once per account, per server process
    queue_wait: float = 1.0  # how long an invocation over the limit waits for a slot before a 429
    node_workers: int = 2  # Node processes per live build, started as load needs them
    python_workers: int = 2  # Python processes per live build (each runs one call at a time)
    max_workers: int = 32  # worker processes per server process, all builds together
    idle_seconds: float = 300.0  # a build's workers stop after this long without a call
    npm_timeout: float = 300.0  # seconds `npm install` may take before the build fails
    npm_cache: str | None = None  # npm's cache folder; None: {data}/deps/.npm-cache
    node: str = "node"
    npm: str = "npm"
    # The sandbox of every worker and dependency install (see functions.sandbox).
    bwrap: str = "bwrap"
    network: str = "none"  # one of NETWORKS; "public": through the egress proxy, to public addresses only
    memory_mb: int = 256  # a worker's heap (Node) or address space (Python), in MiB
    processes: int = 32  # processes and threads a worker's sandbox may hold at once
    open_files: int = 256  # file descriptors per worker process
    scratch_mb: int = 64  # size of the writable /tmp of each worker
    cpu_seconds: int = 600  # CPU time a worker process may use in all before it is replaced
    max_response_bytes: int = 20 * MiB  # largest body a function may answer with
    # Where the clients of getTwilioClient() send their requests instead of https://<product>.twilio.com
    # (a Twilio API mock, a proxy); None: Twilio itself.
    twilio_api_url: str | None = None
    uid_base: int = 1_900_000_000  # first of the unprivileged UIDs workers run as (server run as root)
    uid_count: int = 65_536


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("assethost-data")
    database_url: str | None = None
    blob_url: str | None = None  # s3://bucket/prefix: blobs in an object store, --data holding a cache
    cache_size: int = 2 * GiB  # ... of at most this many bytes (least recently used files go first)
    public_url: str | None = None
    base_domain: str = "localhost"
    workers: int = 1  # processes sharing the port
    log_level: str = "info"
    log_format: str = "text"  # one of LOG_FORMATS
    access_log: str = "off"  # one of ACCESS_LOG_FORMATS: a line per request, to stderr
    limits: Limits = field(default_factory=Limits)
    edge: EdgeOptions = field(default_factory=EdgeOptions)
    front: FrontLimits = field(default_factory=FrontLimits)  # what one client connection may cost
    functions: FunctionOptions = field(default_factory=FunctionOptions)
    edge_only: bool = False  # serve deployed assets only; no API
    api_only: bool = False  # the API, console and operator paths only; no environment is served
    trust_forwarded: bool = False  # rebuild signed URLs from X-Forwarded-Proto/-Host
    # Credentials of the account to serve, from TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN.
    account_sid: str | None = None
    auth_token: str | None = None

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir.resolve() / 'assethost.sqlite3'}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def metrics_dir(self) -> Path | None:
        """Where the workers of `--workers N` leave their counts for each other's /metrics (one
        folder per host and port: servers sharing a data folder keep theirs apart); None with
        one worker."""
        if self.workers <= 1:
            return None
        return self.data_dir / "metrics" / f"{socket.gethostname()}-{self.port}"

    @property
    def fixed_origin(self) -> str | None:
        """The origin for absolute URLs, or None when it must come from each request's Host
        (bound to every interface and no --public-url given)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        if self.host in WILDCARD_HOSTS:
            return None
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def public_scheme(self) -> str | None:
        """The scheme clients use, when a --public-url says (e.g. TLS ends at a proxy)."""
        return self.public_url.split("://", 1)[0].lower() if self.public_url else None


def parse_blob_url(url: str) -> tuple[str, str]:
    """`--blob-url s3://bucket/prefix` → (bucket, prefix ending in "/", or empty)."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"a blob URL looks like s3://bucket/prefix (got {url!r})")
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""
