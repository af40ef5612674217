"""The README's walkthroughs run as written, against a real server: each block marked
`<!-- tested: NAME -->` is taken from README.md, with only what a reader fills in replaced (the
credentials `serve` printed, and port 8080 by the test server's port), and must take a file from
disk to its URL on the environment's domain."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from helpers import doc_block
from servers import REPO, start_sqlite_server

README = REPO / "README.md"
AUDIO = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 40  # any bytes: the edge serves them as they are


def block(name: str) -> str:
    return doc_block(README, name)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_sqlite_server(tmp_path_factory.mktemp("readme"))
    yield srv
    srv.stop()


def _as_run_here(text: str, server) -> str:
    text = text.replace(":8080", f":{server.port}")
    return text.replace("TWILIO_ACCOUNT_SID=AC… TWILIO_AUTH_TOKEN=…",
                        f"TWILIO_ACCOUNT_SID={server.account_sid} TWILIO_AUTH_TOKEN={server.auth_token}")


def _folder_with_audio(tmp_path: Path) -> Path:
    (tmp_path / "ahoy.mp3").write_bytes(AUDIO)
    return tmp_path


def _env(server) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    env.update(TWILIO_ACCOUNT_SID=server.account_sid, TWILIO_AUTH_TOKEN=server.auth_token,
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    return env


def _served(server, url: str) -> bytes:
    """GET the URL printed, by the environment's Host on the server's port (as curl would)."""
    found = re.fullmatch(rf"http://([a-z0-9-]+\.localhost):{server.port}(/ahoy\.mp3)", url)
    assert found, url
    answer = httpx.get(f"{server.base_url}{found.group(2)}", headers={"Host": f"{found.group(1)}:{server.port}"})
    assert answer.status_code == 200
    return answer.content


def test_the_curl_walkthrough_serves_the_file(server, tmp_path):
    assert shutil.which("curl"), "the README's walkthrough needs curl (./scripts/test installs it with apt as root)"
    script = _as_run_here(block("readme-curl"), server)
    folder = _folder_with_audio(tmp_path)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=folder, env=_env(server),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    (line,) = done.stdout.splitlines()
    url = line.removeprefix("served at ")
    assert re.fullmatch(rf"http://demo-\d{{4}}-dev\.localhost:{server.port}/ahoy\.mp3", url), line
    assert (folder / "served.mp3").read_bytes() == AUDIO
    assert _served(server, url) == AUDIO


def test_the_python_walkthrough_serves_the_file(server, tmp_path):
    script = _as_run_here(block("readme-python"), server)
    done = subprocess.run([sys.executable, "-c", script], cwd=_folder_with_audio(tmp_path), env=_env(server),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    (url,) = done.stdout.splitlines()
    assert re.fullmatch(rf"http://hello-\d{{4}}\.localhost:{server.port}/ahoy\.mp3", url), url
    assert _served(server, url) == AUDIO
