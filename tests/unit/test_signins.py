"""Console sign-ins in core: a token is good while its stored row lives, unexpired, and its
credential keeps the secret it was signed in with."""

from __future__ import annotations

from datetime import timedelta

import pytest

from assethost.core import accounts, clock, sessions
from assethost.core.errors import Unauthorized
from assethost.store.meta import MetaStore


@pytest.fixture
def meta(tmp_path):
    store = MetaStore(f"sqlite:///{tmp_path / 'assethost.sqlite3'}")
    store.migrate()
    yield store
    store.dispose()


@pytest.fixture
def account(meta):
    return accounts.create_account(meta)


def test_sign_in_check_and_close(meta, account):
    token, signin = sessions.sign_in(meta, account.sid, account.secret)
    assert signin == sessions.SignIn(account.sid, account.sid)
    assert sessions.check(meta, token) == signin
    sessions.close(meta, token)
    assert sessions.check(meta, token) is None


def test_wrong_credentials_open_nothing(meta, account):
    with pytest.raises(Unauthorized):
        sessions.sign_in(meta, account.sid, account.secret + "x")
    assert sessions.check(meta, "made-up") is None


def test_rotation_ends_token_sessions_not_key_sessions(meta, account):
    key = accounts.create_key(meta, account.sid)
    by_token, _ = sessions.sign_in(meta, account.sid, account.secret)
    by_key, _ = sessions.sign_in(meta, key.sid, key.secret)
    rotated = accounts.rotate_token(meta, account.sid)
    assert sessions.check(meta, by_token) is None
    assert sessions.check(meta, by_key) == sessions.SignIn(account.sid, key.sid)
    again, _ = sessions.sign_in(meta, account.sid, rotated.secret)
    assert sessions.check(meta, again) is not None


def test_deleting_the_key_ends_its_sessions(meta, account):
    key = accounts.create_key(meta, account.sid)
    other = accounts.create_key(meta, account.sid)
    by_key, _ = sessions.sign_in(meta, key.sid, key.secret)
    by_other, _ = sessions.sign_in(meta, other.sid, other.secret)
    assert accounts.delete_key(meta, key.sid) == account.sid
    assert sessions.check(meta, by_key) is None
    assert sessions.check(meta, by_other) is not None


def test_sessions_expire_and_are_cleared(meta, account, monkeypatch):
    old, _ = sessions.sign_in(meta, account.sid, account.secret)
    later = clock.now() + sessions.MAX_AGE + timedelta(seconds=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert sessions.check(meta, old) is None
    fresh, _ = sessions.sign_in(meta, account.sid, account.secret)  # and clears the expired row
    with meta.read() as tx:
        assert tx.console_sessions.count() == 1
    assert sessions.check(meta, fresh) is not None
