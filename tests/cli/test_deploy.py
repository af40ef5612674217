"""`assethost deploy` and the commands around it, run as a subprocess against a real server."""

from __future__ import annotations

import io
import time
import uuid
from pathlib import Path

import httpx
import pytest
from clikit import cli_env, edge_get, edge_url, run_cli, start_server, write_files
from twilio.request_validator import RequestValidator

SAMPLE = {
    "assets/style.css": "body { color: red; }\n",
    "assets/img/logo.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
    "assets/admin.protected.html": "<h1>admin only</h1>\n",
    "assets/secret.private.txt": "private stuff\n",
    "assets/assets/index.html": "<h1>home</h1>\n",
    "assets/nested/deeper/page.html": "<p>deep</p>\n",
    "assets/my file.txt": "spaces\n",
    "assets/.gitkeep": "",
    "functions/hello.js": "exports.handler = (c, e, cb) => cb(null, 'hi');\n",
    "package.json": '{"name": "ignored-because-of-flag", "dependencies": {"@twilio/runtime-handler": "2.1.0"}}',
    ".env": "ACCOUNT_SID=ACxxx\nAUTH_TOKEN=yyy\nMY_VAR=hello\n",
}
SAMPLE_FILES = 8  # .gitkeep is skipped, package.json and .env are not deployed


def _uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _api(server) -> httpx.Client:
    return server.http_client()


def _versions(server, zs: str) -> list[dict]:
    with _api(server) as http:
        return http.get(f"/assethost/v1/Services/{zs}/Versions", params={"PageSize": 1000}).json()["versions"]


def _builds(server, zs: str) -> list[dict]:
    with _api(server) as http:
        return http.get(f"/v1/Services/{zs}/Builds", params={"PageSize": 1000}).json()["builds"]


class Project:
    """A sample project folder deployed under its own service name."""

    def __init__(self, server, root: Path, name: str) -> None:
        self.server, self.root, self.name = server, root, name

    def cli(self, *args: str, **kw):
        return run_cli(self.server, *args, cwd=self.root, **kw)

    def deploy(self, *args: str, ok: bool = True):
        res = self.cli("deploy", ".", "--service-name", self.name, "--json", *args)
        return res.ok().json() if ok else res


