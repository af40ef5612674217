"""The settings of `assethost serve`, one row each: the flag, the `Settings` field it fills, what
values it takes and what it means. Its click options, their `ASSETHOST_*` variables, its
`--help` and the README's table of settings are all made from this table; the defaults are the
dataclasses' own (config.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import click

from assethost.config import (
    ACCESS_LOG_FORMATS,
    LOG_FORMATS,
    NETWORKS,
    GiB,
    KiB,
    MiB,
    Settings,
    parse_blob_url,
)

ENV_PREFIX = "ASSETHOST_"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
POSITIVE = click.FloatRange(min=0, min_open=True)


@dataclass(frozen=True)
class ServeOption:
    flag: str
    field: str  # its place in Settings: "port", "front.max_header_bytes"
    meaning: str  # Markdown, as the README shows it; --help makes a sentence of it, without backticks
    type: Any = None  # a click type; None: a string, or an on/off flag when the default is False
    size: bool = False  # a number of bytes (the README also says it in KiB or MiB)
    default_text: str | None = None  # what the default is, when it is None (worked out later)
    callback: Callable[[click.Context, click.Parameter, Any], Any] | None = None  # cleans the value given

    @property
    def envvar(self) -> str:
        return ENV_PREFIX + self.flag.removeprefix("--").replace("-", "_").upper()

    @property
    def param(self) -> str:
        """The name of the serve() argument: unique, like the field path it stands for."""
        return self.field.replace(".", "__")

    @property
    def default(self) -> Any:
        value: Any = Settings()
        for name in self.field.split("."):
            value = getattr(value, name)
        return value

    @property
    def is_flag(self) -> bool:
        return self.default is False

    @property
    def help(self) -> str:
        text = self.meaning.replace("`", "")
        return (text[0].upper() + text[1:] if not self.meaning.startswith("`") else text) + "."

    def click_option(self) -> Callable[[Any], Any]:
        if self.is_flag:
            return click.option(self.flag, self.param, envvar=self.envvar, is_flag=True,
                                help=self.help)
        shown: str | bool = self.default_text.replace("`", "") if self.default_text else True
        return click.option(self.flag, self.param, envvar=self.envvar, type=self.type, default=self.default,
                            show_default=shown, callback=self.callback, help=self.help)

    def readme_default(self) -> str:
        if self.default_text:
            return self.default_text
        if self.is_flag:
            return "off"
        value = self.default
        text = f"`{value:g}`" if isinstance(value, float) else f"`{value}`"
        if self.size and value >= KiB:
            unit, name = next((u, n) for u, n in ((GiB, "GiB"), (MiB, "MiB"), (KiB, "KiB")) if value % u == 0 or u == KiB)
            text += f" ({value / unit:g} {name})"
        return text


class ByteSize(click.ParamType[int]):
    """A number of bytes, plain or with a binary unit: `2GiB`, `512M`, `64KiB`."""

    name = "bytes"
    UNITS: ClassVar[dict[str, int]] = {"": 1, "k": KiB, "kib": KiB, "m": MiB, "mib": MiB, "g": GiB, "gib": GiB,
                                       "t": 1024 * GiB, "tib": 1024 * GiB}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().lower().replace(" ", "")
        number = text.rstrip("kmgtib")
        unit = self.UNITS.get(text[len(number):])
        try:
            size = float(number) * unit if unit is not None else -1.0
        except ValueError:
            size = -1.0
        if size < 0:
            self.fail(f"{value!r} is not a size such as 2GiB, 512MiB or 1048576", param, ctx)
        return int(size)


def _blob_url(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        try:
            parse_blob_url(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


def _api_url(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """An origin such as `http://mock:4010` (a path after it is kept as a prefix), without the last `/`."""
    if value is None:
        return None
    if not value.startswith(("http://", "https://")) or not value.split("://", 1)[1].strip("/"):
        raise click.BadParameter(f"{value!r} is not an http:// or https:// URL")
    return value.rstrip("/")


def _domain(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """`--base-domain .Example.com.` means example.com: hosts are compared lowercase."""
    return value.strip(".").lower()


SERVE_OPTIONS: tuple[ServeOption, ...] = (
    ServeOption("--host", "host", "address to listen on"),
    ServeOption("--port", "port", "port to listen on (API, uploads, console and edge alike)", type=int),
    ServeOption("--data", "data_dir", "folder of the SQLite database and of the blobs",
                type=click.Path(file_okay=False, path_type=Path)),
    ServeOption("--database-url", "database_url",
                "PostgreSQL instead: `postgresql+psycopg://user@host/db` (blobs stay in `--data` unless `--blob-url`)",
                default_text="SQLite in `--data`"),
    ServeOption("--blob-url", "blob_url",
                "`s3://bucket/prefix`: blobs in an S3-compatible object store (endpoint, region and "
                "credentials from the standard `AWS_*` variables, `AWS_ENDPOINT_URL` included), `--data` "
                "keeping uploads in progress and a cache of the blobs served",
                default_text="the folder `{data}/blobs`", callback=_blob_url),
    ServeOption("--cache-size", "cache_size",
                "with `--blob-url`: most bytes of blobs and compressed variants kept in `{data}/blobs` "
                "(least recently used ones are evicted and fetched again when needed), e.g. `2GiB`; without "
                "it the folder is the store and nothing is evicted", type=ByteSize(), size=True),
    ServeOption("--public-url", "public_url",
                "origin used in every `url`, `links` and paging URL; its scheme is also the one "
                "protected-asset signatures are checked with", default_text="`http://{host}:{port}`"),
    ServeOption("--base-domain", "base_domain", "environments get `{domain_base}[-{suffix}].{base-domain}` "
                "(not stored: a restart with another one moves them all)",
                callback=_domain),
    ServeOption("--workers", "workers",
                "processes sharing the port; with more than one, other workers see a deployment within 0.5 s",
                type=int),
    ServeOption("--edge-only", "edge_only", "serve deployed assets only, no API or console (nodes behind a CDN)"),
    ServeOption("--api-only", "api_only",
                "the API, console and operator paths only: no environment is served (their domains are "
                "answered 421), no deployed build is held in memory and no function runs; not with `--edge-only`"),
    ServeOption("--trust-forwarded", "trust_forwarded",
                "behind a proxy, rebuild signed URLs from `X-Forwarded-Proto`/`X-Forwarded-Host`"),
    ServeOption("--cache-control", "edge.public_cache_control", "`Cache-Control` of public assets"),
    ServeOption("--protected-cache-control", "edge.protected_cache_control", "`Cache-Control` of protected assets"),
    ServeOption("--memory-file-limit", "edge.memory_file_limit",
                "files up to this size are served from memory, larger ones from disk",
                type=click.IntRange(min=0), size=True),
    ServeOption("--memory-budget", "edge.memory_budget",
                "most bytes of files one process holds in memory, every live build together; past it, "
                "small files too are served from disk (where the page cache keeps them)",
                type=click.IntRange(min=0), size=True),
    ServeOption("--compress-limit", "edge.compress_limit",
                "text files (HTML, CSS, JavaScript, JSON…) from 1 KiB up to this size get brotli and gzip "
                "variants, made once per file when a build is made and stored beside it, sent to clients that "
                "accept them; larger ones are sent only as they are",
                type=click.IntRange(min=0), size=True),
    ServeOption("--max-public-bytes", "limits.max_public_bytes", "largest public or protected asset",
                type=int, size=True),
    ServeOption("--max-private-bytes", "limits.max_private_bytes", "largest private asset", type=int, size=True),
    ServeOption("--max-function-bytes", "limits.max_function_bytes", "largest function source",
                type=int, size=True),
    ServeOption("--max-public-versions", "limits.max_public_versions",
                "public asset versions per build (protected counted separately, same limit)", type=int),
    ServeOption("--max-private-versions", "limits.max_private_versions", "private asset versions per build",
                type=int),
    ServeOption("--max-function-versions", "limits.max_function_versions", "function versions per build",
                type=int),
    ServeOption("--max-form-bytes", "limits.max_form_bytes",
                "largest form body of an API or console request (every body but a file upload, which "
                "streams to disk within the file limits); larger: 413 with Twilio's error body, by its "
                "`Content-Length` before it is read, or as soon as a chunked one passes it",
                type=click.IntRange(min=64 * KiB), size=True),
    ServeOption("--function-timeout", "functions.timeout",
                "seconds a function call may run before its worker is stopped (504)", type=float),
    ServeOption("--function-concurrency", "functions.concurrency",
                "function calls running at once per account and worker process; more wait briefly, then 429",
                type=int),
    ServeOption("--function-queue-wait", "functions.queue_wait",
                "seconds a function call beyond `--function-concurrency` waits for its turn; then 429",
                type=click.FloatRange(min=0)),
    ServeOption("--npm-timeout", "functions.npm_timeout",
                "seconds a build's `npm install` may take before the build fails", type=float),
    ServeOption("--npm-cache", "functions.npm_cache", "the folder of npm's cache for build dependencies",
                default_text="`{data}/deps/.npm-cache`"),
    ServeOption("--function-network", "functions.network",
                "`none`: functions reach no address; `public`: TCP to public internet addresses only (HTTP "
                "and HTTPS clients tunnelled through the egress proxy), never the host's loopback, private "
                "networks or 169.254.169.254", type=click.Choice(NETWORKS)),
    ServeOption("--twilio-api-url", "functions.twilio_api_url",
                "where the client of `context.getTwilioClient()` sends its requests, in place of "
                "`https://<product>.twilio.com` (a Twilio API mock, a proxy); it is reached under "
                "`--function-network` like any address", default_text="Twilio's API", callback=_api_url),
    ServeOption("--function-max-workers", "functions.max_workers",
                "function worker processes per server process; past it idle builds' workers stop, and if "
                "all are busy calls answer 503", type=click.IntRange(min=1)),
    ServeOption("--function-node-workers", "functions.node_workers",
                "Node processes per deployed build, started as calls need them (each runs many calls at once)",
                type=click.IntRange(min=1)),
    ServeOption("--function-python-workers", "functions.python_workers",
                "Python processes per deployed build, started as calls need them (each runs one call at a "
                "time)", type=click.IntRange(min=1)),
    ServeOption("--function-idle-seconds", "functions.idle_seconds",
                "seconds without a call after which a build's workers stop", type=POSITIVE),
    ServeOption("--function-memory", "functions.memory_mb",
                "MiB of heap per function process (Node's V8 heap; Python's address space); with root, a "
                "worker's processes together get this plus 64 MiB and its `/tmp` (a cgroup)",
                type=click.IntRange(min=16)),
    ServeOption("--function-processes", "functions.processes",
                "processes and threads one worker's sandbox may hold (server run as root)",
                type=click.IntRange(min=16)),
    ServeOption("--function-open-files", "functions.open_files", "file descriptors per function process",
                type=click.IntRange(min=64)),
    ServeOption("--function-scratch", "functions.scratch_mb", "MiB of each worker's writable `/tmp`",
                type=click.IntRange(min=1)),
    ServeOption("--function-cpu-seconds", "functions.cpu_seconds",
                "CPU seconds a worker process may use; then it finishes its calls and is replaced",
                type=click.IntRange(min=1)),
    ServeOption("--function-max-response-bytes", "functions.max_response_bytes",
                "largest function response body; larger ones answer 500", type=click.IntRange(min=0), size=True),
    ServeOption("--function-uid-base", "functions.uid_base",
                "run as root, each function sandbox gets its own UID from here up (the one below installs "
                "dependencies)", type=click.IntRange(min=1000)),
    ServeOption("--function-uid-count", "functions.uid_count",
                "UIDs from `--function-uid-base` up that sandboxes may take: the most sandboxes running at "
                "once on this machine, every server's together", type=click.IntRange(min=1)),
    ServeOption("--node", "functions.node", "the Node.js program that runs JavaScript functions (a name in `PATH`, or a path)"),
    ServeOption("--npm", "functions.npm", "the npm program that installs build dependencies (a name in `PATH`, or a path)"),
    ServeOption("--bwrap", "functions.bwrap",
                "the bubblewrap program, sandbox of every function worker and install (a name in `PATH`, or a path)"),
    ServeOption("--max-request-line", "front.max_request_line",
                "longest request target (URI) in bytes; a longer one is answered 414",
                type=click.IntRange(min=64), size=True),
    ServeOption("--max-header-bytes", "front.max_header_bytes",
                "request line and header fields together; past it 431 and close",
                type=click.IntRange(min=1024), size=True),
    ServeOption("--max-body-bytes", "front.max_body_bytes",
                "largest request body to an environment's domain (forms, function calls); larger: 413 and close",
                type=click.IntRange(min=0), size=True),
    ServeOption("--header-timeout", "front.header_timeout",
                "seconds from a request's first byte to the end of its header; then 408 and close", type=POSITIVE),
    ServeOption("--body-timeout", "front.body_timeout",
                "seconds a request body, an upload's included, may pause between two reads; then 408 and "
                "close, and nothing of it is kept", type=POSITIVE),
    ServeOption("--keepalive-timeout", "front.keepalive_timeout",
                "seconds an idle connection stays open waiting for its next request", type=POSITIVE),
    ServeOption("--send-timeout", "front.send_timeout",
                "seconds in which a client must take 256 KiB of what waits for it (or all of it), else it is "
                "dropped", type=POSITIVE),
    ServeOption("--write-buffer-bytes", "front.write_buffer_bytes",
                "unsent bytes per connection past which that connection is not read",
                type=click.IntRange(min=4096), size=True),
    ServeOption("--max-connections", "front.max_connections",
                "open connections per worker process; more are answered 503 and closed at once",
                type=click.IntRange(min=1)),
    ServeOption("--log-level", "log_level", "server log level", type=click.Choice(LOG_LEVELS)),
    ServeOption("--log-format", "log_format",
                "`text`: server log lines as uvicorn writes them; `json`: one JSON object a line (`time`, "
                "`level`, `logger`, `message`, `exception`)", type=click.Choice(LOG_FORMATS)),
    ServeOption("--access-log", "access_log",
                "a line per request on stderr, whatever the log level: `common` (Common Log Format) or `json` "
                "(`time`, `role`, `client`, `method`, `target`, `host`, `status`, `bytes`, `duration_ms`)",
                type=click.Choice(ACCESS_LOG_FORMATS)),
)

# Read by `serve` itself, not through the table: the names the Twilio tools use, so that the
# token Twilio signs with works here too.
ACCOUNT_VARIABLES = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")
ACCOUNT_MEANING = "the account to serve, with the token Twilio signs with"


def serve_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Decorates `serve` with every option of the table, in the table's order."""
    for option in reversed(SERVE_OPTIONS):
        f = option.click_option()(f)
    return f


