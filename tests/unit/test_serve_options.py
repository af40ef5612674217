"""`assethost serve`'s options, made from one table (cli/serve_options.py): every setting has its
flag and variable, the defaults are the dataclasses' own, and the README's table is this one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
from click.testing import CliRunner

from assethost.cli.admin import accounts, serve
from assethost.cli.serve_options import SERVE_OPTIONS, serve_options, settings_from, with_readme_table
from assethost.config import EdgeOptions, FrontLimits, FunctionOptions, Limits, Settings

README = Path(__file__).resolve().parents[2] / "README.md"
# Filled by `serve` from TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, not by a flag.
NOT_FLAGS = {"account_sid", "auth_token"}


def _settings(args: list[str], env: dict[str, str] | None = None) -> Settings:
    """The Settings serve's options make of these arguments and environment."""
    made: list[Settings] = []

    @click.command()
    @serve_options
    def probe(**values):  # type: ignore[no-untyped-def]
        made.append(settings_from(values))

    result = CliRunner().invoke(probe, args, env=env or {}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return made[0]


def _error(args: list[str], env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(serve, args, env=env or {})
    assert result.exit_code == 2
    return result.output.splitlines()[-1]


def test_readme_table_is_the_generated_one():
    readme = README.read_text()
    assert with_readme_table(readme) == readme, "run scripts/readme-table"


def test_every_setting_has_one_option():
    groups = {"limits": Limits, "edge": EdgeOptions, "front": FrontLimits, "functions": FunctionOptions}
    fields = [f.name for f in dataclasses.fields(Settings) if f.name not in groups and f.name not in NOT_FLAGS]
    for group, cls in groups.items():
        fields += [f"{group}.{f.name}" for f in dataclasses.fields(cls)]
    assert sorted(o.field for o in SERVE_OPTIONS) == sorted(fields)
    assert len({o.flag for o in SERVE_OPTIONS}) == len(SERVE_OPTIONS)


def test_flags_and_variables_of_serve():
    options = {p.opts[0]: p.envvar for p in serve.params if isinstance(p, click.Option) and p.envvar}
    # The flags serve had before the table, with the variables of the same names.
    before = [
        "--host", "--port", "--data", "--database-url", "--public-url", "--base-domain", "--max-public-bytes",
        "--max-private-bytes", "--max-function-bytes", "--max-public-versions", "--max-private-versions",
        "--max-function-versions", "--max-form-bytes", "--edge-only", "--trust-forwarded", "--cache-control",
        "--protected-cache-control", "--memory-file-limit", "--workers", "--log-level", "--function-timeout",
        "--function-concurrency", "--npm-timeout", "--npm-cache", "--function-network",
        "--function-max-workers", "--function-memory", "--function-processes", "--function-scratch",
        "--function-cpu-seconds", "--function-max-response-bytes", "--function-uid-base",
        "--max-request-line", "--max-header-bytes", "--max-body-bytes", "--header-timeout", "--body-timeout",
        "--keepalive-timeout", "--send-timeout", "--write-buffer-bytes", "--max-connections",
    ]
    added = [
        "--compress-limit", "--function-queue-wait", "--function-node-workers", "--function-python-workers",
        "--function-idle-seconds", "--function-open-files", "--function-uid-count", "--node", "--npm", "--bwrap",
        "--blob-url", "--memory-budget", "--log-format", "--access-log", "--twilio-api-url", "--cache-size",
        "--api-only",
    ]
    assert sorted(options) == sorted(before + added)
    assert options["--data"] == "ASSETHOST_DATA"
    assert options["--cache-control"] == "ASSETHOST_CACHE_CONTROL"
    assert options["--function-max-response-bytes"] == "ASSETHOST_FUNCTION_MAX_RESPONSE_BYTES"
    assert options["--compress-limit"] == "ASSETHOST_COMPRESS_LIMIT"


def test_no_arguments_give_the_dataclass_defaults():
    assert _settings([]) == Settings()
    assert Settings().limits.max_public_bytes == 25 * 1024 * 1024
    assert Settings().front.max_header_bytes == 32 * 1024
    assert Settings().edge.compress_limit == 8 * 1024 * 1024


def test_flags_then_variables_then_defaults():
    settings = _settings(
        ["--max-header-bytes", "2048", "--base-domain", ".Assets.Example.COM.", "--function-node-workers", "5",
         "--cache-control", "no-store", "--data", "elsewhere"],
        env={"ASSETHOST_MAX_HEADER_BYTES": "4096", "ASSETHOST_COMPRESS_LIMIT": "100", "ASSETHOST_EDGE_ONLY": "1",
             "ASSETHOST_FUNCTION_IDLE_SECONDS": "2.5", "ASSETHOST_WORKERS": "3"},
    )
    assert settings == Settings(
        data_dir=Path("elsewhere"), base_domain="assets.example.com", workers=3, edge_only=True,
        front=FrontLimits(max_header_bytes=2048), edge=EdgeOptions(compress_limit=100, public_cache_control="no-store"),
        functions=FunctionOptions(node_workers=5, idle_seconds=2.5),
    )


def test_bad_values_are_refused_by_name():
    assert _error(["--max-header-bytes", "10"]) == (
        "Error: Invalid value for '--max-header-bytes': 10 is not in the range x>=1024."
    )
    assert _error([], env={"ASSETHOST_FUNCTION_NETWORK": "lan"}) == (
        "Error: Invalid value for '--function-network': 'lan' is not one of 'none', 'public'."
    )
    assert _error(["--send-timeout", "0"]) == "Error: Invalid value for '--send-timeout': 0.0 is not in the range x>0."
    assert _error(["--function-node-workers", "0"]) == (
        "Error: Invalid value for '--function-node-workers': 0 is not in the range x>=1."
    )
    assert _error(["--port", "http"]) == "Error: Invalid value for '--port': 'http' is not a valid integer."
    assert _error(["--twilio-api-url", "mock:4010"]) == (
        "Error: Invalid value for '--twilio-api-url': 'mock:4010' is not an http:// or https:// URL"
    )


def test_the_twilio_api_url_is_kept_without_its_last_slash():
    assert _settings(["--twilio-api-url", "http://mock:4010/"]).functions.twilio_api_url == "http://mock:4010"
    assert _settings([], env={"ASSETHOST_TWILIO_API_URL": "https://proxy.example/twilio"}).functions == (
        FunctionOptions(twilio_api_url="https://proxy.example/twilio"))


def test_help_says_default_and_meaning():
    text = CliRunner().invoke(serve, ["--help"], terminal_width=200).output
    assert "--compress-limit INTEGER RANGE" in text
    assert "Largest public or protected asset.  [default: 26214400]" in text
    assert "[default: (SQLite in --data)]" in text


def test_admin_commands_share_data_and_database_options():
    create = accounts.commands["create"]
    options = {p.opts[0]: (p.envvar, p.default) for p in create.params if isinstance(p, click.Option)}
    assert options["--data"] == ("ASSETHOST_DATA", Path("assethost-data"))
    assert options["--database-url"] == ("ASSETHOST_DATABASE_URL", None)


def test_the_cache_size_takes_a_unit():
    assert Settings().cache_size == 2 * 1024**3
    assert _settings(["--cache-size", "2GiB"]).cache_size == 2 * 1024**3
    assert _settings(["--cache-size", "512M"]).cache_size == 512 * 1024**2
    assert _settings([], {"ASSETHOST_CACHE_SIZE": "1048576"}).cache_size == 1024**2
    assert "'lots' is not a size such as 2GiB" in _error(["--cache-size", "lots"])
