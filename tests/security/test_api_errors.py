"""Bad list parameters and bugs answer Twilio's JSON error body, on SQLite and PostgreSQL: a huge
`Page` (which overflowed the databases' 64-bit offsets into a 500) is a 400 naming it on every
list, and an unexpected error is Twilio's 500 body on a connection that stays usable."""

from __future__ import annotations

import base64
import socket

import psycopg
import pytest
from helpers import (
    asset_with_version,
    completed_build,
    create_environment,
    create_function,
    create_service,
    deploy,
)

HUGE = "576460752303423488"
TWILIO_500 = {"code": 20500, "message": "Internal Server Error",
              "more_info": "https://www.twilio.com/docs/errors/20500", "status": 500}


def _invalid(message: str) -> dict:
    return {"code": 20001, "message": message, "more_info": "https://www.twilio.com/docs/errors/20001",
            "status": 400}


@pytest.fixture(scope="module")
def lists(server):
    """Every list of the API, with something in it."""
    with server.http_client() as http:
        service = create_service(http)["sid"]
        asset, version = asset_with_version(http, service)
        function = create_function(http, service)["sid"]
        build = completed_build(http, service, [version["sid"]])["sid"]
        env = create_environment(http, service)["sid"]
        assert deploy(http, service, env, build).status_code == 201
        assert http.post(f"/v1/Services/{service}/Environments/{env}/Variables",
                         data={"Key": "K", "Value": "V"}).status_code == 201
    s = f"/v1/Services/{service}"
    return {"service": service, "build": build, "paths": [
        "/v1/Services", f"{s}/Assets", f"{s}/Functions", f"{s}/Assets/{asset['sid']}/Versions",
        f"{s}/Functions/{function}/Versions", f"{s}/Builds", f"{s}/Environments",
        f"{s}/Environments/{env}/Deployments", f"{s}/Environments/{env}/Variables",
        f"{s}/Environments/{env}/Logs", f"/assethost/v1/Services/{service}/Versions",
    ]}


def test_huge_page_is_400_naming_it_on_every_list(http, lists):
    for path in lists["paths"]:
        resp = http.get(path, params={"Page": HUGE})
        assert resp.status_code == 400, (path, resp.status_code, resp.text)
        assert resp.json() == _invalid(f"Page must be between 0 and {2**62 // 50} with PageSize 50 (got {HUGE})")
        resp = http.get(path, params={"Page": HUGE, "PageSize": "1000"})
        assert resp.json() == _invalid(f"Page must be between 0 and {2**62 // 1000} with PageSize 1000 (got {HUGE})")
        # the last page that can be asked for is an ordinary empty page
        resp = http.get(path, params={"Page": str(2**62 // 1000), "PageSize": "1000"})
        assert resp.status_code == 200, (path, resp.text)
        assert resp.json()["meta"]["page_size"] == 1000


@pytest.mark.parametrize(("params", "message"), [
    ({"PageSize": "-1"}, "PageSize must be between 1 and 1000 (got -1)"),
    ({"PageSize": "0"}, "PageSize must be between 1 and 1000 (got 0)"),
    ({"PageSize": "1001"}, "PageSize must be between 1 and 1000 (got 1001)"),
    ({"PageSize": HUGE * 3}, f"PageSize must be between 1 and 1000 (got {HUGE * 3})"),
    ({"PageSize": "ten"}, "PageSize must be an integer (got 'ten')"),
    ({"PageSize": "5_0"}, "PageSize must be an integer (got '5_0')"),
    ({"PageSize": "١٠"}, "PageSize must be an integer (got '١٠')"),
    ({"PageSize": "9" * 5000}, "PageSize is too large (got a number of 5000 digits)"),
    ({"Page": "9" * 101}, "Page is too large (got a number of 101 digits)"),
    ({"PageSize": "x" * 100}, f"PageSize must be an integer (got {'x' * 40!r})"),
    ({"Page": "-1"}, f"Page must be between 0 and {2**62 // 50} with PageSize 50 (got -1)"),
    ({"Page": "1.5"}, "Page must be an integer (got '1.5')"),
    ({"Page": " 1"}, "Page must be an integer (got ' 1')"),
    ({"PageToken": "PA" + "9" * 19}, f"Invalid PageToken {'PA' + '9' * 19!r}"),
])
def test_bad_paging_parameters_are_400(http, lists, params, message):
    for path in lists["paths"]:
        resp = http.get(path, params=params)
        assert resp.json() == _invalid(message), (path, resp.text)


def test_logs_with_the_earliest_dates_are_a_list(http, lists):
    path = next(p for p in lists["paths"] if p.endswith("/Logs"))
    for params in ({"EndDate": "0001-01-01T00:00:00Z"}, {"StartDate": "0001-01-01", "EndDate": "0001-01-01"}):
        resp = http.get(path, params=params)
        assert resp.status_code == 200, resp.text
        assert resp.json()["logs"] == []


def _corrupt_build(server, build_sid: str) -> None:
    """What a bug (or a hand-edited row) looks like: stored Dependencies that are not JSON."""
    if server.db_url is None:
        import sqlite3

        with sqlite3.connect(f"{server.data_dir}/assethost.sqlite3") as conn:
            conn.execute("UPDATE builds SET dependencies = 'not json' WHERE sid = ?", (build_sid,))
    else:
        with psycopg.connect(server.db_url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute("UPDATE builds SET dependencies = 'not json' WHERE sid = %s", (build_sid,))


def _read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the middle of a body"
        body += chunk
    return head, body[:length]


def test_unexpected_error_is_twilio_500_and_the_connection_stays(server, lists):
    import json

    with server.http_client() as http:
        service, build = lists["service"], completed_build(http, lists["service"],
                                                           [asset_with_version(http, lists["service"])[1]["sid"]])
    _corrupt_build(server, build["sid"])
    auth = base64.b64encode(f"{server.account_sid}:{server.auth_token}".encode()).decode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        for path, status, sid in ((f"/v1/Services/{service}/Builds/{build['sid']}", b" 500 ", None),
                                  (f"/v1/Services/{service}", b" 200 ", service),
                                  (f"/v1/Services/{service}/Builds", b" 500 ", None),
                                  (f"/v1/Services/{service}/Builds/{build['sid']}/Status", b" 200 ", build["sid"])):
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                         f"Authorization: Basic {auth}\r\n\r\n".encode())
            head, body = _read_response(sock)
            assert status in head.split(b"\r\n", 1)[0], (path, head, body)
            assert b"content-type: application/json" in head.lower()
            if status == b" 500 ":
                assert json.loads(body) == TWILIO_500
            else:
                assert json.loads(body)["sid"] == sid
    assert "JSONDecodeError" in server.log_tail(20000)  # the bug is in the log, not in the answer


def test_a_page_token_naming_the_largest_id_is_an_empty_page_on_every_list(http, lists):
    for path in lists["paths"]:
        resp = http.get(path, params={"PageToken": "PA" + "9" * 18})
        assert resp.status_code == 200, (path, resp.text)
        assert resp.json()["meta"]["page_size"] == 50
        assert next(v for k, v in resp.json().items() if k != "meta") == []
    # Before the largest id: the newest page, with the service made last. (Services only: another
    # test here corrupts the fixture's build on purpose.)
    newest = create_service(http)["sid"]
    before = http.get("/v1/Services", params={"PageToken": "PB" + "9" * 18})
    assert before.status_code == 200, before.text
    assert newest in {s["sid"] for s in before.json()["services"]}
