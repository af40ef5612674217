"""The lives of workers and build folders: a worker near its CPU limit is replaced without failing
a call, a worker whose start outlasts the call that asked for it joins the pool (never left running
outside it), concurrent dependency installs all complete, and a build folder of the layout before
the sandbox is rewritten on its first call."""

from __future__ import annotations

import concurrent.futures
import json
import os
import sqlite3
import time
from pathlib import Path

import psutil
import pytest
from fnkit import build, deploy_project, upload_project
from helpers import assert_error, create_service, uniq
from servers import REPO, Backend, ServerProcess

NPM_CACHE = REPO / ".cache" / "npm-functions"

BUSY_JS = """const me = require('crypto').randomUUID();  // one per worker process
exports.handler = (context, event, callback) => {
  const until = Date.now() + 300;
  while (Date.now() < until) {}  // 0.3 s of CPU
  callback(null, me);
};
"""
BUSY_PY = """import time, uuid
ME = str(uuid.uuid4())  # one per worker process

def handler(context, event):
    until = time.process_time() + 0.3
    while time.process_time() < until:
        pass
    return ME
"""


def _start(tmp_path_factory, name: str, *args: str) -> ServerProcess:
    srv = ServerProcess(Backend("sqlite"), tmp_path_factory.mktemp(name), ["--npm-cache", str(NPM_CACHE), *args])
    try:
        return srv.start()
    except BaseException:
        srv.stop()
        raise


@pytest.fixture(scope="module")
def cpu_limited(tmp_path_factory):
    srv = _start(tmp_path_factory, "cpu", "--function-cpu-seconds", "1")
    yield srv
    srv.stop()


@pytest.mark.parametrize("name, code", [("busy.js", BUSY_JS), ("busy.py", BUSY_PY)])
def test_a_worker_near_its_cpu_limit_is_replaced_without_failing_a_call(cpu_limited, name, code):
    """1 CPU second per worker, 0.3 s per call: every call answers, and new workers take over."""
    with cpu_limited.http_client() as http:
        site = deploy_project(cpu_limited, http, {f"functions/{name}": code}).site
    answers = [site.get("/busy") for _ in range(12)]
    assert [a.status_code for a in answers] == [200] * 12, [a.text for a in answers]
    assert len({a.text for a in answers}) >= 2, "the first worker was never replaced"
    assert "is near its CPU time limit; replacing it" in cpu_limited.log_tail(50000)


def test_a_worker_whose_start_outlasts_its_call_joins_the_pool(tmp_path_factory):
    """Calls time out after 20 ms, before a sandbox can start: they answer 504, and the workers
    started for them become the pool's (two at most), not processes left running beside it."""
    srv = _start(tmp_path_factory, "slowstart", "--function-timeout", "0.02")
    try:
        with srv.http_client() as http:
            site = deploy_project(srv, http, {"functions/hi.py": "def handler(context, event):\n    return 'hi'\n"}).site
        codes = [site.get("/hi").status_code for _ in range(12)]
        assert 504 in codes
        time.sleep(2)  # every start has ended by now
        workers = [p for p in psutil.Process(srv.pid).children(recursive=True)
                   if p.name().startswith("python") and "py_worker.py" in " ".join(p.cmdline())]
        assert 1 <= len(workers) <= 2, workers
    finally:
        srv.stop()


def test_concurrent_dependency_installs_all_complete(fn_server):
    """Four builds with four dependency sets at once (npm installs share one UID)."""
    sets = [[{"name": "is-number", "version": "7.0.0"}], [{"name": "is-number", "version": "6.0.0"}],
            [{"name": "left-pad", "version": "1.3.0"}], [{"name": "isarray", "version": "2.0.5"}]]
    code = "exports.handler = (c, e, cb) => cb(null, 'ok');\n"

    def one(deps: list[dict]) -> str:
        with fn_server.http_client() as http:
            service = create_service(http, uniq("deps"))
            _, functions, _ = upload_project(http, service["sid"], {"functions/x.js": code})
            _, status = build(http, service["sid"], [], functions, json.dumps(deps))
            return status

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert list(pool.map(one, sets)) == ["completed"] * 4


