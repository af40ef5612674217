"""Console sign-ins, kept in the metadata store so that ending one ends it everywhere.

A sign-in is a random token (given to the browser inside the console's signed cookie) and a row
keyed by the token's SHA-256. The row remembers which credential signed in (the Account SID, or
an API key SID) and a digest of that credential's secret; a session is valid while its row
exists, has not expired and the credential still has that secret. So signing out (the row is
deleted), rotating the Auth Token (the digest no longer matches) and deleting the key (it no
longer exists) each end the session at its next request, on every worker and every node.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from assethost.core import accounts, clock, sids
from assethost.core.errors import Unauthorized
from assethost.core.ports import MetaStore, Tx

MAX_AGE = timedelta(hours=12)  # a sign-in lasts at most this long


@dataclass(frozen=True)
class SignIn:
    account_sid: str
    credential_sid: str


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _current_digest(tx: Tx, account_sid: str, credential_sid: str) -> str | None:
    """A digest of what the credential's secret is now (the Auth Token; for an API key, the hash
    of its secret), or None if it no longer exists."""
    if sids.is_sid(credential_sid, sids.ACCOUNT):
        account = tx.accounts.get(sid=credential_sid)
        secret = account.auth_token if account is not None and account.sid == account_sid else None
    else:
        key = tx.api_keys.get(sid=credential_sid)
        secret = key.secret_hash if key is not None and key.account_sid == account_sid else None
    return _digest(secret) if secret is not None else None


def sign_in(meta: MetaStore, username: str, password: str) -> tuple[str, SignIn]:
    """Check the credentials (Account SID + Auth Token, or API key SID + secret) and open a
    sign-in; returns its token. Unauthorized when they are not accepted."""
    account_sid = accounts.authenticate(meta, username, password)
    # The digest of the secret the person proved to know, not of whatever is stored by now.
    proven = _digest(password if sids.is_sid(username, sids.ACCOUNT) else accounts.hash_secret(password))
    token = secrets.token_urlsafe(32)
    now = clock.now()
    with meta.write() as tx:
        current = _current_digest(tx, account_sid, username)
        if current is None or not hmac.compare_digest(current, proven):  # changed since it was checked
            raise Unauthorized()
        tx.console_sessions.delete_before("expires_at", now)  # the table keeps only live ones
        tx.console_sessions.insert(id=_key(token), account_sid=account_sid, credential_sid=username,
                  credential_digest=proven, date_created=now, expires_at=now + MAX_AGE)
    return token, SignIn(account_sid=account_sid, credential_sid=username)


def check(meta: MetaStore, token: str) -> SignIn | None:
    """The sign-in a token stands for, or None when it ended (signed out, expired, its Auth
    Token rotated or its API key deleted)."""
    with meta.read() as tx:
        row = tx.console_sessions.get(id=_key(token))
        if row is None or row.expires_at <= clock.now():
            return None
        digest = _current_digest(tx, row.account_sid, row.credential_sid)
    if digest is None or not hmac.compare_digest(digest, row.credential_digest):
        return None
    return SignIn(account_sid=row.account_sid, credential_sid=row.credential_sid)


def close(meta: MetaStore, token: str) -> None:
    """Sign out: the token stops working at once, wherever it is replayed."""
    with meta.write() as tx:
        tx.console_sessions.delete(id=_key(token))
