"""What the edge answers to one request: pure decisions over the in-memory snapshot.

It knows nothing of ASGI or sockets: it takes the request's facts and returns a Reply, so the
same code serves under any server front and is tested directly (tests/unit/test_responder.py).
Conditional requests and ranges are decided in `edge/conditional.py`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import BinaryIO
from urllib.parse import unquote

from assethost.core import share, signatures
from assethost.core.variants import ENCODINGS
from assethost.edge import aliases
from assethost.edge.conditional import UNSATISFIABLE, byte_range, not_modified
from assethost.edge.httpparts import choose_encoding, form_params
from assethost.edge.snapshot import BuildFiles, FileEntry, Site, Snapshot, Variant
from assethost.functions.call import FunctionCall, FunctionEntry

_TEXT = (b"content-type", b"text/plain; charset=utf-8")
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_CACHE = (b"cache-control", b"no-cache")
# What Twilio's runtime answers to OPTIONS on an asset (copied into twilio-run, PR #141).
_CORS_PREFLIGHT = [
    (b"access-control-allow-origin", b"*"),
    (
        b"access-control-allow-headers",
        (
            b"Accept, Authorization, Content-Type, If-Match, If-Modified-Since, If-None-Match, "
            b"If-Unmodified-Since, User-Agent"
        ),
    ),
    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
    (b"access-control-expose-headers", b"ETag"),
    (b"access-control-max-age", b"86400"),
    (b"access-control-allow-credentials", b"true"),
    (b"content-length", b"0"),
]
SERVED_METHODS = ("GET", "HEAD", "POST")


@dataclass(slots=True)
class Reply:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    # Send `length` bytes of this file from `offset` instead of body: a blob's path, or a temporary
    # file holding a function's large answer (Edge.call), which whoever sends the reply closes.
    file: str | BinaryIO | None = None
    offset: int = 0
    length: int = 0
    raw_head: bytes | None = None  # `headers` already serialised, when precomputed
    # The blob (and its variant's encoding) that `file` holds, to fetch it again if a node's cache
    # evicted it since the snapshot named it.
    blob: str | None = None
    encoding: str | None = None
    call: FunctionCall | None = None  # run this function and answer with its result instead
    # Load this build (not loaded yet: `Edge.warm`), then answer with `again(the build)` instead.
    load: str | None = None
    again: Callable[[BuildFiles | None], Reply] | None = None
    asked: tuple[str, str, str, dict[bytes, bytes]] | None = None  # the request's (method, target, host, headers)

    def open_file(self) -> BinaryIO:
        """The file to send, to be closed by the caller (a blob's is opened anew each time)."""
        assert self.file is not None
        return open(self.file, "rb", buffering=0) if isinstance(self.file, str) else self.file

    def discard(self) -> None:
        """Let go of what the reply holds, when it is not sent after all."""
        if self.file is not None and not isinstance(self.file, str):
            self.file.close()


def plain(status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None) -> Reply:
    body = text.encode()
    headers = [_TEXT, _NOSNIFF, _NO_CACHE, (b"content-length", str(len(body)).encode())]
    return Reply(status, headers + (extra or []), body)


NOT_FOUND = "Not Found\n"
FORBIDDEN = "Forbidden: this asset needs a valid X-Twilio-Signature (or an unexpired share link)\n"
FORBIDDEN_FUNCTION = "Forbidden: this function needs a valid X-Twilio-Signature\n"
UNAVAILABLE = "Service Unavailable: the files of this environment's build cannot be read now\n"
# An environment's domain sent to a node run with --api-only: a load balancer's routing mistake,
# not a missing environment (RFC 9110 §15.5.20), so that the two never look alike in its logs.
MISDIRECTED = ("Misdirected Request: this node serves no environments (assethost serve --api-only); "
               "send environment domains to an edge node\n")


def hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host


def _signed(
    site: Site, scheme: str, host: str, raw_path: str, query: str, headers: dict[bytes, bytes],
    form: list[tuple[str, str]] | None, body: bytes | None,
) -> bool:
    """Whether the request carries a valid X-Twilio-Signature of the site's account: over the URL
    and a form's parameters, or over the URL with any other body's hash in it (`bodySHA256`)."""
    url = f"{scheme}://{host}{raw_path}" + (f"?{query}" if query else "")
    signature = headers.get(b"x-twilio-signature", b"").decode("latin-1")
    if form is not None:
        return signatures.valid(site.auth_token, url, form, signature)
    return signatures.valid(site.auth_token, url, (), signature, body)


class Responder:
    def __init__(
        self, snapshot: Callable[[], Snapshot], count: Callable[[str], None],
        public_scheme: str | None = None, trust_forwarded: bool = False, serves_environments: bool = True,
    ) -> None:
        self._snapshot = snapshot
        self._serves_environments = serves_environments
        self._count = count
        self._public_scheme = public_scheme
        self._trust_forwarded = trust_forwarded

    def answer(
        self, method: str, transport_scheme: str, raw_path: str, query: str, headers: dict[bytes, bytes],
        body: bytes | None, loaded: BuildFiles | None | bool = False,
    ) -> Reply:
        """A request as a front received it: the URL the client used is rebuilt (a configured public
        scheme, or trusted X-Forwarded-* headers) and a form body parsed, then answered. When the
        site's build is not loaded, the answer says to load it (`Reply.load`) and to ask again
        with `loaded`: the build then loaded, or None if it could not be."""
        if not self._serves_environments:
            return plain(421, MISDIRECTED)
        scheme = self._public_scheme or transport_scheme
        host = headers.get(b"host", b"").decode("latin-1")
        if self._trust_forwarded:
            proto, fwd_host = headers.get(b"x-forwarded-proto"), headers.get(b"x-forwarded-host")
            if proto:
                scheme = proto.decode("latin-1").split(",")[0].strip()
            if fwd_host:
                host = fwd_host.decode("latin-1").split(",")[0].strip()
        form = form_params(headers, body) if body is not None else None
        reply = self._respond(method, scheme, host, raw_path, query, headers, form, body, loaded)
        if reply.load is not None:
            reply.again = partial(self.answer, method, transport_scheme, raw_path, query, headers, body)
        elif method == "HEAD" and reply.body:
            reply.body = b""
        return reply

    def _respond(
        self, method: str, scheme: str, host: str, raw_path: str, query: str,
        headers: dict[bytes, bytes], form: list[tuple[str, str]] | None, body: bytes | None = None,
        loaded: BuildFiles | None | bool = False,
    ) -> Reply:
        snapshot = self._snapshot()
        site = snapshot.sites.get(hostname(host))
        if site is None:
            return plain(404, f"Not Found: no environment has the domain {hostname(host)}\n")
        if site.build_sid is None:
            self._count(site.account_sid)
            return plain(404, "Not Found: nothing is deployed to this environment\n")
        build = snapshot.files(site)
        if build is None and isinstance(loaded, BuildFiles) and loaded.build_sid == site.build_sid:
            build = loaded  # loaded for this request, and let go again already (a small cache)
        if build is None:
            if loaded is False:
                return Reply(0, [], load=site.build_sid)  # counted when answered
            self._count(site.account_sid)
            return plain(503, UNAVAILABLE, [(b"retry-after", b"10")])
        self._count(site.account_sid)
        entry = build.root if raw_path == "/" else (build.served.get(raw_path) or build.served.get(unquote(raw_path)))
        if entry is None and aliases.MARK in raw_path:
            entry = build.aliases.get(raw_path) or build.aliases.get(unquote(raw_path))
        if entry is None:
            if build.functions:
                fn = build.functions.get(raw_path) or build.functions.get(unquote(raw_path))
                if fn is not None and fn.visibility != "private":
                    return self._function(site, fn, method, scheme, host, raw_path, query, headers, form, body)
            # Private assets and functions are not served at all: the same 404 as a path that never existed.
            return plain(404, NOT_FOUND)
        if method == "OPTIONS":
            return Reply(204, list(_CORS_PREFLIGHT))
        if method not in SERVED_METHODS:
            return plain(405, "Method Not Allowed\n", [(b"allow", b"GET, HEAD, POST, OPTIONS")])
        if entry.visibility == "protected" and not (
            _signed(site, scheme, host, raw_path, query, headers, form, body)
            or share.valid(site.auth_token, site.domain, unquote(raw_path), query, time.time())
        ):
            return plain(403, FORBIDDEN)
        return self._file(method, entry, headers)

    @staticmethod
    def _function(
        site: Site, fn: FunctionEntry, method: str, scheme: str, host: str, raw_path: str, query: str,
        headers: dict[bytes, bytes], form: list[tuple[str, str]] | None, body: bytes | None,
    ) -> Reply:
        if fn.visibility == "protected" and not _signed(site, scheme, host, raw_path, query, headers, form, body):
            return plain(403, FORBIDDEN_FUNCTION)
        assert site.build_sid is not None
        return Reply(0, [], call=FunctionCall(
            account_sid=site.account_sid, service_sid=site.service_sid, environment_sid=site.environment_sid,
            build_sid=site.build_sid, auth_token=site.auth_token, include_credentials=site.include_credentials,
            variables=site.variables, function=fn, method=method, scheme=scheme, host=host, path=unquote(raw_path),
            query=query, headers=headers, form=form, body=body,
        ))

    def _file(self, method: str, entry: FileEntry, headers: dict[bytes, bytes]) -> Reply:
        variant = _variant(entry, headers) if entry.variants else None
        if not_modified(headers, entry.etag, entry.last_modified):
            # The 304 of the representation the client would get: a variant's carries its weak ETag.
            if variant is not None:
                return Reply(304, variant.not_modified_headers, raw_head=variant.not_modified_head)
            return Reply(304, entry.not_modified_headers, raw_head=entry.not_modified_head)
        head = method == "HEAD"
        size = entry.size
        span = byte_range(headers, entry.etag, entry.last_modified, size)
        if span == UNSATISFIABLE:
            return plain(416, "Range Not Satisfiable\n", [(b"content-range", f"bytes */{size}".encode())])
        if span is not None:
            first, last = span
            length = last - first + 1
            hdrs = entry.headers + [
                (b"content-range", f"bytes {first}-{last}/{size}".encode()),
                (b"content-length", str(length).encode()),
            ]
            return self._body(206, hdrs, entry, first, length, head)
        if variant is not None:
            if head:
                return Reply(200, variant.headers, raw_head=variant.head)
            if variant.body is not None:
                return Reply(200, variant.headers, variant.body, raw_head=variant.head)
            return Reply(200, variant.headers, file=variant.file, length=variant.size, raw_head=variant.head,
                         blob=entry.blob_hash, encoding=variant.encoding)
        reply = self._body(200, entry.ok_headers, entry, 0, size, head)
        reply.raw_head = entry.ok_head
        return reply

    @staticmethod
    def _body(status: int, headers: list[tuple[bytes, bytes]], entry: FileEntry, offset: int, length: int,
              head: bool) -> Reply:
        if head:
            return Reply(status, headers)
        if entry.body is not None:
            body = entry.body if (offset == 0 and length == entry.size) else entry.body[offset : offset + length]
            return Reply(status, headers, body)
        return Reply(status, headers, file=entry.file, offset=offset, length=length, blob=entry.blob_hash)


def _variant(entry: FileEntry, headers: dict[bytes, bytes]) -> Variant | None:
    """The compressed variant the request's Accept-Encoding chooses, if the file has it."""
    accept = headers.get(b"accept-encoding")
    enc = choose_encoding(accept.decode("latin-1"), ENCODINGS) if accept else None
    if enc is None or entry.variants is None:
        return None
    return next((v for v in entry.variants if v.encoding == enc), None)