def test_a_build_folder_of_the_old_layout_is_rewritten(tmp_path_factory):
    """Folders written before the sandbox named their dependencies by a symlink into the data
    folder, which leads nowhere inside a sandbox; such a folder is replaced on the next call."""
    srv = _start(tmp_path_factory, "upgrade")
    try:
        code = "const isNumber = require('is-number');\nexports.handler = (c, e, cb) => cb(null, [isNumber(5)]);\n"
        with srv.http_client() as http:
            deployed = deploy_project(srv, http, {"functions/old.js": code},
                                      dependencies=json.dumps([{"name": "is-number", "version": "7.0.0"}]))
        folder = Path(srv.data_dir) / "builds" / deployed.site.build_sid
        assert deployed.site.get("/old").json() == [True]
        srv.stop()
        manifest_file = folder / ".assethost-build.json"
        manifest = json.loads(manifest_file.read_text())
        key = manifest.pop("dependencies")
        os.chmod(manifest_file, 0o644)
        manifest_file.write_text(json.dumps(manifest))  # the manifest as the old layout wrote it
        (folder / "node_modules").symlink_to(Path(srv.data_dir) / "deps" / key / "node_modules")
        srv.start()
        assert deployed.site.get("/old").json() == [True]
        assert json.loads(manifest_file.read_text())["dependencies"] == key
        assert not (folder / "node_modules").is_symlink()
    finally:
        srv.stop()


def test_workers_are_capped_per_server_process(tmp_path_factory):
    """--function-max-workers 2: a third build's call closes the least recently used idle pool;
    while both workers are busy, it answers 503 instead of starting a third."""
    srv = _start(tmp_path_factory, "capped", "--function-max-workers", "2")
    slow = "exports.handler = (c, e, cb) => setTimeout(() => cb(null, 'slow'), Number(e.ms || 0));\n"
    try:
        with srv.http_client() as http:
            sites = [deploy_project(srv, http, {"functions/s.js": slow}).site for _ in range(3)]

        def workers() -> int:
            return len([p for p in psutil.Process(srv.pid).children(recursive=True)
                        if p.name() == "node" and "node_worker.js" in " ".join(p.cmdline())])

        for site in sites:
            assert site.get("/s").text == "slow"
            assert workers() <= 2
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            busy = [pool.submit(site.get, "/s", params={"ms": "3000"}) for site in sites[:2]]
            time.sleep(1.0)
            resp = sites[2].get("/s")
            assert resp.status_code == 503, resp.text
            assert resp.headers["retry-after"] == "1"
            assert "runs 2 function workers, all busy" in resp.json()["message"]
            assert [f.result().text for f in busy] == ["slow", "slow"]
        assert sites[2].get("/s").text == "slow"
    finally:
        srv.stop()


def test_an_account_has_at_most_five_builds_in_progress(fn_server):
    """Packaging runs a few builds at a time, on threads of its own; an account may not queue more
    than five (their npm installs would keep every other account's builds waiting)."""
    sid, token = fn_server.create_account()
    with fn_server.http_client(sid, token) as http:
        service = create_service(http, uniq("many"))
        _, functions, _ = upload_project(http, service["sid"], {"functions/x.js": "exports.handler=(c,e,cb)=>cb();\n"})
        made = [build(http, service["sid"], [], functions)[0]["sid"] for _ in range(5)]
        with sqlite3.connect(Path(fn_server.data_dir) / "assethost.sqlite3") as db:  # as if still installing
            db.executemany("UPDATE builds SET status = 'building' WHERE sid = ?", [(s,) for s in made])
        resp = http.post(f"/v1/Services/{service['sid']}/Builds", data={"FunctionVersions": functions})
        assert_error(resp, 429, 20429, "5 builds in progress")
        with sqlite3.connect(Path(fn_server.data_dir) / "assethost.sqlite3") as db:
            db.execute("UPDATE builds SET status = 'completed' WHERE sid = ?", (made[0],))
        assert http.post(f"/v1/Services/{service['sid']}/Builds", data={"FunctionVersions": functions}).status_code == 201
