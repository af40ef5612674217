"""Where the CLI finds its server and credentials (flags, TWILIO_* variables, the project's .env,
the login saved by `assethost login`), what a refusal says about them, and the errors around them:
a real server, the `assethost` command as a subprocess, a temporary HOME and XDG_CONFIG_HOME."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from clikit import REPO, run_cli, write_files
from twilio.request_validator import RequestValidator

WRONG_TOKEN = "0" * 32


@pytest.fixture
def home(tmp_path):
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def bare_env(home: Path, **extra: str) -> dict[str, str]:
    """No TWILIO_* or ASSETHOST_* variables: only what a test gives."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TWILIO_", "ASSETHOST_")) and k != "XDG_CONFIG_HOME"}
    env.update(HOME=str(home), NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
               PYTHONPATH=str(REPO / "src"))
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_login_saves_a_private_file_that_later_commands_use(cli_server, home, tmp_path):
    config = tmp_path / "xdg"
    env = bare_env(home, XDG_CONFIG_HOME=str(config))
    result = run_cli(cli_server, "login", "--api-url", cli_server.base_url, "--account-sid", cli_server.account_sid,
                     "--auth-token", cli_server.auth_token, env=env, cwd=tmp_path).ok()
    path = config / "assethost" / "login.json"
    assert result.stdout == (f"Logged in to {cli_server.base_url} as {cli_server.account_sid}; saved in {path} "
                             "(readable only by you)\n")
    assert cli_server.auth_token not in result.stdout + result.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text()) == {"api_url": cli_server.base_url, "username": cli_server.account_sid,
                                            "password": cli_server.auth_token}

    # No flag and no variable: the server's address and the credentials come from the login.
    usage = run_cli(cli_server, "usage", "--json", env=env, cwd=tmp_path).ok()
    assert usage.json()["account_sid"] == cli_server.account_sid
    # An Account SID's saved token also signs.
    url = "http://site-1234-dev.localhost:8080/admin.html"
    signed = run_cli(cli_server, "sign", url, env=env, cwd=tmp_path).ok()
    assert signed.stdout == RequestValidator(cli_server.auth_token).compute_signature(url, {}) + "\n"

    out = run_cli(cli_server, "logout", env=env, cwd=tmp_path).ok()
    assert (out.stdout, path.exists()) == (f"Logged out: removed {path}\n", False)
    again = run_cli(cli_server, "logout", "--json", env=env, cwd=tmp_path).ok()
    assert again.json() == {"path": str(path), "removed": False}
    refused = run_cli(cli_server, "usage", "--api-url", cli_server.base_url, "--json", env=env, cwd=tmp_path)
    assert refused.returncode == 2
    assert "Error: No credentials: run `assethost login`" in refused.stderr
    assert refused.json()["error"].startswith("No credentials: run `assethost login`")
    assert (refused.json()["status"], refused.json()["code"]) == (None, None)

    as_json = run_cli(cli_server, "login", "--api-url", cli_server.base_url, "--account-sid", cli_server.account_sid,
                      "--auth-token", cli_server.auth_token, "--json", env=env, cwd=tmp_path).ok()
    assert as_json.json() == {"api_url": cli_server.base_url, "username": cli_server.account_sid, "path": str(path)}


