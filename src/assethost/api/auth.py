"""HTTP Basic authentication: Account SID + Auth Token, or API Key SID + secret, with a bounded
cache of verified credentials.

Checking credentials in the database costs a transaction (most of an authenticated request's CPU,
measured in bench/RESULTS.md); the cache answers a repeated request with one plain read of
`credentials_version` instead. That value changes in the transaction of every change of
credentials (a rotated Auth Token, a deleted API key, a node started with another token), in this
process or in any other sharing the database, so the next request of every process checks anew:
a change holds at once. Only credentials the database accepted are kept, keyed by the SID, with a
digest of the secret that was accepted; a presented secret is compared with it in constant time,
and one that differs is checked in the database as if nothing were cached, so a wrong secret
never passes because a right one was seen. At most `size` SIDs are kept (least recently used
first out); there is one entry per credential, whatever is presented.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from assethost.core import accounts
from assethost.core.errors import Unauthorized
from assethost.core.ports import MetaStore

T = TypeVar("T")
CACHE_SIZE = 1024


def basic_credentials(header: str | None) -> tuple[str, str]:
    if not header or not header[:6].lower() == "basic ":
        raise Unauthorized()
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized() from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise Unauthorized()
    return username, password


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


class Authenticator:
    """The account a username and password act for (called in a worker thread: it reads the
    database). One per API application, shared by its threads."""

    def __init__(self, meta: MetaStore, size: int = CACHE_SIZE) -> None:
        self.meta = meta
        self.size = size
        self._lock = threading.Lock()
        self._version: str | None = None  # the credentials_version every entry was verified at
        self._entries: OrderedDict[str, tuple[bytes, str]] = OrderedDict()  # SID -> (digest, account)

    def __len__(self) -> int:
        return len(self._entries)

    def account(self, username: str, password: str) -> str:
        """The account SID, or Unauthorized."""
        current = self.meta.credentials_version()
        presented = _digest(password)
        with self._lock:
            if current != self._version:
                self._entries.clear()
                self._version = current
            entry = self._entries.get(username)
            if entry is not None:
                self._entries.move_to_end(username)
        if entry is not None and hmac.compare_digest(entry[0], presented):
            return entry[1]
        account_sid, verified_at = accounts.verify(self.meta, username, password)
        with self._lock:
            # Kept only if nothing changed since the read above; otherwise the next request sees
            # the new version, empties the cache and checks again.
            if verified_at == self._version:
                self._entries[username] = (presented, account_sid)
                self._entries.move_to_end(username)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return account_sid


def _authenticator(request: Request) -> Authenticator:
    found: Authenticator = request.app.state.authenticator
    return found


async def authenticate(request: Request) -> str:
    """The account SID the request acts for, or Unauthorized."""
    username, password = basic_credentials(request.headers.get("authorization"))
    return await run_in_threadpool(_authenticator(request).account, username, password)


async def as_account(request: Request, work: Callable[[str], T]) -> T:
    """`work(account SID)` for the account the request acts for, in one worker thread: the check
    of the credentials and the work share a thread hop (Unauthorized before any work)."""
    username, password = basic_credentials(request.headers.get("authorization"))
    check = _authenticator(request).account

    def authenticated() -> T:
        return work(check(username, password))

    return await run_in_threadpool(authenticated)
