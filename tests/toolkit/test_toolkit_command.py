"""`assethost toolkit -- …` runs the real twilio-run (5.0.1) against assethost with nothing set by
hand: the preload and the API's address come from the command, the credentials from the same
TWILIO_* variables as every other command."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

from clikit import cli_env, edge_get, write_files

TIMEOUT_S = 120


def _toolkit(server, cwd, env, *args):
    return subprocess.run([sys.executable, "-m", "assethost", "toolkit", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


def test_deploy_and_list_through_the_command(twilio_run, toolkit_server, tmp_path):
    server = toolkit_server
    name = f"tkc-{uuid.uuid4().hex[:10]}"
    write_files(tmp_path, {
        "assets/hello.txt": "hello from the toolkit\n",
        "package.json": json.dumps({"name": name, "version": "1.0.0"}),
    })
    env = cli_env(server, NO_UPDATE_NOTIFIER="1", FORCE_COLOR="0")
    env.pop("NODE_OPTIONS", None)

    deployed = _toolkit(server, tmp_path, env, "--twilio-run", str(twilio_run), "--",
                        "deploy", "--service-name", name, "--override-existing-project", "-o", "json")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    result = json.loads(deployed.stdout)
    assert (result["serviceName"], [a["path"] for a in result["assets"]]) == (name, ["/hello.txt"])
    assert edge_get(server, result["domain"], "/hello.txt").text == "hello from the toolkit\n"

    listed = _toolkit(server, tmp_path, env, "--twilio-run", str(twilio_run), "--",
                      "list", "services", "-o", "json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert name in [s["unique_name"] for s in json.loads(listed.stdout)["services"]]


def test_without_twilio_run_it_says_how_to_get_it(toolkit_server, tmp_path):
    env = cli_env(toolkit_server, PATH="/nonexistent")
    done = _toolkit(toolkit_server, tmp_path, env, "--", "deploy")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "Error: twilio-run is not on PATH: install it (npm install -g twilio-run@5) or pass --twilio-run PATH")