@pytest.fixture(scope="module")
def project(cli_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    write_files(root, SAMPLE)
    p = Project(cli_server, root, _uniq("site"))
    p.first = p.deploy()
    return p


# --- first deploy and the edge --------------------------------------------------------------------


def test_first_deploy_uploads_everything(project):
    r = project.first
    c = r["counts"]
    assert c["files"] == SAMPLE_FILES
    assert (c["uploaded"], c["reused"], c["linked"]) == (SAMPLE_FILES, 0, 0)
    assert c["resources_created"] == SAMPLE_FILES
    assert r["changed"] and r["build_sid"].startswith("ZB") and r["previous_build_sid"] is None
    assert r["service"]["created"] and r["environment"]["created"]
    assert r["environment"]["domain_suffix"] == "dev"
    assert r["environment"]["domain_name"].endswith("-dev.localhost")
    by_path = {f["path"]: f for f in r["files"]}
    assert by_path["/my-file.txt"]["file"] == "assets/my file.txt"
    assert by_path["/admin.html"]["visibility"] == "protected"
    assert by_path["/secret.txt"]["url"] is None
    assert by_path["/hello"]["kind"] == "function" and by_path["/hello"]["url"].endswith("/hello")
    domain = r["environment"]["domain_name"]
    assert by_path["/style.css"]["url"] == edge_url(project.server, domain, "/style.css")


def test_edge_serves_the_deployed_files(project):
    server, domain = project.server, project.first["environment"]["domain_name"]
    for path, rel in [("/style.css", "assets/style.css"), ("/img/logo.png", "assets/img/logo.png"),
                      ("/nested/deeper/page.html", "assets/nested/deeper/page.html"),
                      ("/my-file.txt", "assets/my file.txt"), ("/assets/index.html", "assets/assets/index.html"),
                      ("/", "assets/assets/index.html")]:
        resp = edge_get(server, domain, path)
        assert resp.status_code == 200, (path, resp.text)
        assert resp.content == (project.root / rel).read_bytes(), path
    assert edge_get(server, domain, "/secret.txt").status_code == 404
    assert edge_get(server, domain, "/.gitkeep").status_code == 404
    assert edge_get(server, domain, "/admin.html").status_code == 403
    url = edge_url(server, domain, "/admin.html")
    sig = RequestValidator(server.auth_token).compute_signature(url, {})
    resp = edge_get(server, domain, "/admin.html", {"X-Twilio-Signature": sig})
    assert resp.status_code == 200 and resp.text == "<h1>admin only</h1>\n"


def test_env_file_becomes_variables_and_package_json_dependencies(project):
    zs, ze = project.first["service"]["sid"], project.first["environment"]["sid"]
    with _api(project.server) as http:
        variables = http.get(f"/v1/Services/{zs}/Environments/{ze}/Variables").json()["variables"]
        build = http.get(f"/v1/Services/{zs}/Builds/{project.first['build_sid']}").json()
    assert {v["key"]: v["value"] for v in variables} == {"MY_VAR": "hello"}
    assert build["dependencies"] == [{"name": "@twilio/runtime-handler", "version": "2.1.0"}]
    assert len(build["asset_versions"]) == SAMPLE_FILES - 1 and len(build["function_versions"]) == 1


# --- redeploys: only what changed ----------------------------------------------------------------


def test_unchanged_redeploy_uploads_nothing_and_builds_nothing(project):
    zs = project.first["service"]["sid"]
    versions, builds = len(_versions(project.server, zs)), len(_builds(project.server, zs))
    r = project.deploy()
    assert r["counts"]["uploaded"] == 0 and r["counts"]["linked"] == 0
    assert r["counts"]["reused"] == SAMPLE_FILES and r["counts"]["resources_created"] == 0
    assert r["changed"] is False and r["build_sid"] == project.first["build_sid"]
    assert len(_versions(project.server, zs)) == versions
    assert len(_builds(project.server, zs)) == builds
    text = project.cli("deploy", "--service-name", project.name).ok().stdout
    assert "Nothing changed" in text and "0 uploaded" in text


def test_a_changed_env_file_alone_reaches_the_functions_without_a_build(cli_server, tmp_path):
    greet = "exports.handler = (context, event, callback) => callback(null, String(context.GREETING));\n"
    write_files(tmp_path, {"functions/greet.js": greet, ".env": "GREETING=hello\n"})
    name = _uniq("vars")
    first = run_cli(cli_server, "deploy", str(tmp_path), "-n", name, "--json").ok().json()
    domain = first["environment"]["domain_name"]
    assert edge_get(cli_server, domain, "/greet").text == "hello"
    (tmp_path / ".env").write_text("GREETING=bonjour\n")
    text = run_cli(cli_server, "deploy", str(tmp_path), "-n", name).ok().stdout
    assert "variable GREETING updated" in text
    assert f"already runs build {first['build_sid']}; no new build." in text and "Nothing changed" in text
    deadline = time.monotonic() + 1.5  # the server's edge reloads on the variable's change
    while (answer := edge_get(cli_server, domain, "/greet").text) != "bonjour" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert answer == "bonjour"


def test_dry_run_changes_nothing(project):
    zs = project.first["service"]["sid"]
    (project.root / "assets/new.txt").write_text("new file\n")
    (project.root / "assets/nested/deeper/page.html").write_text("<p>changed</p>\n")
    (project.root / ".env").write_text("MY_VAR=changed\nOTHER=1\n")
    try:
        before = (_versions(project.server, zs), _builds(project.server, zs))
        r = project.deploy("--dry-run")
        assert r["dry_run"] is True and r["changed"] is True
        actions = {f["path"]: f["action"] for f in r["files"]}
        assert actions["/new.txt"] == "upload" and actions["/nested/deeper/page.html"] == "upload"
        assert r["counts"]["uploaded"] == 2 and r["counts"]["reused"] == SAMPLE_FILES - 1
        assert r["counts"]["resources_created"] == 1
        assert r["variables"] == {"created": ["OTHER"], "updated": ["MY_VAR"]}
        text = project.cli("deploy", "--service-name", project.name, "--dry-run").ok().stdout
        assert "upload  public    /new.txt  <- assets/new.txt" in text
        assert "dry run" in text
        assert (_versions(project.server, zs), _builds(project.server, zs)) == before
        with _api(project.server) as http:
            assets = http.get(f"/v1/Services/{zs}/Assets").json()["assets"]
            env = http.get(f"/v1/Services/{zs}/Environments/{r['environment']['sid']}/Variables").json()
        assert "/new.txt" not in {a["friendly_name"] for a in assets}
        assert {v["key"]: v["value"] for v in env["variables"]} == {"MY_VAR": "hello"}
    finally:
        (project.root / "assets/new.txt").unlink()
        (project.root / "assets/nested/deeper/page.html").write_text(SAMPLE["assets/nested/deeper/page.html"])
        (project.root / ".env").write_text(SAMPLE[".env"])


def test_changing_one_file_uploads_exactly_one(project):
    zs = project.first["service"]["sid"]
    versions = len(_versions(project.server, zs))
    (project.root / "assets/style.css").write_text("body { color: blue; }\n")
    r = project.deploy()
    assert r["counts"]["uploaded"] == 1 and r["counts"]["reused"] == SAMPLE_FILES - 1
    assert r["counts"]["uploaded_bytes"] == len("body { color: blue; }\n")
    assert [f["path"] for f in r["files"] if f["action"] == "upload"] == ["/style.css"]
    assert r["changed"] and r["build_sid"] != project.first["build_sid"]
    assert r["previous_build_sid"] == project.first["build_sid"]
    assert len(_versions(project.server, zs)) == versions + 1
    with _api(project.server) as http:
        build = http.get(f"/v1/Services/{zs}/Builds/{r['build_sid']}").json()
    assert len(build["asset_versions"]) + len(build["function_versions"]) == SAMPLE_FILES  # lists every file
    domain = r["environment"]["domain_name"]
    assert edge_get(project.server, domain, "/style.css").text == "body { color: blue; }\n"
    project.second = r


def test_removed_file_leaves_the_build(project):
    (project.root / "assets/my file.txt").unlink()
    try:
        r = project.deploy()
        assert r["removed"] == ["/my-file.txt"] and r["counts"]["uploaded"] == 0 and r["changed"]
        assert edge_get(project.server, r["environment"]["domain_name"], "/my-file.txt").status_code == 404
        # putting it back reuses the old version: nothing is uploaded
        (project.root / "assets/my file.txt").write_text(SAMPLE["assets/my file.txt"])
        r = project.deploy()
        assert r["counts"]["uploaded"] == 0 and r["counts"]["reused"] == SAMPLE_FILES and r["changed"]
        assert edge_get(project.server, r["environment"]["domain_name"], "/my-file.txt").status_code == 200
    finally:
        write_files(project.root, {"assets/my file.txt": SAMPLE["assets/my file.txt"]})


# --- promote, rollback, list ----------------------------------------------------------------------


def test_promote_to_production(project):
    res = project.cli("promote", "--service-name", project.name, "--from", "dev", "--to", "production", "--json")
    assert res.returncode == 1 and "--create" in res.stderr
    r = project.cli("promote", "--service-name", project.name, "--from", "dev", "--to", "production",
                    "--create", "--json").ok().json()
    assert r["changed"] and r["environment"] == "production" and r["environment_created"]
    assert not r["domain_name"].endswith("-dev.localhost")
    dev = project.cli("list", "--service-name", project.name, "--json").ok().json()["services"][0]
    dev_build = next(e for e in dev["environments"] if e["domain_suffix"] == "dev")["build_sid"]
    assert r["build_sid"] == dev_build
    # the same bytes as dev serves (which they are depends on the tests of this module run before)
    dev_domain = project.first["environment"]["domain_name"]
    for path in ("/style.css", "/my-file.txt"):
        live, promoted = edge_get(project.server, dev_domain, path), edge_get(project.server, r["domain_name"], path)
        assert (promoted.status_code, promoted.content) == (live.status_code, live.content), path
    again = project.cli("promote", "-n", project.name, "--from", "dev", "--to", "prod").ok()
    assert "Nothing changed" in again.stdout


def test_promote_from_an_environment_with_nothing_deployed(cli_server):
    name = _uniq("empty")
    with cli_server.http_client() as http:
        zs = http.post("/v1/Services", data={"UniqueName": name, "FriendlyName": name}).json()["sid"]
        assert http.post(f"/v1/Services/{zs}/Environments",
                         data={"UniqueName": "stage", "DomainSuffix": "stage"}).status_code == 201
        res = run_cli(cli_server, "promote", "-n", name, "--from", "stage", "--to", "production", "--create")
        assert res.returncode == 1, res
        assert "environment stage has nothing deployed to promote" in res.stderr
        # refused before the target was created
        assert [e["unique_name"] for e in http.get(f"/v1/Services/{zs}/Environments").json()["environments"]] == [
            "stage"]


def test_rollback_redeploys_the_previous_build(project):
    listing = project.cli("list", "--service-name", project.name, "--environment", "dev", "--json").ok().json()
    env = listing["services"][0]["environments"][0]
    current = env["build_sid"]
    r = project.cli("rollback", "--service-name", project.name, "--environment", "dev", "--json").ok().json()
    assert r["previous_build_sid"] == current and r["build_sid"] != current and r["changed"]
    assert edge_get(project.server, env["domain_name"], "/my-file.txt").status_code == 404  # the build without it
    # and back (rollback toggles between the last two builds)
    r2 = project.cli("rollback", "-n", project.name, "--json").ok().json()
    assert r2["build_sid"] == current
    assert edge_get(project.server, env["domain_name"], "/my-file.txt").status_code == 200


def test_list_shows_services_environments_builds_and_urls(project):
    data = project.cli("list", "--service-name", project.name, "--json").ok().json()
    (service,) = data["services"]
    assert service["unique_name"] == project.name
    envs = {e["unique_name"]: e for e in service["environments"]}
    assert set(envs) == {"dev-environment", "production"}
    files = {f["path"]: f for f in envs["dev-environment"]["files"]}
    assert files["/style.css"]["url"] == edge_url(project.server, envs["dev-environment"]["domain_name"], "/style.css")
    assert files["/secret.txt"]["url"] is None
    assert len(service["builds"]) >= 4
    assert any("dev-environment" in b["live_in"] for b in service["builds"])
    text = project.cli("list", "-n", project.name).ok().stdout
    assert f"service {project.name}" in text and "/admin.html" in text
    everything = project.cli("list", "--no-builds", "--json").ok().json()
    assert project.name in {s["unique_name"] for s in everything["services"]}


# --- sign, fetch, usage --------------------------------------------------------------------------


def test_sign_and_fetch_protected_asset(project):
    server, domain = project.server, project.first["environment"]["domain_name"]
    url = edge_url(server, domain, "/admin.html")
    sig = project.cli("sign", url).ok().stdout.strip()
    assert sig == RequestValidator(server.auth_token).compute_signature(url, {})
    post_sig = project.cli("sign", url, "--param", "b=2", "--param", "a=1").ok().stdout.strip()
    assert post_sig == RequestValidator(server.auth_token).compute_signature(url, {"a": "1", "b": "2"})
    res = project.cli("fetch", url).ok()
    assert res.stdout.startswith("HTTP/1.1 200") and "<h1>admin only</h1>" in res.stdout
    res = project.cli("fetch", url, "--param", "From=+15550001111").ok()  # signed POST
    assert res.stdout.startswith("HTTP/1.1 200")
    res = project.cli("fetch", url, "--unsigned")
    assert res.returncode == 1 and res.stdout.startswith("HTTP/1.1 403")
    res = project.cli("fetch", url, "--json").ok().json()
    assert res["status"] == 200 and res["body"] == "<h1>admin only</h1>\n"


def test_usage_counts_edge_requests(project):
    server, domain = project.server, project.first["environment"]["domain_name"]
    before = project.cli("usage", "--json").ok().json()
    n = 7
    for _ in range(n):
        assert edge_get(server, domain, "/style.css").status_code == 200
    after = project.cli("usage", "--json").ok().json()
    assert after["requests"] - before["requests"] == n
    assert after["account_sid"] == server.account_sid
    text = project.cli("usage").ok().stdout
    assert "requests:" in text and "cost:" in text
    assert project.cli("usage", "--month", "2020-13").returncode == 2


# --- errors ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("cli-limited"), "--max-public-bytes", "1000",
                       "--max-public-versions", "3")
    yield srv
    srv.stop()


