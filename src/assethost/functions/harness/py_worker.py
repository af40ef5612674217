"""assethost's Python harness: one long-lived process per (build, worker slot), started in its
own sandbox (functions/sandbox.py) with cwd = the build's folder (/srv/build), a clean
environment and `python -I`. One invocation at a time. Arguments: the message descriptor, the
largest response body the server takes, and (with `--function-network public`) the egress
proxy's socket and the loopback port to relay it on: HTTP clients that honour HTTPS_PROXY
(urllib, requests, httpx, twilio) then reach public addresses through it.

Same protocol as node_worker.js: JSON lines in on stdin, results and log lines out on fd 3, a
result line followed by its `length` raw body bytes.

A function file defines `handler(context, event)` and returns a `Response` (the `Response`
global, also importable as `from assethost_functions import Response`), a str (text/plain), a
dict or list (JSON), bytes (application/octet-stream) or None (an empty 200). Raising is a 500.
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import os
import selectors
import signal
import socket
import sys
import threading
import traceback
import types
import urllib.parse
from typing import Any

BUILD_DIR = os.getcwd()
with open(os.path.join(BUILD_DIR, ".assethost-build.json"), encoding="utf-8") as _f:
    MANIFEST = json.load(_f)
OUT = os.fdopen(int(sys.argv[1]) if len(sys.argv) > 1 else 3, "wb", buffering=0)
MAX_BODY = int(sys.argv[2]) if len(sys.argv) > 2 else 20 * 1024 * 1024
EGRESS, RELAY_PORT = (sys.argv[3], int(sys.argv[4])) if len(sys.argv) > 4 else ("", 0)
# What the server keeps of a call's log (functions/logs.py): more would only cost the pipe and the
# server's time, so it is not sent (one line more lets the server say the output was cut).
LOG_LIMIT = 8 * 1024 + 1
CALL_LINES, CALL_BYTES = 1001, 1024 * 1024 + 1
_logged = [0, 0]  # lines and bytes sent for the call now running (or since the last one)
_current: list[Any] = [None]  # the id of the invocation now running


def _write(data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = OUT.write(view)
        view = view[n:]


def send(message: dict[str, Any]) -> None:
    _write((json.dumps(message) + "\n").encode("utf-8"))


def send_result(call_id: Any, status: int, headers: list[list[str]], body: bytes) -> None:
    if len(body) > MAX_BODY:
        send({"type": "result", "id": call_id, "oversize": len(body), "length": 0})
        return
    head = (json.dumps({"type": "result", "id": call_id, "status": status, "headers": headers,
                        "length": len(body)}) + "\n").encode("utf-8")
    if len(body) <= 65536:  # one write for a small answer; a large body is not copied
        _write(head + body)
    else:
        _write(head)
        _write(body)


def log(level: str, message: str) -> None:
    if _logged[0] >= CALL_LINES or _logged[1] >= CALL_BYTES:
        return
    if len(message) > LOG_LIMIT:
        message = message[:LOG_LIMIT] + "…"
    _logged[0] += 1
    _logged[1] += len(message)
    send({"type": "log", "id": _current[0], "level": level, "message": message})


class _LogStream(io.TextIOBase):
    """print() and sys.stderr writes, one log line per line written."""

    def __init__(self, level: str) -> None:
        self.level = level
        self.buffer_text = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.buffer_text += text
        while "\n" in self.buffer_text:
            line, self.buffer_text = self.buffer_text.split("\n", 1)
            log(self.level, line)
        return len(text)

    def flush(self) -> None:
        if self.buffer_text:
            log(self.level, self.buffer_text)
            self.buffer_text = ""


class _LogHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        # Twilio's Log levels: info, warning, error (CRITICAL is error).
        level = "error" if record.levelno >= logging.ERROR else "warning" if record.levelno >= logging.WARNING else "info"
        log(level, self.format(record))


# --- what a function sees --------------------------------------------------------------------


class Response:
    """Twilio.Response for Python, with both naming styles."""

    def __init__(self, body: Any = None, status_code: int = 200, headers: dict[str, Any] | None = None) -> None:
        self.status_code = status_code
        self.body = body
        self.headers: dict[str, Any] = {}
        if headers:
            self.set_headers(headers)

    def set_status_code(self, code: int) -> Response:
        self.status_code = int(code)
        return self

    def set_body(self, body: Any) -> Response:
        self.body = body
        return self

    def set_headers(self, headers: dict[str, Any]) -> Response:
        self.headers = {}
        for key, value in headers.items():
            self.append_header(key, value)
        return self

    def append_header(self, key: str, value: Any) -> Response:
        existing = self.headers.get(key)
        values = value if isinstance(value, list) else [value]
        if existing is None:
            self.headers[key] = values if key.lower() == "set-cookie" else (value if len(values) == 1 else values)
        else:
            self.headers[key] = (existing if isinstance(existing, list) else [existing]) + values
        return self

    def set_cookie(self, key: str, value: str, attributes: list[str] | None = None) -> Response:
        return self.append_header("Set-Cookie", ";".join([f"{key}={value}", *(attributes or [])]))

    def remove_cookie(self, key: str) -> Response:
        return self.set_cookie(key, "", ["Max-Age=0"])

    setStatusCode = set_status_code
    setBody = set_body
    setHeaders = set_headers
    appendHeader = append_header
    setCookie = set_cookie
    removeCookie = remove_cookie


class Asset:
    def __init__(self, path: str) -> None:
        self.path = path

    def open(self, mode: str = "r") -> Any:
        """The asset's text (utf-8), like Node's open(); open("rb") gives its bytes."""
        if "b" in mode:
            with open(self.path, mode) as f:
                return f.read()
        with open(self.path, encoding="utf-8") as f:
            return f.read()

    def __repr__(self) -> str:
        return f"Asset({self.path!r})"


def get_assets() -> dict[str, Asset]:
    return {p: Asset(os.path.join(BUILD_DIR, f)) for p, f in MANIFEST["assets"].items()}


def get_functions() -> dict[str, dict[str, str]]:
    return {p.lstrip("/"): {"path": os.path.join(BUILD_DIR, fn["file"])} for p, fn in MANIFEST["functions"].items()}


class Context(dict[str, Any]):
    """The environment's variables and the DOMAIN_NAME/PATH/… values, as keys and attributes;
    `twilio_api` is the server's --twilio-api-url, which its Twilio clients follow (None: Twilio itself)."""

    def __init__(self, values: dict[str, Any], twilio_api: str | None = None) -> None:
        super().__init__(values)
        self._twilio_api = twilio_api

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def assets(self) -> dict[str, Asset]:
        return get_assets()

    @property
    def functions(self) -> dict[str, dict[str, str]]:
        return get_functions()

    def get_twilio_client(self) -> Any:
        try:
            from twilio.http.http_client import TwilioHttpClient
            from twilio.rest import Client
        except ImportError:
            raise RuntimeError("get_twilio_client() needs the twilio Python package in the server's Python "
                               "installation (pip install twilio), which this server does not have") from None
        http_client = None
        if self._twilio_api:
            api = self._twilio_api

            class Redirected(TwilioHttpClient):
                """Every request to `api` instead of https://<product>.twilio.com, path and query kept."""

                def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
                    parts = urllib.parse.urlsplit(url)
                    target = api + parts.path + (f"?{parts.query}" if parts.query else "")
                    return super().request(method, target, *args, **kwargs)

            http_client = Redirected()
        return Client(self.get("ACCOUNT_SID"), self.get("AUTH_TOKEN"), http_client=http_client)

    getTwilioClient = get_twilio_client


