"""The console's session: a signed cookie, and the CSRF check every state-changing request passes.

The cookie holds a CSRF token, one-shot flash messages and, once signed in, the token of a sign-in
that core keeps in the metadata store (`assethost.core.sessions`): which account it is for is read
from there at every request, so signing out, rotating the Auth Token or deleting the API key ends
the session at once, on every worker and node, and a replayed copy of the cookie reads nothing. The
cookie is signed (itsdangerous) with a key kept in the metadata store, so every node of a
scaled-out deployment accepts every other node's cookies. It is `HttpOnly`, `SameSite=Lax`,
limited to `/console`, and `Secure` when the request came over https (or the server's --public-url is https).

CSRF: every visitor (signed in or not) gets a random token in the session. A POST must carry it
in the `X-CSRF-Token` header (the console's own JavaScript) or in a `csrf` form field (plain
forms); and when the browser sends an `Origin`, it must be this very origin.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import parse_qs

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import URL, Headers, MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assethost.core import secrets as core_secrets
from assethost.core import sessions
from assethost.core.context import Context

COOKIE = "assethost_console"
COOKIE_PATH = "/console"
MAX_AGE_S = int(sessions.MAX_AGE.total_seconds())  # no cookie outlives the longest sign-in
STATIC_PREFIX = COOKIE_PATH + "/static/"  # files that need no sign-in: not looked up
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"
MAX_FORM_BYTES = 256 * 1024  # plain console forms are tiny; uploads carry the header instead


class Session(dict[str, Any]):
    """The cookie's values; any change is written back with the response. `account` is not one
    of them: it is the account of the stored sign-in the cookie's token stands for, if any."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        super().__init__(values or {})
        self.account: str | None = None
        self.modified = False
        if not self.get("csrf"):
            self["csrf"] = secrets.token_urlsafe(32)

    def __setitem__(self, key: str, value: Any) -> None:
        self.modified = True
        super().__setitem__(key, value)

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            self.modified = True
        return super().pop(key, *default)

    @property
    def csrf(self) -> str:
        return self["csrf"]

    @property
    def token(self) -> str | None:
        """The stored sign-in's token, if the cookie carries one."""
        return self.get("signin")

    def sign_in(self, token: str, account_sid: str) -> None:
        """A fresh session (new CSRF token) for the sign-in `token` of the account."""
        self.clear()
        self["csrf"] = secrets.token_urlsafe(32)
        self["signin"] = token
        self.account = account_sid

    def sign_out(self) -> None:
        """Forget the sign-in here (the caller ends the stored one: `sessions.close`)."""
        self.clear()
        self["csrf"] = secrets.token_urlsafe(32)
        self.account = None

    def flash(self, kind: str, text: str) -> None:
        self["flash"] = [*self.get("flash", []), [kind, text]]

    def take_flashes(self) -> list[tuple[str, str]]:
        return [(k, t) for k, t in self.pop("flash", [])]


def session_of(scope: Scope) -> Session:
    return scope["console.session"]


def _is_https(scope: Scope) -> bool:
    return scope.get("scheme") == "https"


def _same_origin(scope: Scope, origin: str) -> bool:
    url = URL(scope=scope)
    own = f"{url.scheme}://{url.netloc}".lower()
    return origin.lower().rstrip("/") == own


def _forbidden(text: str) -> PlainTextResponse:
    return PlainTextResponse(text, status_code=403, headers={"Cache-Control": "no-store"})


class SessionMiddleware:
    """Loads and saves the session around the console, and refuses a state-changing request
    without the session's CSRF token."""

    def __init__(self, app: ASGIApp, ctx: Context, always_secure: bool = False) -> None:
        """always_secure: mark the cookie Secure even on plain-http requests (TLS ends at a
        proxy in front of this server: its --public-url is https)."""
        self.app = app
        self.ctx = ctx
        self.always_secure = always_secure
        self._serializer: URLSafeTimedSerializer | None = None

    async def serializer(self) -> URLSafeTimedSerializer:
        if self._serializer is None:
            key = await run_in_threadpool(core_secrets.console_session_key, self.ctx.meta)
            self._serializer = URLSafeTimedSerializer(key, salt="assethost.console.session")
        return self._serializer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        serializer = await self.serializer()
        headers = Headers(scope=scope)
        session = self._load(serializer, headers)
        if session.token is not None and not scope["path"].startswith(STATIC_PREFIX):
            signin = await run_in_threadpool(sessions.check, self.ctx.meta, session.token)
            if signin is None:  # signed out, expired, or its credential changed: forget it
                session.pop("signin")  # (the CSRF token stays: a form in flight then meets the sign-in page)
            else:
                session.account = signin.account_sid
        scope["console.session"] = session

        if scope["method"] not in SAFE_METHODS:
            origin = headers.get("origin")
            if origin and origin != "null" and not _same_origin(scope, origin):
                return await _forbidden("Cross-origin request refused")(scope, receive, send)
            token = headers.get(CSRF_HEADER)
            if token is None and headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                body, receive = await _buffer(receive)
                if body is None:
                    return await _forbidden("Form too large")(scope, receive, send)
                token = next(iter(parse_qs(body.decode("latin-1")).get(CSRF_FIELD, [])), None)
            if not token or not hmac.compare_digest(token.encode(), session.csrf.encode()):
                msg = "The form has expired or did not come from this console (CSRF check failed); reload the page"
                return await _forbidden(msg)(scope, receive, send)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and session.modified:
                out = MutableHeaders(scope=message)
                value = serializer.dumps(dict(session))
                cookie = f"{COOKIE}={value}; Path={COOKIE_PATH}; HttpOnly; SameSite=Lax"
                if self.always_secure or _is_https(scope):
                    cookie += "; Secure"
                out.append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _load(self, serializer: URLSafeTimedSerializer, headers: Headers) -> Session:
        raw = None
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE:
                raw = value
        if raw:
            try:
                values = serializer.loads(raw, max_age=MAX_AGE_S)
                if isinstance(values, dict):
                    return Session(values)
            except BadSignature:
                pass
        session = Session()
        session.modified = True  # a new visitor gets a cookie with a CSRF token
        return session


async def _buffer(receive: Receive) -> tuple[bytes | None, Receive]:
    """Read a small request body, and give back a `receive` that replays it."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None, receive
        chunks.append(chunk)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay
