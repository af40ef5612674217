"""`assethost serve` and the admin commands that work on the database directly (`accounts`, `keys`).

Loaded only when one of them runs (see main.py), since their option defaults import the server."""

from __future__ import annotations

import json
from pathlib import Path

import click

from assethost.core.limits import Limits
from assethost.edge.limits import FrontLimits
from assethost.edge.snapshot import EdgeOptions
from assethost.functions.options import NETWORKS, FunctionOptions
from assethost.functions.sandbox import Sandbox
from assethost.settings import Settings


def _store_options(f):  # type: ignore[no-untyped-def]
    f = click.option(
        "--database-url", envvar="ASSETHOST_DATABASE_URL", default=None,
        help="SQLAlchemy URL of a PostgreSQL database (postgresql+psycopg://…) instead of SQLite in --data.",
    )(f)
    f = click.option(
        "--data", "data_dir", envvar="ASSETHOST_DATA", default="assethost-data", show_default=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Folder for the SQLite database and the blobs.",
    )(f)
    return f


@click.command()
@click.option("--host", envvar="ASSETHOST_HOST", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", envvar="ASSETHOST_PORT", default=8080, show_default=True, type=int, help="Port to listen on.")
@_store_options
@click.option(
    "--public-url", envvar="ASSETHOST_PUBLIC_URL", default=None,
    help="Externally visible origin used in every url, links and paging URL [default: http://{host}:{port}].",
)
@click.option(
    "--base-domain", envvar="ASSETHOST_BASE_DOMAIN", default="localhost", show_default=True,
    help="Domain under which environments get their domains: {service}-{digits}[-{suffix}].{base-domain} "
         "(not stored: restarting with another one moves every environment to it).",
)
@click.option("--max-public-bytes", envvar="ASSETHOST_MAX_PUBLIC_BYTES", type=int, default=Limits.max_public_bytes,
              show_default=True, help="Largest public or protected asset file.")
@click.option("--max-private-bytes", envvar="ASSETHOST_MAX_PRIVATE_BYTES", type=int,
              default=Limits.max_private_bytes, show_default=True, help="Largest private asset file.")
@click.option("--max-function-bytes", envvar="ASSETHOST_MAX_FUNCTION_BYTES", type=int,
              default=Limits.max_function_bytes, show_default=True, help="Largest function source file.")
@click.option("--max-public-versions", envvar="ASSETHOST_MAX_PUBLIC_VERSIONS", type=int,
              default=Limits.max_public_versions, show_default=True,
              help="Most public (and, separately, protected) asset versions in one build.")
@click.option("--max-private-versions", envvar="ASSETHOST_MAX_PRIVATE_VERSIONS", type=int,
              default=Limits.max_private_versions, show_default=True, help="Most private asset versions in one build.")
@click.option("--max-function-versions", envvar="ASSETHOST_MAX_FUNCTION_VERSIONS", type=int,
              default=Limits.max_function_versions, show_default=True, help="Most function versions in one build.")
@click.option("--max-form-bytes", envvar="ASSETHOST_MAX_FORM_BYTES", type=click.IntRange(min=64 * 1024),
              default=Limits.max_form_bytes, show_default=True,
              help="Largest form body of an API or console request (file uploads aside, which stream to "
              "disk within --max-*-bytes); a larger one is answered 413.")
@click.option("--edge-only", envvar="ASSETHOST_EDGE_ONLY", is_flag=True,
              help="Serve deployed assets only (no API), e.g. for nodes behind a CDN.")
@click.option("--trust-forwarded", envvar="ASSETHOST_TRUST_FORWARDED", is_flag=True,
              help="Behind a proxy: rebuild the signed URL from X-Forwarded-Proto and X-Forwarded-Host.")
@click.option("--cache-control", envvar="ASSETHOST_CACHE_CONTROL", default=EdgeOptions.public_cache_control,
              show_default=True, help="Cache-Control of public assets.")
@click.option("--protected-cache-control", envvar="ASSETHOST_PROTECTED_CACHE_CONTROL",
              default=EdgeOptions.protected_cache_control, show_default=True,
              help="Cache-Control of protected assets.")
@click.option("--memory-file-limit", envvar="ASSETHOST_MEMORY_FILE_LIMIT", type=int,
              default=EdgeOptions.memory_file_limit, show_default=True,
              help="Files up to this many bytes are served from memory; larger ones from disk.")
@click.option("--workers", envvar="ASSETHOST_WORKERS", type=int, default=1, show_default=True,
              help="Worker processes sharing the port. With more than one, a deployment reaches the other "
              "workers within half a second rather than at once.")
@click.option("--log-level", envvar="ASSETHOST_LOG_LEVEL", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@click.option("--function-timeout", envvar="ASSETHOST_FUNCTION_TIMEOUT", type=float,
              default=FunctionOptions.timeout, show_default=True,
              help="Seconds a function call may run; then its worker is stopped and the call answers 504.")
@click.option("--function-concurrency", envvar="ASSETHOST_FUNCTION_CONCURRENCY", type=int,
              default=FunctionOptions.concurrency, show_default=True,
              help="Function calls running at once per account (per worker process); more wait briefly, then 429.")
@click.option("--npm-timeout", envvar="ASSETHOST_NPM_TIMEOUT", type=float, default=FunctionOptions.npm_timeout,
              show_default=True, help="Seconds a build's npm install may take before the build fails.")
@click.option("--npm-cache", envvar="ASSETHOST_NPM_CACHE", default=None,
              help="npm's cache folder for build dependencies [default: {data}/deps/.npm-cache].")
@click.option("--function-network", envvar="ASSETHOST_FUNCTION_NETWORK", type=click.Choice(NETWORKS),
              default=FunctionOptions.network, show_default=True,
              help="none: functions reach no address; public: HTTP(S) to public internet addresses only, "
              "through the egress proxy (never the host's loopback, private networks or 169.254.169.254).")
@click.option("--function-max-workers", envvar="ASSETHOST_FUNCTION_MAX_WORKERS", type=click.IntRange(1),
              default=FunctionOptions.max_workers, show_default=True,
              help="Function worker processes per server process, all builds together; past it the least "
              "recently used idle build's workers stop, and if none is idle calls answer 503.")
@click.option("--function-memory", envvar="ASSETHOST_FUNCTION_MEMORY", type=click.IntRange(16),
              default=FunctionOptions.memory_mb, show_default=True,
              help="MiB of heap a function worker may use (Node's heap; Python's address space).")
@click.option("--function-processes", envvar="ASSETHOST_FUNCTION_PROCESSES", type=click.IntRange(16),
              default=FunctionOptions.processes, show_default=True,
              help="Processes and threads one function worker's sandbox may hold (server run as root; "
              "Node itself uses about 11).")
@click.option("--function-scratch", envvar="ASSETHOST_FUNCTION_SCRATCH", type=click.IntRange(1),
              default=FunctionOptions.scratch_mb, show_default=True,
              help="MiB of the writable /tmp of each function worker.")
@click.option("--function-cpu-seconds", envvar="ASSETHOST_FUNCTION_CPU_SECONDS", type=click.IntRange(1),
              default=FunctionOptions.cpu_seconds, show_default=True,
              help="CPU seconds a function worker may use in all; then it is replaced.")
@click.option("--function-max-response-bytes", envvar="ASSETHOST_FUNCTION_MAX_RESPONSE_BYTES",
              type=click.IntRange(0), default=FunctionOptions.max_response_bytes, show_default=True,
              help="Largest response body a function may answer with; larger ones answer 500.")
@click.option("--function-uid-base", envvar="ASSETHOST_FUNCTION_UID_BASE", type=click.IntRange(1000),
              default=FunctionOptions.uid_base, show_default=True,
              help="Run as root, function sandboxes get UIDs from here up (the one below installs dependencies).")
@click.option("--max-request-line", envvar="ASSETHOST_MAX_REQUEST_LINE", type=click.IntRange(min=64),
              default=FrontLimits.max_request_line, show_default=True,
              help="Longest request target (URI) in bytes; longer ones are answered 414.")
@click.option("--max-header-bytes", envvar="ASSETHOST_MAX_HEADER_BYTES", type=click.IntRange(min=1024),
              default=FrontLimits.max_header_bytes, show_default=True,
              help="Most bytes of a request's line and header fields; more are answered 431.")
@click.option("--max-body-bytes", envvar="ASSETHOST_MAX_BODY_BYTES", type=click.IntRange(min=0),
              default=FrontLimits.max_body_bytes, show_default=True,
              help="Largest request body to an environment's domain (forms, function calls); larger get 413.")
@click.option("--header-timeout", envvar="ASSETHOST_HEADER_TIMEOUT", type=click.FloatRange(min=0, min_open=True),
              default=FrontLimits.header_timeout, show_default=True,
              help="Seconds from a request's first byte to the end of its header; then 408 and close.")
@click.option("--body-timeout", envvar="ASSETHOST_BODY_TIMEOUT", type=click.FloatRange(min=0, min_open=True),
              default=FrontLimits.body_timeout, show_default=True,
              help="Seconds a request body, an upload's included, may pause between two reads; then 408 "
              "(Twilio's error body on the API) and close, and nothing of it is kept.")
@click.option("--keepalive-timeout", envvar="ASSETHOST_KEEPALIVE_TIMEOUT",
              type=click.FloatRange(min=0, min_open=True), default=FrontLimits.keepalive_timeout,
              show_default=True, help="Seconds an idle connection stays open waiting for its next request.")
@click.option("--send-timeout", envvar="ASSETHOST_SEND_TIMEOUT", type=click.FloatRange(min=0, min_open=True),
              default=FrontLimits.send_timeout, show_default=True,
              help="Seconds in which a client must take 256 KiB of what waits for it (or all of it); else it is dropped.")
@click.option("--write-buffer-bytes", envvar="ASSETHOST_WRITE_BUFFER_BYTES", type=click.IntRange(min=4096),
              default=FrontLimits.write_buffer_bytes, show_default=True,
              help="Unsent bytes per connection past which the server stops reading that connection.")
@click.option("--max-connections", envvar="ASSETHOST_MAX_CONNECTIONS", type=click.IntRange(min=1),
              default=FrontLimits.max_connections, show_default=True,
              help="Open connections per worker process; more are answered 503 and closed at once.")
def serve(
    host: str, port: int, data_dir: Path, database_url: str | None, public_url: str | None, base_domain: str,
    max_public_bytes: int, max_private_bytes: int, max_function_bytes: int, max_public_versions: int,
    max_private_versions: int, max_function_versions: int, max_form_bytes: int, edge_only: bool,
    trust_forwarded: bool, cache_control: str, protected_cache_control: str, memory_file_limit: int, workers: int,
    log_level: str,
    function_timeout: float = FunctionOptions.timeout, function_concurrency: int = FunctionOptions.concurrency,
    npm_timeout: float = FunctionOptions.npm_timeout, npm_cache: str | None = None,
    function_memory: int = FunctionOptions.memory_mb, function_processes: int = FunctionOptions.processes,
    function_scratch: int = FunctionOptions.scratch_mb, function_cpu_seconds: int = FunctionOptions.cpu_seconds,
    function_max_response_bytes: int = FunctionOptions.max_response_bytes,
    function_uid_base: int = FunctionOptions.uid_base, function_network: str = FunctionOptions.network,
    function_max_workers: int = FunctionOptions.max_workers,
    max_request_line: int = FrontLimits.max_request_line, max_header_bytes: int = FrontLimits.max_header_bytes,
    max_body_bytes: int = FrontLimits.max_body_bytes, header_timeout: float = FrontLimits.header_timeout,
    body_timeout: float = FrontLimits.body_timeout, keepalive_timeout: float = FrontLimits.keepalive_timeout,
    send_timeout: float = FrontLimits.send_timeout, write_buffer_bytes: int = FrontLimits.write_buffer_bytes,
    max_connections: int = FrontLimits.max_connections,
) -> None:
    """Run the API (and the runtime edge) on one port."""
    import os

    from assethost.app import prepare
    from assethost.server import run

    settings = Settings(
        host=host, port=port, data_dir=data_dir, database_url=database_url, public_url=public_url,
        base_domain=base_domain.strip(".").lower(),
        limits=Limits(
            max_public_bytes=max_public_bytes, max_private_bytes=max_private_bytes,
            max_function_bytes=max_function_bytes, max_public_versions=max_public_versions,
            max_private_versions=max_private_versions, max_function_versions=max_function_versions,
            max_form_bytes=max_form_bytes,
        ),
        edge=EdgeOptions(
            memory_file_limit=memory_file_limit, public_cache_control=cache_control,
            protected_cache_control=protected_cache_control,
        ),
        front=FrontLimits(
            max_request_line=max_request_line, max_header_bytes=max_header_bytes, max_body_bytes=max_body_bytes,
            header_timeout=header_timeout, body_timeout=body_timeout, keepalive_timeout=keepalive_timeout,
            send_timeout=send_timeout, write_buffer_bytes=write_buffer_bytes, max_connections=max_connections,
        ),
        edge_only=edge_only,
        trust_forwarded=trust_forwarded,
        functions=FunctionOptions(timeout=function_timeout, concurrency=function_concurrency,
                                  npm_timeout=npm_timeout, npm_cache=npm_cache, memory_mb=function_memory,
                                  processes=function_processes, scratch_mb=function_scratch,
                                  cpu_seconds=function_cpu_seconds,
                                  max_response_bytes=function_max_response_bytes, uid_base=function_uid_base,
                                  network=function_network, max_workers=function_max_workers),
        # The same variables the Twilio tools use, so the token Twilio signs with works here.
        account_sid=os.environ.get("TWILIO_ACCOUNT_SID") or None,
        auth_token=os.environ.get("TWILIO_AUTH_TOKEN") or None,
    )
    notes = prepare(settings)
    origin = settings.fixed_origin or f"http://<request host>:{port}"
    click.echo(f"assethost {_version()} listening on http://{host}:{port}")
    if not edge_only:
        click.echo(f"  API:      {origin}/v1")
        click.echo(f"  console:  {origin}/console")
    click.echo(f"  database: {_safe_url(settings.db_url)}")
    click.echo(f"  blobs:    {settings.blob_dir}")
    click.echo(f"  domains:  *.{settings.base_domain}  (e.g. http://myservice-1234.{settings.base_domain}:{port}/)")
    click.echo(f"  workers:  {workers}")
    sandbox = Sandbox(settings.functions.bwrap, settings.functions.uid_base, settings.functions.uid_count)
    problem = sandbox.problem()
    how = f"sandboxed with bubblewrap; {sandbox.cgroup_note}"
    click.echo(f"  functions: {'cannot run: ' + problem if problem else how}")
    for line in notes:
        click.echo(line)
    run(settings, workers, log_level)


@click.group()
def accounts() -> None:
    """Manage accounts (directly in the database)."""


@accounts.command("create")
@_store_options
@click.option("--friendly-name", default="Account", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def accounts_create(data_dir: Path, database_url: str | None, friendly_name: str, as_json: bool) -> None:
    """Create an account with a random Auth Token and print both."""
    from assethost.core import accounts as core_accounts

    ctx = _open(data_dir, database_url)
    creds = core_accounts.create_account(ctx.meta, friendly_name)
    if as_json:
        click.echo(json.dumps({"account_sid": creds.account_sid, "auth_token": creds.secret}))
    else:
        click.echo(f"TWILIO_ACCOUNT_SID={creds.account_sid}\nTWILIO_AUTH_TOKEN={creds.secret}")


@accounts.command("rotate-token")
@_store_options
@click.option("--account", "account_sid", envvar="TWILIO_ACCOUNT_SID", default=None,
              help="Account whose Auth Token to replace [default: TWILIO_ACCOUNT_SID, or the only account].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def accounts_rotate_token(data_dir: Path, database_url: str | None, account_sid: str | None, as_json: bool) -> None:
    """Give an account a new random Auth Token and print it, once. The old one stops working on the
    API at once, on every server's edge within a second, and console sessions signed in with it end."""
    from assethost.core import accounts as core_accounts

    ctx = _open(data_dir, database_url)
    creds = _admin_call(core_accounts.rotate_token, ctx.meta, _account(ctx, account_sid))
    _update_credentials_file(data_dir, creds)
    if as_json:
        click.echo(json.dumps({"account_sid": creds.account_sid, "auth_token": creds.secret}))
    else:
        click.echo(f"TWILIO_ACCOUNT_SID={creds.account_sid}\nTWILIO_AUTH_TOKEN={creds.secret}\n"
                   "(a server started with TWILIO_AUTH_TOKEN needs the new value before its next start)")


@click.group()
def keys() -> None:
    """Manage API keys (directly in the database)."""


@keys.command("create")
@_store_options
@click.option("--account", "account_sid", envvar="TWILIO_ACCOUNT_SID", default=None,
              help="Account the key acts for [default: TWILIO_ACCOUNT_SID, or the only account].")
@click.option("--friendly-name", default="assethost key", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def keys_create(data_dir: Path, database_url: str | None, account_sid: str | None, friendly_name: str,
                as_json: bool) -> None:
    """Create an API key (SK…) and print its secret, once."""
    from assethost.core import accounts as core_accounts

    ctx = _open(data_dir, database_url)
    creds = _admin_call(core_accounts.create_key, ctx.meta, _account(ctx, account_sid), friendly_name)
    if as_json:
        click.echo(json.dumps({"sid": creds.sid, "secret": creds.secret, "account_sid": creds.account_sid}))
    else:
        click.echo(f"API key {creds.sid} for account {creds.account_sid}\nsecret: {creds.secret}\n"
                   "(the secret is shown only now)")


@keys.command("delete")
@_store_options
@click.argument("key_sid")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def keys_delete(data_dir: Path, database_url: str | None, key_sid: str, as_json: bool) -> None:
    """Delete an API key: the API refuses it at once and console sessions signed in with it end."""
    from assethost.core import accounts as core_accounts

    ctx = _open(data_dir, database_url)
    account_sid = _admin_call(core_accounts.delete_key, ctx.meta, key_sid)
    if as_json:
        click.echo(json.dumps({"sid": key_sid, "account_sid": account_sid, "deleted": True}))
    else:
        click.echo(f"API key {key_sid} of account {account_sid} deleted")


def _account(ctx, account_sid: str | None) -> str:  # type: ignore[no-untyped-def]
    """The account a command names, or the only one there is."""
    from assethost.core import accounts as core_accounts

    if account_sid:
        return account_sid
    existing = core_accounts.list_accounts(ctx.meta)
    if len(existing) != 1:
        raise click.UsageError("Say which account with --account (or TWILIO_ACCOUNT_SID).")
    return existing[0]


def _admin_call(fn, *args):  # type: ignore[no-untyped-def]
    """Run a core operation; its refusals become a one-line error, not a traceback."""
    from assethost.core.errors import AssetHostError

    try:
        return fn(*args)
    except AssetHostError as exc:
        raise click.ClickException(exc.message) from None


def _update_credentials_file(data_dir: Path, creds) -> None:  # type: ignore[no-untyped-def]
    """The first run saved its account's token in {data}/credentials.json: keep it current."""
    from assethost.app import CREDENTIALS_FILE, write_credentials

    path = data_dir / CREDENTIALS_FILE
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if isinstance(saved, dict) and saved.get("account_sid") == creds.account_sid:
        write_credentials(data_dir, creds)


def _open(data_dir: Path, database_url: str | None):  # type: ignore[no-untyped-def]
    from assethost.app import open_context

    return open_context(Settings(data_dir=data_dir, database_url=database_url))


def _version() -> str:
    from assethost import __version__

    return __version__


def _safe_url(url: str) -> str:
    """The database URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
