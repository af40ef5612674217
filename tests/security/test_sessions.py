"""A console cookie is only as good as the sign-in it stands for: after signing out, rotating the
Auth Token or deleting the API key used, a replayed copy of the cookie gets the sign-in page (or
401 from the console's JSON endpoints) and none of the account's data, at once, on every worker.
Real HTTP (httpx) against real servers, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import re
import sqlite3

import httpx
import psycopg
import pytest
from helpers import create_service, uniq
from itsdangerous import URLSafeTimedSerializer
from securitykit import Console


@pytest.fixture
def console_server(server_factory):
    """Two workers: the replay must fail whichever of them it reaches."""
    return server_factory("--workers", "2")


def _service(srv, http_auth=None) -> str:
    with srv.http_client(*(http_auth or ())) as http:
        return create_service(http, uniq("sess"))["unique_name"]


def _cookie(console: Console) -> str:
    return f"assethost_console={console.cookies['assethost_console']}"


def _replay(srv, cookie: str) -> list[httpx.Response]:
    """The stolen cookie, sent from elsewhere (a fresh client each time, so both workers see it):
    a page, and the console's upload endpoint with the CSRF token the cookie's own page shows."""
    answers = []
    for _ in range(6):
        with httpx.Client(base_url=srv.base_url, trust_env=False, timeout=30, headers={"Cookie": cookie}) as thief:
            answers.append(thief.get("/console/services"))
            page = thief.get("/console/signin")  # (no redirects followed: httpx drops the header then)
            if page.status_code == 303:  # still signed in: the services page shows it
                page = thief.get(page.headers["location"])
            csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)[1]
            answers.append(thief.post(f"/console/services/{uniq('x')}/upload", content=b"",
                                      headers={"X-Requested-With": "assethost-console", "X-CSRF-Token": csrf,
                                               "Content-Type": "multipart/form-data; boundary=x"}))
    return answers


def _assert_reads_nothing(srv, cookie: str, secret_name: str) -> None:
    for resp in _replay(srv, cookie):
        assert secret_name not in resp.text
        if resp.request.method == "GET":
            assert resp.status_code == 303 and resp.headers["location"] == "/console/signin?next=/console/services"
        else:
            assert (resp.status_code, resp.json()) == (401, {"message": "Your session has ended: sign in again"})
    with httpx.Client(base_url=srv.base_url, trust_env=False, timeout=30, headers={"Cookie": cookie}) as thief:
        page = thief.get(thief.get("/console/services").headers["location"])
    assert page.status_code == 200 and "<h1>Sign in</h1>" in page.text
    assert secret_name not in page.text


def _signed_in_sees(srv, cookie: str, secret_name: str) -> None:
    """The same replay while the sign-in is valid: the data, and the endpoint past its checks."""
    for resp in _replay(srv, cookie):
        if resp.request.method == "GET":
            assert resp.status_code == 200 and secret_name in resp.text
        else:
            assert resp.status_code == 404, resp.text  # signed in: the made-up service is not found


def test_signed_out_cookie_replayed_reads_nothing(console_server):
    srv = console_server
    name = _service(srv)
    with Console(srv) as console:
        console.sign_in()
        stolen = _cookie(console)
        _signed_in_sees(srv, stolen, name)
        resp = console.post("/console/signout", data={"csrf": console.csrf("/console/services")})
        assert resp.status_code == 303 and resp.headers["location"] == "/console/signin"
    _assert_reads_nothing(srv, stolen, name)


def test_cookie_replayed_after_the_auth_token_rotates_reads_nothing(console_server):
    srv = console_server
    name = _service(srv)
    key_sid, key_secret = srv.create_key()
    with Console(srv) as by_token, Console(srv) as by_key:
        by_token.sign_in()
        by_key.sign_in(key_sid, key_secret)
        token_cookie, key_cookie = _cookie(by_token), _cookie(by_key)
        _signed_in_sees(srv, token_cookie, name)
        new_token = srv.admin("accounts", "rotate-token")["auth_token"]
        _assert_reads_nothing(srv, token_cookie, name)
        _signed_in_sees(srv, key_cookie, name)  # the API key did not change: its session stays
        # the new token signs in again
        with Console(srv) as again:
            again.sign_in(srv.account_sid, new_token)
            _signed_in_sees(srv, _cookie(again), name)


def test_cookie_replayed_after_its_api_key_is_deleted_reads_nothing(console_server):
    srv = console_server
    name = _service(srv)
    key_sid, key_secret = srv.create_key()
    other_sid, other_secret = srv.create_key()
    with Console(srv) as console, Console(srv) as other:
        console.sign_in(key_sid, key_secret)
        other.sign_in(other_sid, other_secret)
        stolen = _cookie(console)
        _signed_in_sees(srv, stolen, name)
        assert srv.admin("keys", "delete", key_sid)["deleted"] is True
        _assert_reads_nothing(srv, stolen, name)
        _signed_in_sees(srv, _cookie(other), name)  # another key's session is untouched
    with Console(srv) as console:  # and the deleted key cannot sign in again
        resp = console.post("/console/signin", data={"csrf": console.csrf(), "username": key_sid,
                                                     "password": key_secret, "next": "/console/services"})
        assert resp.status_code == 401 and name not in resp.text


def _query(srv, sql: str) -> list[tuple]:
    if srv.db_url is None:
        with sqlite3.connect(f"{srv.data_dir}/assethost.sqlite3") as conn:
            return conn.execute(sql).fetchall()
    with psycopg.connect(srv.db_url.replace("+psycopg", "")) as conn:
        return conn.execute(sql).fetchall()


def test_sessions_table_holds_no_token(console_server):
    """What is stored cannot be replayed: the table keys sessions by the token's hash."""
    srv = console_server
    with Console(srv) as console:
        console.sign_in()
        cookie = console.cookies["assethost_console"]
    ((key,),) = _query(srv, "SELECT value FROM settings_kv WHERE key = 'console_session_key'")
    token = URLSafeTimedSerializer(key, salt="assethost.console.session").loads(cookie)["signin"]
    rows = _query(srv, "SELECT * FROM console_sessions")
    assert len(rows) == 1
    stored = " ".join(str(v) for v in rows[0])
    assert hashlib.sha256(token.encode()).hexdigest() in stored
    assert token not in stored and srv.auth_token not in stored