runtime = types.SimpleNamespace(get_assets=get_assets, get_functions=get_functions,
                                getAssets=get_assets, getFunctions=get_functions)
api = types.ModuleType("assethost_functions")
api.Response = Response  # type: ignore[attr-defined]
api.Runtime = runtime  # type: ignore[attr-defined]
sys.modules["assethost_functions"] = api

_modules: dict[str, Any] = {}


def _load(fn: str) -> Any:
    module = _modules.get(fn)
    if module is None:
        entry = MANIFEST["functions"].get(fn)
        if entry is None:
            raise LookupError(f"no function at {fn}")
        file = os.path.join(BUILD_DIR, entry["file"])
        name = "fn_" + "".join(c if c.isalnum() else "_" for c in fn)
        spec = importlib.util.spec_from_file_location(name, file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        module.Response = Response  # type: ignore[attr-defined]
        module.Runtime = runtime  # type: ignore[attr-defined]
        spec.loader.exec_module(module)
        if not callable(getattr(module, "handler", None)):
            raise TypeError(f"{fn} does not define handler(context, event)")
        _modules[fn] = module
    return module


def _pairs(headers: dict[str, Any]) -> list[list[str]]:
    out = []
    for key, value in headers.items():
        for item in value if isinstance(value, list) else [value]:
            out.append([str(key), str(item)])
    return out


def _body(body: Any, pairs: list[list[str]]) -> bytes:
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    if not any(k.lower() == "content-type" for k, _ in pairs):
        pairs.append(["Content-Type", "application/json"])
    return json.dumps(body).encode("utf-8")


def answer(result: Any) -> tuple[int, list[list[str]], bytes]:
    if result is None:
        return 200, [], b""
    if isinstance(result, Response):
        pairs = _pairs(result.headers)
        return int(result.status_code), pairs, _body(result.body, pairs)
    if isinstance(result, str):
        return 200, [["Content-Type", "text/plain; charset=utf-8"]], result.encode("utf-8")
    if isinstance(result, (bytes, bytearray)):
        return 200, [["Content-Type", "application/octet-stream"]], bytes(result)
    return 200, [["Content-Type", "application/json"]], json.dumps(result).encode("utf-8")


def invoke(msg: dict[str, Any]) -> None:
    _current[0] = msg["id"]
    _logged[:] = [0, 0]
    try:
        module = _load(msg["fn"])
        status, headers, body = answer(module.handler(Context(msg["context"], msg.get("twilio_api")), msg["event"]))
    except Exception as exc:  # noqa: BLE001 - the function's error becomes a 500 and an error log line
        log("error", traceback.format_exc().rstrip())
        status, headers = 500, [["Content-Type", "application/json"]]
        body = json.dumps({"message": str(exc), "name": type(exc).__name__}).encode()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    send_result(msg["id"], status, headers, body)
    _current[0] = None


# --- the network: only through the egress proxy (functions/egress.py) --------------------------


def _relay(client: socket.socket) -> None:
    """Copy bytes between one loopback client and the egress proxy's socket, both ways."""
    upstream = socket.socket(socket.AF_UNIX)
    try:
        upstream.connect(EGRESS)
        with selectors.DefaultSelector() as sel:
            sel.register(client, selectors.EVENT_READ, upstream)
            sel.register(upstream, selectors.EVENT_READ, client)
            open_ends = 2
            while open_ends:
                for key, _ in sel.select():
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if data:
                        key.data.sendall(data)
                    else:
                        sel.unregister(key.fileobj)
                        open_ends -= 1
                        try:
                            key.data.shutdown(socket.SHUT_WR)
                        except OSError:
                            pass
    except OSError:
        pass
    finally:
        upstream.close()
        client.close()


def _start_relay() -> None:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", RELAY_PORT))
    server.listen(16)

    def accept() -> None:
        while True:
            client, _ = server.accept()
            threading.Thread(target=_relay, args=(client,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    proxy = f"http://127.0.0.1:{RELAY_PORT}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ[name] = proxy


def main() -> None:
    sys.stdout = _LogStream("info")
    sys.stderr = _LogStream("error")
    handler = _LogHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    stdin = sys.stdin.buffer
    if EGRESS:
        _start_relay()
    # Near its CPU time limit (the soft RLIMIT_CPU): ask to be replaced, between calls (a signal
    # handler must not write: it could land in the middle of a result).
    retiring = [False, False]  # signalled, told

    def near_limit(_signum: int, _frame: Any) -> None:
        retiring[0] = True

    signal.signal(signal.SIGXCPU, near_limit)
    send({"type": "ready", "id": None})
    for line in stdin:
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("type") == "call":
            invoke(msg)
            if retiring[0] and not retiring[1]:
                retiring[1] = True
                send({"type": "retire", "id": None})
        elif msg.get("type") == "ping":
            send({"type": "pong", "id": msg.get("id")})


if __name__ == "__main__":
    main()
