"""Accounts and their credentials: Auth Tokens and API keys.

A change of Auth Token bumps the generation counter that deployments bump too, so every edge
process sharing the database (every worker, every node) reloads within its poll interval and
checks signatures with the new token only. Every change of credentials (a token, a deleted key)
also gives `credentials_version` a new value in the same transaction: the API's cache of verified
credentials (`api/auth.py`) reads it at each request, so a change holds at once everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from assethost.core import clock, sids
from assethost.core.errors import Invalid, NotFound, Unauthorized
from assethost.core.ports import Duplicate, MetaStore


@dataclass(frozen=True)
class Credentials:
    sid: str
    secret: str
    account_sid: str


def hash_secret(secret: str) -> str:
    # Key secrets are 32 random bytes, so a plain SHA-256 is as strong as a slow hash here
    # and keeps per-request authentication cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_token() -> str:
    return secrets.token_hex(16)


def credentials_problem(account_sid: str, auth_token: str) -> str | None:
    """What is wrong with an account SID and token given by TWILIO_* variables, if anything."""
    if not sids.is_sid(account_sid, sids.ACCOUNT):
        return f"TWILIO_ACCOUNT_SID must be AC followed by 32 lower-case hex digits (got {account_sid!r})"
    if not auth_token:
        return "TWILIO_AUTH_TOKEN is empty"
    return None


def ensure_account(meta: MetaStore, account_sid: str, auth_token: str) -> bool:
    """Make sure the account exists with this token (as given by TWILIO_* variables).
    Returns True when it was created."""
    problem = credentials_problem(account_sid, auth_token)
    if problem:
        raise Invalid(problem)
    try:
        with meta.write() as tx:
            if tx.accounts.get(sid=account_sid) is None:
                tx.accounts.insert(sid=account_sid, friendly_name="Main account", auth_token=auth_token,
                    date_created=clock.now(),
                )
                return True
    except Duplicate:  # nodes starting at once on a new database: another one created it first
        pass
    with meta.write() as tx:
        row = tx.accounts.one(sid=account_sid)
        if row.auth_token != auth_token:
            tx.accounts.update({"sid": account_sid}, auth_token=auth_token)
            tx.bump_generation()
            tx.bump_credentials()
        return False


def create_account(meta: MetaStore, friendly_name: str = "Account") -> Credentials:
    sid, token = sids.new(sids.ACCOUNT), _new_token()
    with meta.write() as tx:
        tx.accounts.insert(sid=sid, friendly_name=friendly_name, auth_token=token, date_created=clock.now())
    return Credentials(sid=sid, secret=token, account_sid=sid)


def rotate_token(meta: MetaStore, account_sid: str) -> Credentials:
    """Give the account a new random Auth Token; the old one stops working everywhere: for the
    API at once, for signatures on the edge within a poll, for console sessions signed in with it
    at their next request."""
    token = _new_token()
    with meta.write() as tx:
        if tx.accounts.update({"sid": account_sid}, auth_token=token) == 0:
            raise NotFound(f"Account {account_sid} does not exist")
        tx.bump_generation()
        tx.bump_credentials()
    return Credentials(sid=account_sid, secret=token, account_sid=account_sid)


def list_accounts(meta: MetaStore) -> list[str]:
    with meta.read() as tx:
        return [row.sid for row in tx.accounts.select()]


def create_key(meta: MetaStore, account_sid: str, friendly_name: str = "assethost key") -> Credentials:
    sid, secret = sids.new(sids.API_KEY), secrets.token_urlsafe(32)
    with meta.write() as tx:
        if tx.accounts.get(sid=account_sid) is None:
            raise NotFound(f"Account {account_sid} does not exist")
        tx.api_keys.insert(sid=sid, account_sid=account_sid, friendly_name=friendly_name,
            secret_hash=hash_secret(secret), date_created=clock.now(),
        )
    return Credentials(sid=sid, secret=secret, account_sid=account_sid)


def delete_key(meta: MetaStore, key_sid: str) -> str:
    """Remove an API key; the API refuses it at once, and console sessions signed in with it end
    at their next request. Returns the account SID the key acted for."""
    with meta.write() as tx:
        row = tx.api_keys.get(sid=key_sid) if sids.is_sid(key_sid, sids.API_KEY) else None
        if row is None:
            raise NotFound(f"API key {key_sid} does not exist")
        tx.api_keys.delete(sid=key_sid)
        tx.bump_credentials()
    return row.account_sid


def authenticate(meta: MetaStore, username: str, password: str) -> str:
    """Account SID + Auth Token, or API Key SID + secret. Returns the account SID."""
    return verify(meta, username, password)[0]


def verify(meta: MetaStore, username: str, password: str) -> tuple[str, str]:
    """`authenticate`, with the `credentials_version` the check was made at (read in the same
    transaction), for a cache of verified credentials to know until when its answer holds."""
    with meta.read() as tx:
        version = tx.credentials_version()
        if sids.is_sid(username, sids.ACCOUNT):
            account = tx.accounts.get(sid=username)
            if account is not None and hmac.compare_digest(account.auth_token.encode(), password.encode()):
                return account.sid, version
        elif sids.is_sid(username, sids.API_KEY):
            key = tx.api_keys.get(sid=username)
            if key is not None and hmac.compare_digest(key.secret_hash, hash_secret(password)):
                return key.account_sid, version
    raise Unauthorized()