def test_file_over_the_limit_is_named_and_a_rerun_resumes(limited, tmp_path):
    """Through the standard API (file by file), what a failed run uploaded is reused by the next;
    a bulk deploy is refused whole (tests/cli/test_bulk_cli.py)."""
    write_files(tmp_path, {"assets/a.txt": "a", "assets/b.txt": "b", "assets/big.bin": b"x" * 2000})
    name = _uniq("big")
    res = run_cli(limited, "deploy", str(tmp_path), "-n", name, "--no-bulk")
    assert res.returncode == 1
    assert "assets/big.bin" in res.stderr and "1000 bytes" in res.stderr and "413" in res.stderr, res.stderr
    # shrink it and run again: what the failed run uploaded is reused
    (tmp_path / "assets/big.bin").write_bytes(b"x" * 999)
    r = run_cli(limited, "deploy", str(tmp_path), "-n", name, "--json", "--no-bulk").ok().json()
    assert r["counts"]["uploaded"] == 1 and r["counts"]["reused"] == 2
    assert r["counts"]["resources_created"] == 0


def test_too_many_files_for_a_build(limited, tmp_path):
    write_files(tmp_path, {f"assets/f{i}.txt": str(i) for i in range(4)})
    res = run_cli(limited, "deploy", str(tmp_path), "-n", _uniq("many"), "--json")
    assert res.returncode == 1
    assert "at most 3 public asset versions" in res.stderr and "this one has 4" in res.stderr
    assert "at most 3 public asset versions" in res.json()["error"]
    assert (res.json()["status"], res.json()["code"]) == (400, 20001)