def store_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Decorates an admin command that opens the database with serve's --data and --database-url."""
    for option in reversed(SERVE_OPTIONS):
        if option.field in ("data_dir", "database_url"):
            f = option.click_option()(f)
    return f


def settings_from(values: dict[str, Any], **rest: Any) -> Settings:
    """Settings from serve()'s arguments (by `ServeOption.param`), plus `rest` for the top level."""
    top: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {}
    for option in SERVE_OPTIONS:
        group, _, name = option.field.rpartition(".")
        (groups.setdefault(group, {}) if group else top)[name] = values[option.param]
    defaults = Settings()
    for group, fields in groups.items():
        top[group] = dataclasses.replace(getattr(defaults, group), **fields)
    return Settings(**top, **rest)


def readme_table() -> str:
    """The README's table of serve's settings, in Markdown."""
    rows = ["| flag | variable | default | meaning |", "|---|---|---|---|"]
    for option in SERVE_OPTIONS:
        rows.append(f"| `{option.flag}` | `{option.envvar}` | {option.readme_default()} | {option.meaning} |")
    variables = ", ".join(f"`{name}`" for name in ACCOUNT_VARIABLES)
    rows.append(f"| — | {variables} | — | {ACCOUNT_MEANING} |")
    return "\n".join(rows) + "\n"


README_HEADING = "## Settings of `assethost serve`"


def with_readme_table(readme: str) -> str:
    """The README with its table of serve's settings (the first table under README_HEADING)
    replaced by readme_table(); `scripts/readme-table` writes it back."""
    lines = readme.splitlines(keepends=True)
    start = lines.index(README_HEADING + "\n")
    while not lines[start].startswith("|"):
        start += 1
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return "".join(lines[:start]) + readme_table() + "".join(lines[end:])