def test_login_without_xdg_config_home_writes_under_home_and_asks_what_is_missing(cli_server, home, tmp_path):
    env = bare_env(home, ASSETHOST_API_URL=cli_server.base_url)
    # Without a terminal (a new session has none) the hidden prompt reads stdin.
    proc = subprocess.run(
        [sys.executable, "-m", "assethost", "login"], input=f"{cli_server.account_sid}\n{cli_server.auth_token}\n",
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, start_new_session=True, check=False,
    )
    path = home / ".config" / "assethost" / "login.json"
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith(f"saved in {path} (readable only by you)\n")
    assert cli_server.auth_token not in proc.stdout + proc.stderr
    assert "Account SID (AC…) or API key SID (SK…): " in proc.stderr
    assert json.loads(path.read_text())["username"] == cli_server.account_sid
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_login_with_a_wrong_token_saves_nothing(cli_server, home, tmp_path):
    env = bare_env(home, XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    result = run_cli(cli_server, "login", "--api-url", cli_server.base_url, "--account-sid", cli_server.account_sid,
                     "--auth-token", WRONG_TOKEN, "--json", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert result.json()["status"] == 401
    assert result.json()["code"] == 20003
    assert result.stderr.startswith(f"Error: {cli_server.base_url} did not accept them, nothing was saved: ")
    assert result.stderr.endswith(f": the server refused {cli_server.account_sid} (from assethost login) "
                                  "(HTTP 401, code 20003)\n")
    assert not (tmp_path / "xdg").exists()


def test_login_over_an_existing_file_makes_it_private(cli_server, home, tmp_path):
    path = tmp_path / "xdg" / "assethost" / "login.json"
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    path.chmod(0o644)
    env = bare_env(home, XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    run_cli(cli_server, "login", "--api-url", cli_server.base_url, "--account-sid", cli_server.account_sid,
            "--auth-token", cli_server.auth_token, env=env, cwd=tmp_path).ok()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["password"] == cli_server.auth_token


def test_login_to_no_server_saves_nothing(cli_server, home, tmp_path):
    url = f"http://127.0.0.1:{_free_port()}"
    env = bare_env(home, XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    result = run_cli(cli_server, "login", "--api-url", url, "--account-sid", cli_server.account_sid,
                     "--auth-token", cli_server.auth_token, env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: nothing was saved: cannot reach {url} (")
    assert not (tmp_path / "xdg").exists()


def _usage_refusal(cli_server, env: dict[str, str], cwd: Path) -> str:
    result = run_cli(cli_server, "usage", "--api-url", cli_server.base_url, env=env, cwd=cwd)
    assert result.returncode == 1, result.stderr
    assert result.stderr.endswith("(HTTP 401, code 20003)\n"), result.stderr
    return result.stderr


def test_a_refusal_names_where_the_credentials_came_from(cli_server, home, tmp_path):
    sid = cli_server.account_sid
    project = tmp_path / "project"
    config = tmp_path / "xdg"
    (config / "assethost").mkdir(parents=True)
    login = config / "assethost" / "login.json"
    login.write_text(json.dumps({"username": sid, "password": WRONG_TOKEN}))
    env = bare_env(home, XDG_CONFIG_HOME=str(config))
    project.mkdir()

    assert f": the server refused {sid} (from the saved login ({login})) " in _usage_refusal(cli_server, env, project)

    write_files(project, {".env": f"ACCOUNT_SID={sid}\nAUTH_TOKEN={WRONG_TOKEN}\n"})
    assert f": the server refused {sid} (from ACCOUNT_SID/AUTH_TOKEN in .env) " in _usage_refusal(
        cli_server, env, project)

    env_vars = {**env, "TWILIO_ACCOUNT_SID": sid, "TWILIO_AUTH_TOKEN": WRONG_TOKEN}
    assert f": the server refused {sid} (from TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN) " in _usage_refusal(
        cli_server, env_vars, project)

    flags = run_cli(cli_server, "usage", "--api-url", cli_server.base_url, "-u", sid, "-p", WRONG_TOKEN,
                    env=env_vars, cwd=project)
    assert f": the server refused {sid} (from --username/--password) (HTTP 401, code 20003)\n" in flags.stderr


def test_precedence_flags_then_variables_then_env_file_then_login(cli_server, home, tmp_path):
    sid, token = cli_server.account_sid, cli_server.auth_token
    project = tmp_path / "project"
    write_files(project, {"assets/a.txt": "a", ".env": f"ACCOUNT_SID={sid}\nAUTH_TOKEN={token}\nGREETING=hi\n"})
    config = tmp_path / "xdg"
    (config / "assethost").mkdir(parents=True)
    (config / "assethost" / "login.json").write_text(json.dumps({"username": sid, "password": WRONG_TOKEN}))
    env = bare_env(home, XDG_CONFIG_HOME=str(config), ASSETHOST_API_URL=cli_server.base_url)

    # The right .env beats the wrong login (the deploy reads DIR's .env, from anywhere).
    dry = run_cli(cli_server, "deploy", str(project), "-n", "creds-site", "--dry-run", "--json", env=env,
                  cwd=tmp_path).ok()
    assert dry.json()["counts"]["files"] == 1
    # The wrong variables beat the right .env.
    wrong_vars = {**env, "TWILIO_ACCOUNT_SID": sid, "TWILIO_AUTH_TOKEN": WRONG_TOKEN}
    refused = run_cli(cli_server, "deploy", str(project), "-n", "creds-site", "--dry-run", env=wrong_vars,
                      cwd=tmp_path)
    assert refused.returncode == 1
    assert "(from TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN)" in refused.stderr
    # And the flags beat the variables.
    run_cli(cli_server, "deploy", str(project), "-n", "creds-site", "--dry-run", "-u", sid, "-p", token,
            env=wrong_vars, cwd=tmp_path).ok()
    # The file named by --env is the one read for credentials too.
    write_files(project, {"other.env": f"ACCOUNT_SID={sid}\nAUTH_TOKEN={WRONG_TOKEN}\n"})
    other = run_cli(cli_server, "deploy", str(project), "-n", "creds-site", "--dry-run", "--env", "other.env",
                    env=env, cwd=tmp_path)
    assert f"(from ACCOUNT_SID/AUTH_TOKEN in {project / 'other.env'})" in other.stderr


def test_cannot_reach_says_what_to_check(cli_server, home, tmp_path):
    url = f"http://127.0.0.1:{_free_port()}"
    env = bare_env(home, TWILIO_ACCOUNT_SID=cli_server.account_sid, TWILIO_AUTH_TOKEN=cli_server.auth_token)
    result = run_cli(cli_server, "usage", "--api-url", url, "--json", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == (f"Error: cannot reach {url} ([Errno 111] Connection refused): is the server running "
                             "(assethost serve), and is that its address (--api-url, ASSETHOST_API_URL)?\n")
    assert result.json() == {"error": result.stderr[len("Error: "):-1], "status": None, "code": None}


def test_an_explicit_env_file_that_is_missing_is_an_error(cli_server, home, tmp_path):
    write_files(tmp_path / "project", {"assets/a.txt": "a"})
    env = bare_env(home, TWILIO_ACCOUNT_SID=cli_server.account_sid, TWILIO_AUTH_TOKEN=cli_server.auth_token,
                   ASSETHOST_API_URL=cli_server.base_url)
    result = run_cli(cli_server, "deploy", "project", "--env", "prod.env", "--dry-run", "--json", env=env,
                     cwd=tmp_path)
    assert result.returncode == 2
    message = f"Invalid value for --env: no file {Path('project') / 'prod.env'}"
    assert result.stderr.endswith(f"Error: {message}\n")
    assert result.json() == {"error": message, "status": None, "code": None}
    # The default .env may be missing.
    run_cli(cli_server, "deploy", "project", "-n", "no-env-site", "--dry-run", env=env, cwd=tmp_path).ok()


@pytest.mark.parametrize("command", [[], ["deploy"], ["list"], ["logs"], ["login"], ["logout"], ["serve"],
                                     ["accounts", "create"], ["keys"], ["fetch"]])
def test_dash_h_is_help(cli_server, home, tmp_path, command):
    short = run_cli(cli_server, *command, "-h", env=bare_env(home), cwd=tmp_path).ok()
    long = run_cli(cli_server, *command, "--help", env=bare_env(home), cwd=tmp_path).ok()
    assert short.stdout == long.stdout
    assert short.stdout.startswith("Usage: ")
    assert "-h, --help" in short.stdout


def test_a_broken_saved_login_matters_only_when_it_is_needed(cli_server, home, tmp_path):
    path = tmp_path / "xdg" / "assethost" / "login.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    env = bare_env(home, XDG_CONFIG_HOME=str(tmp_path / "xdg"), ASSETHOST_API_URL=cli_server.base_url,
                   TWILIO_ACCOUNT_SID=cli_server.account_sid, TWILIO_AUTH_TOKEN=cli_server.auth_token)
    run_cli(cli_server, "usage", env=env, cwd=tmp_path).ok()
    del env["TWILIO_ACCOUNT_SID"], env["TWILIO_AUTH_TOKEN"]
    broken = run_cli(cli_server, "usage", env=env, cwd=tmp_path)
    assert broken.returncode == 2
    assert broken.stderr.splitlines()[-1].startswith(f"Error: cannot read the saved login {path}: ")
