"""A function is confined to its own build: it reads its own folder and private assets, and
nothing of the server's (its database, other builds' files); a JavaScript one starts no
processes. (The attacks on the sandbox itself are in tests/security/test_sandbox.py.)"""

from __future__ import annotations

import httpx
import pytest
from fnkit import deploy_project

PROBE = """const fs = require('fs');
exports.handler = (context, event, callback) => {
  const tryIt = (f) => { try { f(); return 'allowed'; } catch (e) { return e.code || String(e); } };
  callback(null, {
    own: Runtime.getAssets()['/note.txt'].open(),
    db: tryIt(() => fs.readFileSync(event.db)),
    other: tryIt(() => fs.readFileSync(event.other)),
    spawn: tryIt(() => require('child_process').execSync('true')),
    tmp: tryIt(() => fs.writeFileSync(require('os').tmpdir() + '/scratch.txt', 'x')),
    env: Object.keys(process.env).filter((k) => k.includes('TWILIO') || k.includes('ASSETHOST')),
  });
};
"""


@pytest.fixture(scope="module")
def two_builds(fn_server):
    with httpx.Client(base_url=fn_server.base_url, auth=(fn_server.account_sid, fn_server.auth_token),
                      trust_env=False, timeout=60) as http:
        other = deploy_project(fn_server, http, {"assets/other.private.txt": "other service's secret\n",
                                                 "functions/x.js": "exports.handler=(c,e,cb)=>cb(null,'x');\n"})
        probe = deploy_project(fn_server, http, {"assets/note.private.txt": "mine\n", "functions/probe.js": PROBE})
        yield probe, other


def test_a_function_reads_only_its_own_build(fn_server, two_builds):
    probe, other = two_builds
    data = fn_server.data_dir
    other_file = f"{data}/builds/{other.site.build_sid}/.assethost-build.json"
    resp = probe.site.get("/probe", params={"db": f"{data}/assethost.sqlite3", "other": other_file})
    assert resp.status_code == 200, resp.text
    result = resp.json()
    assert result["own"] == "mine\n"
    assert result["db"] == "ERR_ACCESS_DENIED"
    assert result["other"] == "ERR_ACCESS_DENIED"
    assert result["spawn"] == "ERR_ACCESS_DENIED"
    assert result["tmp"] == "allowed"
    assert result["env"] == []


PY_PROBE = """import json, os, subprocess, tempfile

def handler(context, event):
    def try_it(f):
        try:
            f()
            return "allowed"
        except OSError as e:
            return type(e).__name__
    def write_tmp():
        with open(os.path.join(tempfile.gettempdir(), "scratch.txt"), "w") as f:
            f.write("x")
    return {
        "own": context.assets["/note.txt"].open(),
        "db": try_it(lambda: open(event["db"], "rb").read()),
        "other": try_it(lambda: open(event["other"], "rb").read()),
        "tmp": try_it(write_tmp),
        "json": json.dumps({"ok": 1}),
    }
"""


def test_a_python_function_reads_only_its_own_build(fn_server, two_builds):
    _, other = two_builds
    with httpx.Client(base_url=fn_server.base_url, auth=(fn_server.account_sid, fn_server.auth_token),
                      trust_env=False, timeout=60) as http:
        probe = deploy_project(fn_server, http, {"assets/note.private.txt": "mine too\n",
                                                 "functions/probe.py": PY_PROBE})
    data = fn_server.data_dir
    other_file = f"{data}/builds/{other.site.build_sid}/.assethost-build.json"
    resp = probe.site.get("/probe", params={"db": f"{data}/assethost.sqlite3", "other": other_file})
    assert resp.status_code == 200, resp.text
    result = resp.json()
    assert result["own"] == "mine too\n"
    # The sandbox holds only this build: the server's files are not there at all.
    assert result["db"] == "FileNotFoundError"
    assert result["other"] == "FileNotFoundError"
    assert result["tmp"] == "allowed"
