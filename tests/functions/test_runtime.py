"""Visibility, limits, failures, context, event and responses of functions, through the edge."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
from fnkit import FUNCTION_TIMEOUT_S, as_json, build, deploy_project, upload_project
from helpers import create_service, uniq

ECHO = """exports.handler = (context, event, callback) => {
  const { getTwilioClient, ...ctx } = context;
  callback(null, { context: ctx, event, hasClient: typeof getTwilioClient });
};
"""
HELLO = "exports.handler = (context, event, callback) => callback(null, 'hello ' + (event.name || 'world'));\n"


@pytest.fixture(scope="module")
def project(fn_server, fn_http):
    return deploy_project(fn_server, fn_http, {
        "functions/hello.js": HELLO,
        "functions/echo.js": ECHO,
        "functions/api/secret.protected.js": "exports.handler = (c, e, cb) => cb(null, 'protected ok');\n",
        "functions/internal.private.js": "exports.greet = (n) => 'hi ' + n;\n"
                                         "exports.handler = (c, e, cb) => cb(null, 'private');\n",
        "functions/uses-private.js": "exports.handler = (c, e, cb) => {\n"
                                     "  const lib = require(Runtime.getFunctions()['internal'].path);\n"
                                     "  cb(null, lib.greet('there'));\n};\n",
        "functions/loop.js": "exports.handler = (c, e, cb) => { while (true) {} };\n",
        "functions/never.js": "exports.handler = (c, e, cb) => { /* never calls back */ };\n",
        "functions/boom.js": "exports.handler = (c, e, cb) => { throw new Error('kaboom ' + e.n); };\n",
        "functions/exit.js": "exports.handler = (c, e, cb) => { process.exit(3); };\n",
        "functions/cb-error.js": "exports.handler = (c, e, cb) => cb(new Error('told to fail'));\n",
        "functions/response.js": """exports.handler = (context, event, callback) => {
  const r = new Twilio.Response();
  r.setStatusCode(201);
  r.setHeaders({ 'X-One': '1' });
  r.appendHeader('X-Two', '2');
  r.setCookie('session', 'abc', ['Path=/', 'HttpOnly']);
  r.removeCookie('old');
  r.appendHeader('Content-Type', 'application/json');
  r.setBody({ ok: true });
  callback(null, r);
};
""",
        "functions/twiml.js": """exports.handler = (context, event, callback) => {
  const twiml = new Twilio.twiml.VoiceResponse();
  twiml.say({ voice: 'alice' }, 'Ahoy & welcome');
  twiml.play('https://example.com/a.mp3');
  callback(null, twiml);
};
""",
        "functions/count.js": "exports.handler = (c, e, cb) => {\n"
                              "  for (let i = 0; i < Number(e.n); i++) console.log('count ' + i);\n  cb();\n};\n",
        "functions/warn.js": "exports.handler = (c, e, cb) => { console.warn('careful'); console.error('bad'); cb(); };\n",
        "functions/py-echo.py": "def handler(context, event):\n"
                                "    return {'var': context.MY_VAR, 'path': context['PATH'], 'event': event}\n",
        "functions/py-levels.py": "import logging\n\ndef handler(context, event):\n"
                                  "    logging.debug('py debug')\n    logging.info('py info')\n"
                                  "    logging.warning('py careful')\n    logging.error('py bad')\n"
                                  "    logging.critical('py worse')\n    return 'ok'\n",
        "functions/py-boom.py": "def handler(context, event):\n    raise ValueError('python kaboom')\n",
        "assets/style.css": "body { color: red; }\n",
        "assets/my_file.private.txt": "private text\n",
    }, variables={"MY_VAR": "hello var", "OTHER": "2"})


def test_public_function_answers_text(project):
    resp = project.site.get("/hello", params={"name": "Ada"})
    assert resp.status_code == 200
    assert resp.text == "hello Ada"
    assert resp.headers["content-type"].startswith("text/plain")


def test_protected_function_needs_a_signature(project):
    site = project.site
    resp = site.get("/api/secret")
    assert resp.status_code == 403
    assert "signature" in resp.text.lower()
    assert site.get("/api/secret", headers={"X-Twilio-Signature": "bm9wZQ=="}).status_code == 403
    resp = site.signed("GET", "/api/secret")
    assert resp.status_code == 200, resp.text
    assert resp.text == "protected ok"
    resp = site.signed("POST", "/api/secret", data=[("CallSid", "CA123"), ("Digits", "5")])
    assert resp.status_code == 200, resp.text


def test_private_function_is_not_served_but_callable_from_other_functions(project):
    not_found = project.site.get("/no-such-function")
    resp = project.site.get("/internal")
    assert resp.status_code == 404
    assert resp.content == not_found.content
    resp = project.site.get("/uses-private")
    assert resp.status_code == 200, resp.text
    assert resp.text == "hi there"


def test_variables_and_service_facts_reach_context(project, fn_server):
    site = project.site
    body = as_json(site.get("/echo"))
    ctx = body["context"]
    assert ctx["MY_VAR"] == "hello var" and ctx["OTHER"] == "2"
    assert ctx["DOMAIN_NAME"] == site.host
    assert ctx["PATH"] == "/echo"
    assert ctx["SERVICE_SID"] == site.service_sid
    assert ctx["ENVIRONMENT_SID"] == site.env_sid
    assert ctx["ACCOUNT_SID"] == fn_server.account_sid  # the service has IncludeCredentials
    assert ctx["AUTH_TOKEN"] == fn_server.auth_token
    assert body["hasClient"] == "function"


def test_credentials_only_with_include_credentials(fn_server, fn_http):
    d = deploy_project(fn_server, fn_http, {"functions/echo.js": ECHO}, include_credentials=False)
    ctx = as_json(d.site.get("/echo"))["context"]
    assert "ACCOUNT_SID" not in ctx and "AUTH_TOKEN" not in ctx
    assert ctx["SERVICE_SID"] == d.site.service_sid


def test_event_merges_query_form_and_json(project):
    site = project.site
    resp = site.request("POST", "/echo?a=1&b=q&multi=1&multi=2",
                        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": "c1=v1; c2=v2",
                                 "X-Forwarded-For": "10.0.0.1", "X-Custom": "yes"},
                        content=b"b=form&Body=Hello+there")
    event = as_json(resp)["event"]
    assert event["a"] == "1"
    assert event["b"] == "form"  # the body wins over the query, as in Twilio's runtime
    assert event["multi"] == ["1", "2"]
    assert event["Body"] == "Hello there"
    assert event["request"]["cookies"] == {"c1": "v1", "c2": "v2"}
    headers = event["request"]["headers"]
    assert headers["x-custom"] == "yes"
    assert "x-forwarded-for" not in headers  # restricted headers are stripped
    resp = site.request("POST", "/echo?q=1", headers={"Content-Type": "application/json"},
                        content=json.dumps({"From": "+15550001111", "nested": {"k": [1, 2]}}).encode())
    event = as_json(resp)["event"]
    assert event["q"] == "1" and event["From"] == "+15550001111" and event["nested"] == {"k": [1, 2]}


def test_response_object_and_twiml(project):
    resp = project.site.get("/response")
    assert resp.status_code == 201
    assert resp.headers["x-one"] == "1" and resp.headers["x-two"] == "2"
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == {"ok": True}
    cookies = resp.headers.get_list("set-cookie")
    assert "session=abc;Path=/;HttpOnly" in cookies and "old=;Max-Age=0" in cookies
    resp = project.site.get("/twiml")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/xml")
    assert resp.text == ('<?xml version="1.0" encoding="UTF-8"?><Response><Say voice="alice">Ahoy &amp; welcome</Say>'
                         "<Play>https://example.com/a.mp3</Play></Response>")
    assert project.site.request("HEAD", "/twiml").content == b""


def test_python_context_and_event(project):
    body = as_json(project.site.get("/py-echo", params={"x": "1"}))
    assert body["var"] == "hello var" and body["path"] == "/py-echo"
    assert body["event"]["x"] == "1" and "request" in body["event"]


def test_errors_answer_500_and_are_logged(project, fn_http):
    site = project.site
    resp = site.get("/boom", params={"n": "7"})
    assert resp.status_code == 500
    assert as_json(resp)["message"] == "kaboom 7"
    entry = project.wait_log(fn_http, "kaboom 7")
    assert entry["level"] == "error" and entry["function_sid"] == project.functions["/boom"]
    resp = site.get("/cb-error")
    assert resp.status_code == 500 and as_json(resp)["message"] == "told to fail"
    resp = site.get("/py-boom")
    assert resp.status_code == 500 and as_json(resp)["name"] == "ValueError"
    assert "python kaboom" in project.wait_log(fn_http, "ValueError: python kaboom")["message"]
    # a worker that exits: 500, and the next call gets a new worker
    assert site.get("/exit").status_code == 500
    assert site.get("/hello").text == "hello world"
    assert site.get("/style.css").status_code == 200


def test_log_levels(project, fn_http):
    assert project.site.get("/warn").status_code == 200
    assert project.wait_log(fn_http, "careful")["level"] == "warning"
    assert project.wait_log(fn_http, "bad")["level"] == "error"
    assert project.site.get("/py-levels").text == "ok"
    project.wait_log(fn_http, "py worse")
    levels = {e["message"]: e["level"] for e in project.logs(fn_http, FunctionSid=project.functions["/py-levels"])}
    assert levels == {"py info": "info", "py careful": "warning", "py bad": "error", "py worse": "error"}


def test_runaway_function_is_stopped_and_the_server_keeps_serving(project):
    site = project.site
    outcome: dict = {}

    def call_loop():
        started = time.monotonic()
        outcome["resp"] = site.get("/loop")
        outcome["elapsed"] = time.monotonic() - started

    t = threading.Thread(target=call_loop)
    t.start()
    time.sleep(0.3)
    # while the loop spins: assets and other functions still answer, quickly
    for _ in range(5):
        started = time.monotonic()
        assert site.get("/style.css").status_code == 200
        assert site.get("/hello").text == "hello world"
        assert site.get("/py-echo").status_code == 200
        assert time.monotonic() - started < 1.0
    t.join(timeout=FUNCTION_TIMEOUT_S + 10)
    resp = outcome["resp"]
    assert resp.status_code == 504
    body = as_json(resp)
    assert body["code"] == 82002 and "timed out" in body["message"]
    assert FUNCTION_TIMEOUT_S - 0.2 <= outcome["elapsed"] < FUNCTION_TIMEOUT_S + 3
    # a call that never calls back times out the same way; the worker is kept
    assert site.get("/never").status_code == 504
    assert site.get("/hello").text == "hello world"


def test_concurrency_per_account_is_bounded(narrow_server):
    with narrow_server.http_client() as http:
        d = deploy_project(narrow_server, http, {
            "functions/slow.js": "exports.handler = (c, e, cb) => setTimeout(() => cb(null, 'done'), 2500);\n",
        })
    results: list[int] = []

    def call():
        results.append(d.site.get("/slow").status_code)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.2)
    for t in threads:
        t.join(timeout=20)
    assert sorted(results) == [200, 429]


def test_failed_npm_install_fails_the_build_with_npm_output(fn_http):
    service = create_service(fn_http, uniq("npm"))
    assets, functions, _ = upload_project(fn_http, service["sid"], {"functions/x.js": HELLO})
    deps = json.dumps([{"name": "@twilio/runtime-handler", "version": "2.1.0"},
                       {"name": "assethost-no-such-package-" + uniq("p"), "version": "1.0.0"}])
    b, status = build(fn_http, service["sid"], assets, functions, deps)
    assert status == "failed"
    details = fn_http.get(f"/assethost/v1/Services/{service['sid']}/Builds/{b['sid']}").json()
    assert details["status"] == "failed"
    assert "npm install failed" in details["status_reason"]
    assert "404" in details["status_reason"]


def test_dependencies_are_installed_and_shared(fn_server, fn_http):
    deps = json.dumps([{"name": "@twilio/runtime-handler", "version": "2.1.0"}, {"name": "ms", "version": "2.1.3"}])
    src = "const ms = require('ms');\nexports.handler = (c, e, cb) => cb(null, String(ms('2 days')));\n"
    first = deploy_project(fn_server, fn_http, {"functions/ms.js": src}, dependencies=deps)
    second = deploy_project(fn_server, fn_http, {"functions/ms.js": src}, dependencies=deps)
    for d in (first, second):
        resp = d.site.get("/ms")
        assert resp.status_code == 200, resp.text
        assert resp.text == "172800000"
    deps_dir = fn_server.workdir / "data" / "deps"
    installs = [p for p in deps_dir.iterdir() if (p / ".complete").exists() and (p / "node_modules" / "ms").is_dir()]
    assert len(installs) == 1  # one install for the one dependency set


def test_logs_resource_lists_newest_first_and_pages_to_older_lines(project, fn_http):
    assert project.site.get("/count", params={"n": "5"}).status_code == 200
    project.wait_log(fn_http, "count 4")
    newest = [f"count {i}" for i in (4, 3, 2, 1, 0)]
    zh = project.functions["/count"]
    assert [e["message"] for e in project.logs(fn_http, FunctionSid=zh)] == newest
    base = f"/v1/Services/{project.site.service_sid}/Environments/{project.site.env_sid}/Logs"
    pages = [fn_http.get(base, params={"FunctionSid": zh, "PageSize": 2}).json()]
    while pages[-1]["meta"]["next_page_url"]:
        pages.append(httpx.get(pages[-1]["meta"]["next_page_url"], auth=fn_http.auth, trust_env=False).json())
    assert [[e["message"] for e in p["logs"]] for p in pages] == [newest[:2], newest[2:4], newest[4:]]
    assert pages[0]["meta"]["key"] == "logs" and pages[0]["meta"]["previous_page_url"] is None
    back = httpx.get(pages[2]["meta"]["previous_page_url"], auth=fn_http.auth, trust_env=False).json()
    assert [e["message"] for e in back["logs"]] == newest[2:4]
    assert fn_http.get(base, params={"FunctionSid": "nope"}).status_code == 400
    assert fn_http.get(base + "/NO" + "0" * 32).status_code == 404