def test_invalid_path_fails_before_any_request(cli_server, tmp_path):
    write_files(tmp_path, {"assets/ok.txt": "ok", "assets/styles(1).css": "x"})
    name = _uniq("badpath")
    res = run_cli(cli_server, "deploy", str(tmp_path), "-n", name)
    assert res.returncode == 1
    assert "assets/styles(1).css" in res.stderr and "cannot contain" in res.stderr
    with cli_server.http_client() as http:
        names = {s["unique_name"] for s in http.get("/v1/Services", params={"PageSize": 1000}).json()["services"]}
    assert name not in names


def test_empty_project_and_bad_credentials(cli_server, tmp_path):
    res = run_cli(cli_server, "deploy", str(tmp_path), "-n", _uniq("empty"))
    assert res.returncode == 1 and "nothing to deploy" in res.stderr
    write_files(tmp_path, {"assets/a.txt": "a"})
    env = cli_env(cli_server, TWILIO_AUTH_TOKEN="wrong")
    res = run_cli(cli_server, "deploy", str(tmp_path), "-n", _uniq("auth"), env=env)
    assert res.returncode == 1 and "401" in res.stderr
    env = cli_env(cli_server)
    del env["TWILIO_ACCOUNT_SID"], env["TWILIO_AUTH_TOKEN"]
    env["XDG_CONFIG_HOME"] = str(tmp_path / "no-login")  # not this user's saved login either
    res = run_cli(cli_server, "list", env=env, cwd=tmp_path)
    assert res.returncode == 2 and "No credentials" in res.stderr


