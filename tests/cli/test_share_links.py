"""`assethost share URL --ttl …`: a link that fetches a protected asset without a signature until it
expires, refused (403) after its expiry, after the account's Auth Token rotates, and when any part
of it is changed; TTLs are bounded."""

from __future__ import annotations

import time
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit

from clikit import cli_env, edge_get, run_cli, write_files

from assethost.core import share

WAIT_S = 10


def _path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _deploy_protected(server, tmp_path, env):
    name = f"share-{uuid.uuid4().hex[:8]}"
    root = tmp_path / name
    write_files(root, {"assets/secret.protected.txt": "for your eyes only\n", "assets/open.txt": "open\n"})
    out = run_cli(server, "deploy", ".", "--service-name", name, "--json", cwd=root, env=env).ok().json()
    domain = out["environment"]["domain_name"]
    url = next(f["url"] for f in out["files"] if f["path"] == "/secret.txt")
    return domain, url


def _eventually(check) -> bool:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_a_share_link_works_until_it_expires_and_cannot_be_altered(cli_server, tmp_path):
    domain, url = _deploy_protected(cli_server, tmp_path, None)
    assert edge_get(cli_server, domain, "/secret.txt").status_code == 403
    made = run_cli(cli_server, "share", url, "--ttl", "3s", "--json").ok().json()
    assert made["url"].startswith(url + "?") and made["expires"] <= time.time() + 4
    link = _path_and_query(made["url"])
    got = edge_get(cli_server, domain, link)
    assert (got.status_code, got.text) == (200, "for your eyes only\n")

    params = dict(parse_qsl(urlsplit(made["url"]).query))
    stretched = {**params, "ahExpires": str(int(params["ahExpires"]) + 3600)}
    assert edge_get(cli_server, domain, "/secret.txt?" + urlencode(stretched)).status_code == 403
    forged = {**params, "ahSignature": params["ahSignature"][:-2] + ("AA" if params["ahSignature"][-2:] != "AA" else "BB")}
    assert edge_get(cli_server, domain, "/secret.txt?" + urlencode(forged)).status_code == 403
    text = run_cli(cli_server, "share", url.replace("/secret.txt", "/other.txt"), "--ttl", "1m").ok().stdout.strip()
    moved = "/secret.txt?" + urlsplit(text).query  # a link to another path does not open this one
    assert edge_get(cli_server, domain, moved).status_code == 403

    assert _eventually(lambda: edge_get(cli_server, domain, link).status_code == 403)
    assert time.time() >= made["expires"]


def test_ttls_are_bounded(cli_server):
    url = "http://example.localhost:1/secret.txt"
    for ttl in ("0s", "8d", "15 minutes"):
        res = run_cli(cli_server, "share", url, "--ttl", ttl)
        assert res.returncode == 2 and "--ttl" in res.stderr, (ttl, res.stderr)
    assert run_cli(cli_server, "share", url, "--ttl", "7d").returncode == 0


def test_a_share_link_stops_working_when_the_token_rotates(cli_server, tmp_path):
    account_sid, token = cli_server.create_account()
    env = cli_env(cli_server, TWILIO_ACCOUNT_SID=account_sid, TWILIO_AUTH_TOKEN=token)
    domain, url = _deploy_protected(cli_server, tmp_path, env)
    link = _path_and_query(run_cli(cli_server, "share", url, "--ttl", "15m", env=env).ok().stdout.strip())
    assert edge_get(cli_server, domain, link).status_code == 200
    cli_server.admin("accounts", "rotate-token", "--account", account_sid)
    assert _eventually(lambda: edge_get(cli_server, domain, link).status_code == 403)


def test_a_share_link_works_for_a_path_sent_percent_encoded(cli_server, tmp_path):
    name = f"share-{uuid.uuid4().hex[:8]}"
    root = tmp_path / name
    write_files(root, {"assets/café.protected.txt": "accented\n"})
    out = run_cli(cli_server, "deploy", ".", "--service-name", name, "--json", cwd=root).ok().json()
    domain = out["environment"]["domain_name"]
    url = next(f["url"] for f in out["files"] if f["path"] == "/café.txt")
    link = run_cli(cli_server, "share", url, "--ttl", "1m").ok().stdout.strip()
    assert "/café.txt?" in link
    got = edge_get(cli_server, domain, _path_and_query(link).replace("é", "%C3%A9"))
    assert (got.status_code, got.text) == (200, "accented\n")


def test_the_edge_refuses_a_validly_signed_link_that_lives_too_long(cli_server, tmp_path):
    domain, _ = _deploy_protected(cli_server, tmp_path, None)
    soon = int(time.time()) + 600
    assert edge_get(cli_server, domain, "/secret.txt?" + share.query(cli_server.auth_token, domain, "/secret.txt", soon)).status_code == 200
    far = int(time.time()) + share.MAX_TTL_S + 3600
    assert edge_get(cli_server, domain, "/secret.txt?" + share.query(cli_server.auth_token, domain, "/secret.txt", far)).status_code == 403


def test_a_share_link_opens_only_the_domain_it_was_made_for(cli_server, tmp_path):
    # Two services of one account with the same protected path: one token signs for both.
    domain, url = _deploy_protected(cli_server, tmp_path, None)
    other_domain, _ = _deploy_protected(cli_server, tmp_path, None)
    link = _path_and_query(run_cli(cli_server, "share", url, "--ttl", "15m").ok().stdout.strip())
    assert edge_get(cli_server, domain, link).status_code == 200
    got = edge_get(cli_server, other_domain, link)
    assert (got.status_code, "for your eyes only" in got.text) == (403, False)


def test_an_expiry_in_non_ascii_digits_is_refused(cli_server, tmp_path):
    domain, _ = _deploy_protected(cli_server, tmp_path, None)
    for expires in ("%C2%B2", "%D9%A1" * 10):  # "²" passes str.isdigit() yet int() refuses it; Arabic-Indic digits
        got = edge_get(cli_server, domain, f"/secret.txt?ahExpires={expires}&ahSignature=x")
        assert got.status_code == 403, (expires, got.status_code)
    assert edge_get(cli_server, domain, "/open.txt").status_code == 200  # and the edge still serves
