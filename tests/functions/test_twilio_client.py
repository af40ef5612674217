"""`context.getTwilioClient()` works in every function, as on Twilio: with the build's own
`twilio` when it lists one, else the package the server shares with every Node sandbox (or the
server's Python `twilio`), holding the account's credentials and reaching the API under
`--function-network` (none here: the client exists, its requests fail with a network error)."""

from __future__ import annotations

import base64
import json
import time

import pytest
from fnkit import as_json, deploy_project
from servers import REPO, Backend, ServerProcess

NPM_CACHE = REPO / ".cache" / "npm-functions"
SANDBOX_API_PORT = 18181  # on the sandbox's own loopback: no socket of it reaches the host's
MESSAGE = {"to": "+15005550006", "from": "+15005550001", "body": "hi"}

CLIENT_JS = """const fs = require('fs');
exports.handler = async (context, event, callback) => {
  const client = context.getTwilioClient();
  let written = 'written';
  try {
    fs.writeFileSync('/srv/runtime/node_modules/twilio/index.js', 'hijacked');
  } catch (e) {
    written = e.code;
  }
  let error = null;
  try {
    await client.messages.create(MESSAGE);
  } catch (e) {
    error = e.code || e.message;
  }
  callback(null, { create: typeof client.messages.create, accountSid: client.accountSid,
                   base: client.api.baseUrl, error, written, shared: fs.readdirSync('/srv/runtime').sort() });
};
""".replace("MESSAGE", json.dumps(MESSAGE))

CLIENT_PY = """def handler(context, event):
    client = context.get_twilio_client()
    try:
        client.messages.create(to="+15005550006", from_="+15005550001", body="hi")
        error = None
    except Exception as exc:
        error = type(exc).__name__
    return {"create": callable(client.messages.create), "accountSid": client.account_sid,
            "base": client.api.base_url, "error": error}
"""

# A stand-in for the Twilio API on the sandbox's own loopback, at the address the server's
# --twilio-api-url names: what the client sends there is what the function answers.
RECORDED_JS = """const http = require('http');
exports.handler = (context, event, callback) => {
  const seen = [];
  const api = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, body });
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ sid: 'SM' + '0'.repeat(32), status: 'queued' }));
    });
  });
  api.listen(API_PORT, '127.0.0.1', async () => {
    try {
      const message = await context.getTwilioClient().messages.create(MESSAGE);
      callback(null, { sid: message.sid, status: message.status, seen });
    } catch (e) {
      callback(e);
    } finally {
      api.close();
    }
  });
};
""".replace("API_PORT", str(SANDBOX_API_PORT)).replace("MESSAGE", json.dumps(MESSAGE))

RECORDED_PY = """import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer


def handler(context, event):
    seen = []

    class Api(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            seen.append({"method": "POST", "url": self.path, "auth": self.headers["Authorization"], "body": body})
            answer = json.dumps({"sid": "SM" + "0" * 32, "status": "queued"}).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    api = HTTPServer(("127.0.0.1", API_PORT), Api)
    threading.Thread(target=api.handle_request, daemon=True).start()
    try:
        message = context.get_twilio_client().messages.create(to="+15005550006", from_="+15005550001", body="hi")
    finally:
        api.server_close()
    return {"sid": message.sid, "status": message.status, "seen": seen}
""".replace("API_PORT", str(SANDBOX_API_PORT))

@pytest.fixture(scope="module")
def api_server(tmp_path_factory):
    srv = ServerProcess(Backend("sqlite"), tmp_path_factory.mktemp("twilio-api"),
                        ["--npm-cache", str(NPM_CACHE), "--twilio-api-url", f"http://127.0.0.1:{SANDBOX_API_PORT}/"])
    try:
        yield srv.start()
    finally:
        srv.stop()