def test_api_key_credentials_and_production_flag(cli_server, tmp_path):
    key_sid, secret = cli_server.create_key()
    env = cli_env(cli_server, TWILIO_API_KEY=key_sid, TWILIO_API_SECRET=secret)
    del env["TWILIO_AUTH_TOKEN"]
    write_files(tmp_path, {"static/hello.txt": "hello\n", "package.json": f'{{"name": "key-site-{uuid.uuid4().hex[:8]}"}}'})
    r = run_cli(cli_server, "deploy", str(tmp_path), "--production", "--json", env=env).ok().json()
    assert r["environment"]["unique_name"] == "production" and r["environment"]["domain_suffix"] is None
    assert r["service"]["unique_name"].startswith("key-site-")
    assert edge_get(cli_server, r["environment"]["domain_name"], "/hello.txt").text == "hello\n"
    # signing needs the auth token, which an API key does not have
    res = run_cli(cli_server, "sign", "http://x.localhost/a", env=env)
    assert res.returncode == 2 and "Auth Token" in res.stderr


# --- in process: the progress display and the link-by-hash path -----------------------------------


def test_progress_bar_and_linking_known_content(cli_server, tmp_path):
    from rich.console import Console

    from assethost.cli.client import Client
    from assethost.cli.deploy import Deployer
    from assethost.cli.progress import RichReporter
    from assethost.cli.project import scan
    from assethost.cli.targets import parse_environment

    big = bytes(range(256)) * 400  # 100 KiB: over LINK_MIN_BYTES
    write_files(tmp_path / "one", {"assets/a.bin": big, "assets/b.txt": "b"})
    write_files(tmp_path / "two", {"assets/copy.bin": big})
    out = io.StringIO()
    reporter = RichReporter(Console(file=out, force_terminal=True, width=120))
    with Client(cli_server.base_url, cli_server.account_sid, cli_server.auth_token) as client:
        first = Deployer(client, scan(tmp_path / "one"), _uniq("prog"), parse_environment("dev"), reporter).run()
        # the same bytes in another service: created from the stored content, nothing uploaded
        second = Deployer(client, scan(tmp_path / "two"), _uniq("prog2"), parse_environment("dev"), reporter).run()
    assert first.count("upload") == 2
    assert second.count("link") == 1 and second.count("upload") == 0 and second.uploaded_bytes == 0
    shown = out.getvalue()
    assert "uploading" in shown and "2/2 files" in shown and "hashing 2 files" in shown
