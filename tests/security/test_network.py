"""`--function-network public`: functions reach public addresses through the egress proxy, and
still never the host's loopback, its own addresses, private networks or link-local. The registry
(registry.npmjs.org, reachable from every development and CI machine) stands in for the public
internet; a listener on the host counts what reaches it."""

from __future__ import annotations

import json

import pytest
from fnkit import deploy_project
from servers import Backend, ServerProcess

PUBLIC = "https://registry.npmjs.org/is-number/7.0.0"

JS_FETCH = """const https = require('https');
const http = require('http');
const net = require('net');
const get = (url) => new Promise((resolve) => {
  const lib = url.startsWith('https:') ? https : http;
  const req = lib.get(url, { timeout: 8000 }, (res) => {
    let body = '';
    res.on('data', (d) => { body += d; });
    res.on('end', () => resolve({ status: res.statusCode, body: body.slice(0, 300) }));
  });
  req.on('error', (e) => resolve({ error: e.code || e.message, message: e.message }));
  req.on('timeout', () => { req.destroy(); resolve({ error: 'TIMEOUT' }); });
});
const raw = (host, port) => new Promise((resolve) => {
  const s = net.connect({ host, port, timeout: 1500 });
  s.on('connect', () => { s.destroy(); resolve('CONNECTED'); });
  s.on('timeout', () => { s.destroy(); resolve('TIMEOUT'); });
  s.on('error', (e) => resolve(e.code));
});
exports.handler = async (context, event, callback) => {
  const out = {};
  for (const url of JSON.parse(event.urls)) out[url] = await get(url);
  out.raw = await raw('127.0.0.1', Number(event.port));
  callback(null, out);
};
"""

PY_FETCH = """import json, socket, urllib.request

def handler(context, event):
    out = {}
    for url in json.loads(event["urls"]):
        try:
            with urllib.request.urlopen(url, timeout=8) as resp:
                out[url] = {"status": resp.status, "body": resp.read(300).decode()}
        except Exception as e:
            out[url] = {"error": type(e).__name__, "message": str(e)}
    s = socket.socket()
    s.settimeout(1.5)
    try:
        s.connect(("127.0.0.1", int(event["port"])))
        out["raw"] = "CONNECTED"
    except OSError as e:
        out["raw"] = type(e).__name__
    return out
"""


@pytest.fixture(scope="module")
def public_server(tmp_path_factory):
    srv = ServerProcess(Backend("sqlite"), tmp_path_factory.mktemp("public-net"), ["--function-network", "public"])
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def site(public_server):
    with public_server.http_client() as http:
        return deploy_project(public_server, http, {"functions/js.js": JS_FETCH, "functions/py.py": PY_FETCH}).site


@pytest.mark.parametrize("fn", ["/js", "/py"])
def test_public_addresses_are_reached_and_internal_ones_are_not(site, listener, fn):
    port, accepted = listener
    internal = [f"https://127.0.0.1:{port}/", f"https://localhost:{port}/", f"http://127.0.0.1:{port}/",
                "https://169.254.169.254/latest/meta-data/", "https://10.0.0.1/"]
    resp = site.get(fn, params={"urls": json.dumps([PUBLIC, *internal]), "port": str(port)}, timeout=60)
    assert resp.status_code == 200, resp.text
    result = resp.json()
    assert result[PUBLIC].get("status") == 200, result
    assert '"name":"is-number"' in result[PUBLIC]["body"].replace(" ", ""), result[PUBLIC]
    for url in internal:
        # JS: every connection is a tunnel the proxy refuses. Python: HTTPS tunnels are refused
        # (403); a plain-HTTP request through the proxy is not a tunnel and is refused too (405).
        refusal = ("is not a public address" if fn == "/js"
                   else "HTTP Error 405" if url.startswith("http:") else "Tunnel connection failed: 403 Forbidden")
        assert refusal in result[url].get("message", ""), (url, result[url])
    assert result["raw"] == ("ECONNREFUSED" if fn == "/js" else "ConnectionRefusedError"), "raw sockets stay inside"
    assert accepted == [], "a connection from the function reached the host"
