"""docs/cli.md's deploy and promote examples run as written against a real server, in a project
folder: what a reader fills in is replaced (the credentials, port 8080, a build's ZB…), nothing else."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid

import httpx
from helpers import doc_block
from servers import REPO, start_sqlite_server

CLI_DOC = REPO / "docs" / "cli.md"


def _bash(script: str, cwd, env) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=180, check=False)


def _builds(api: httpx.Client, service_sid: str) -> dict[str | None, str | None]:
    """Each environment's live build, by domain suffix (None: production)."""
    found = api.get(f"/v1/Services/{service_sid}/Environments").json()["environments"]
    return {e["domain_suffix"]: e["build_sid"] for e in found}


def test_the_deploy_and_promote_examples(tmp_path):
    assert shutil.which("jq"), "docs/cli.md's example needs jq (./scripts/test installs it with apt as root)"
    server = start_sqlite_server(tmp_path / "server")
    try:
        project = tmp_path / f"demo-{uuid.uuid4().hex[:8]}"
        (project / "assets").mkdir(parents=True)
        (project / "assets" / "hello.txt").write_text("hello\n")
        (project / "assets" / "admin.protected.html").write_text("<h1>admin</h1>\n")
        (project / "site" / "assets").mkdir(parents=True)
        (project / "site" / "assets" / "index.html").write_text("<h1>site</h1>\n")
        # `assethost` as a reader has it: the command this checkout installs, first on PATH.
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "assethost").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m assethost "$@"\n')
        (bin_dir / "assethost").chmod(0o755)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "ASSETHOST_"))}
        env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", XDG_CONFIG_HOME=str(tmp_path / "config"),
                   PYTHONPATH=str(REPO / "src"), NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
        exports = f"TWILIO_ACCOUNT_SID={server.account_sid} TWILIO_AUTH_TOKEN={server.auth_token}"

        deploy = doc_block(CLI_DOC, "cli-deploy").replace("TWILIO_ACCOUNT_SID=AC… TWILIO_AUTH_TOKEN=…", exports)
        deployed = _bash(deploy.replace(":8080", f":{server.port}"), project, env)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        counts = json.loads(deployed.stdout[deployed.stdout.rindex("{"):])  # jq .counts, the last command
        assert isinstance(counts, dict) and counts

        with httpx.Client(base_url=server.base_url, auth=(server.account_sid, server.auth_token),
                          trust_env=False) as api:
            services = {s["unique_name"]: s["sid"] for s in api.get("/v1/Services").json()["services"]}
            assert sorted(services) == sorted([project.name, "site"])
            live = _builds(api, services[project.name])
            dev_build = live["dev"]
            assert set(live) == {None, "dev"} and dev_build and live[None]

            promote = "export " + exports + f" ASSETHOST_API_URL={server.base_url}\n"
            promote += doc_block(CLI_DOC, "cli-promote").replace("ZB…", dev_build)
            promoted = _bash(promote, project, env)
            assert promoted.returncode == 0, promoted.stdout + promoted.stderr
            assert _builds(api, services[project.name]) == {"dev": dev_build, None: dev_build, "stage": dev_build}
            (dev,) = [e for e in api.get(f"/v1/Services/{services[project.name]}/Environments").json()["environments"]
                      if e["domain_suffix"] == "dev"]

        # Each line of the sign/fetch example, its exit code after it: the last one expects a 403.
        lines = doc_block(CLI_DOC, "cli-sign").replace("my-site-1234-dev.localhost:8080",
                                                       f"{dev['domain_name']}:{server.port}")
        lines = lines.replace("From=+1555…", "From=+15550001111")
        script = "export " + exports + "\n" + "".join(f'{line}\necho "exit $?"\n' for line in lines.splitlines())
        signed = subprocess.run(["bash", "-c", script], cwd=project, env=env, capture_output=True, text=True,
                                timeout=120, check=False)
        out = signed.stdout.splitlines()
        assert [line for line in out if line.startswith("exit ")] == ["exit 0", "exit 0", "exit 0", "exit 1"], (
            signed.stdout + signed.stderr)
        assert out.count("<h1>admin</h1>") == 2  # the signed GET and the signed POST
    finally:
        server.stop()
