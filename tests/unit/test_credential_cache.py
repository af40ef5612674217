"""The API's cache of verified credentials (`api.auth.Authenticator`), in process over a real
SQLite store: a change of credentials made in this process holds from the very next check, a
wrong secret is refused however often the right one was accepted, and the cache keeps at most
its bound of entries while every answer stays right. (tests/api/test_auth_cache.py checks the
same through servers: changes made by other processes.)"""

from __future__ import annotations

import secrets

import pytest
from worldkit import ACCOUNT_SID, AUTH_TOKEN, make_context

from assethost.api.auth import Authenticator
from assethost.core import accounts
from assethost.core.errors import Unauthorized


@pytest.fixture
def ctx(tmp_path):
    context = make_context(tmp_path)
    yield context
    context.meta.dispose()


def test_a_rotated_token_is_refused_at_the_next_check(ctx):
    auth = Authenticator(ctx.meta)
    assert auth.account(ACCOUNT_SID, AUTH_TOKEN) == ACCOUNT_SID
    assert auth.account(ACCOUNT_SID, AUTH_TOKEN) == ACCOUNT_SID  # now from the cache
    assert len(auth) == 1
    new = accounts.rotate_token(ctx.meta, ACCOUNT_SID).secret
    with pytest.raises(Unauthorized):
        auth.account(ACCOUNT_SID, AUTH_TOKEN)
    assert auth.account(ACCOUNT_SID, new) == ACCOUNT_SID
    with pytest.raises(Unauthorized):
        auth.account(ACCOUNT_SID, AUTH_TOKEN)


def test_a_deleted_key_is_refused_at_the_next_check(ctx):
    auth = Authenticator(ctx.meta)
    key = accounts.create_key(ctx.meta, ACCOUNT_SID)
    other = accounts.create_key(ctx.meta, ACCOUNT_SID)
    for _ in range(3):
        assert auth.account(key.sid, key.secret) == ACCOUNT_SID
        assert auth.account(other.sid, other.secret) == ACCOUNT_SID
    accounts.delete_key(ctx.meta, key.sid)
    with pytest.raises(Unauthorized):
        auth.account(key.sid, key.secret)
    assert auth.account(other.sid, other.secret) == ACCOUNT_SID  # checked anew, still good


def test_a_token_set_again_by_a_restart_with_another_token_holds_at_once(ctx):
    auth = Authenticator(ctx.meta)
    assert auth.account(ACCOUNT_SID, AUTH_TOKEN) == ACCOUNT_SID
    accounts.ensure_account(ctx.meta, ACCOUNT_SID, "f" * 32)  # what a node started with TWILIO_AUTH_TOKEN does
    with pytest.raises(Unauthorized):
        auth.account(ACCOUNT_SID, AUTH_TOKEN)
    assert auth.account(ACCOUNT_SID, "f" * 32) == ACCOUNT_SID


@pytest.mark.parametrize("wrong", ["", "0" * 32, AUTH_TOKEN[:-1], AUTH_TOKEN + "0", AUTH_TOKEN.upper(), "é" * 32])
def test_a_wrong_secret_never_passes_after_the_right_one(ctx, wrong):
    auth = Authenticator(ctx.meta)
    key = accounts.create_key(ctx.meta, ACCOUNT_SID)
    for _ in range(3):
        assert auth.account(ACCOUNT_SID, AUTH_TOKEN) == ACCOUNT_SID
        assert auth.account(key.sid, key.secret) == ACCOUNT_SID
        with pytest.raises(Unauthorized):
            auth.account(ACCOUNT_SID, wrong)
        with pytest.raises(Unauthorized):
            auth.account(key.sid, wrong)
        with pytest.raises(Unauthorized):
            auth.account(key.sid, AUTH_TOKEN)  # another credential's secret
        with pytest.raises(Unauthorized):
            auth.account(ACCOUNT_SID, key.secret)


def test_refused_credentials_are_not_kept(ctx):
    auth = Authenticator(ctx.meta)
    for _ in range(50):
        with pytest.raises(Unauthorized):
            auth.account("SK" + secrets.token_hex(16), secrets.token_hex(16))
        with pytest.raises(Unauthorized):
            auth.account(ACCOUNT_SID, secrets.token_hex(16))
    assert len(auth) == 0


def test_the_cache_is_bounded_and_stays_right_past_its_bound(ctx):
    bound = 8
    auth = Authenticator(ctx.meta, size=bound)
    keys = [accounts.create_key(ctx.meta, ACCOUNT_SID) for _ in range(3 * bound)]
    for _ in range(2):
        for key in keys:
            assert auth.account(key.sid, key.secret) == ACCOUNT_SID
            assert len(auth) <= bound
            with pytest.raises(Unauthorized):
                auth.account(key.sid, key.secret[::-1])
    assert len(auth) == bound
    accounts.delete_key(ctx.meta, keys[-1].sid)  # one that is cached
    with pytest.raises(Unauthorized):
        auth.account(keys[-1].sid, keys[-1].secret)
    assert all(auth.account(key.sid, key.secret) == ACCOUNT_SID for key in keys[:-1])
    assert len(auth) == bound