def test_every_function_gets_a_client_with_the_accounts_credentials(fn_server, fn_http):
    d = deploy_project(fn_server, fn_http, {"functions/client.js": CLIENT_JS, "functions/client_py.py": CLIENT_PY})
    assert d.build["dependencies"] == [{"name": "@twilio/runtime-handler", "version": "2.1.0"}]  # no twilio
    js = d.site.get("/client")
    assert js.status_code == 200, js.text
    answer = as_json(js)
    assert answer["error"] in ("EAI_AGAIN", "ENOTFOUND"), answer  # no network here: the name resolves nowhere
    assert {k: answer[k] for k in ("create", "accountSid", "base")} == {
        "create": "function", "accountSid": fn_server.account_sid, "base": "https://api.twilio.com"}
    # the shared folder holds the install and nothing else, and no function can change it
    assert answer["shared"] == [".complete", "node_modules", "package-lock.json", "package.json"]
    assert answer["written"] == "ERR_ACCESS_DENIED"
    py = d.site.get("/client_py")
    assert py.status_code == 200, py.text
    assert as_json(py) == {"create": True, "accountSid": fn_server.account_sid, "base": "https://api.twilio.com",
                           "error": "ConnectionError"}
    shared = list((fn_server.workdir / "data" / "runtime").iterdir())
    assert [p.name for p in shared] == ["twilio-6.3.1"]


@pytest.mark.parametrize("path", ["/send", "/send_py"])
def test_the_client_sends_its_requests_to_the_configured_api(api_server, path):
    with api_server.http_client() as http:
        d = deploy_project(api_server, http, {"functions/send.js": RECORDED_JS, "functions/send_py.py": RECORDED_PY})
    resp = d.site.get(path)
    assert resp.status_code == 200, resp.text
    answer = as_json(resp)
    sid = api_server.account_sid
    assert answer["sid"] == "SM" + "0" * 32 and answer["status"] == "queued"
    (seen,) = answer["seen"]
    assert seen["method"] == "POST" and seen["url"] == f"/2010-04-01/Accounts/{sid}/Messages.json"
    assert base64.b64decode(seen["auth"].removeprefix("Basic ")).decode() == f"{sid}:{api_server.auth_token}"
    assert sorted(seen["body"].split("&")) == ["Body=hi", "From=%2B15005550001", "To=%2B15005550006"]


def test_a_build_with_its_own_twilio_gets_a_client_of_that_one(fn_server, fn_http):
    deps = json.dumps([{"name": "@twilio/runtime-handler", "version": "2.1.0"}, {"name": "twilio", "version": "5.4.5"}])
    src = ("exports.handler = (context, event, callback) => callback(null, {\n"
           "  own: context.getTwilioClient() instanceof Twilio.Twilio, version: require('twilio/package.json').version });\n")
    d = deploy_project(fn_server, fn_http, {"functions/own.js": src}, dependencies=deps)
    resp = d.site.get("/own")
    assert resp.status_code == 200, resp.text
    assert as_json(resp) == {"own": True, "version": "5.4.5"}


def test_without_a_registry_builds_complete_and_the_client_says_why_it_is_missing(tmp_path):
    srv = ServerProcess(Backend("sqlite"), tmp_path, ["--npm-cache", str(tmp_path / "npm-cache")])
    srv.extra_env = {"npm_config_registry": "https://registry.invalid/"}  # the egress proxy answers 502
    srv.start()
    try:
        with srv.http_client() as http:
            started = time.monotonic()
            d = deploy_project(srv, http, {"functions/client.js": "exports.handler = (context, event, callback) => "
                                                                  "callback(null, context.getTwilioClient());\n"})
            assert time.monotonic() - started < 10  # npm tried once, not with its retries of a minute
        resp = d.site.get("/client")
        assert resp.status_code == 500
        assert as_json(resp) == {"name": "Error", "message": (
            "getTwilioClient(): the twilio package is not installed on this server (its log says why); "
            'list "twilio" among the build\'s dependencies to use your own')}
        assert not (tmp_path / "data" / "runtime" / "twilio-6.3.1").exists()
        assert "could not install twilio 6.3.1 for getTwilioClient()" in srv.log_tail(100_000)
    finally:
        srv.stop()
