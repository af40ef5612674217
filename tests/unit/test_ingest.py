"""core.ingest in process, on SQLite and a blob folder in a temporary directory: each destination
checks before the bytes are committed, so a refused or failed upload stores nothing."""

from __future__ import annotations

import errno
import hashlib
import os

import pytest

from assethost.app import open_context
from assethost.config import Limits, Settings
from assethost.core import accounts, ingest, legacy, resources, services
from assethost.core.errors import Invalid, NotFound, StorageFull, TooLarge
from assethost.store.blobs import local

DATA = b"RIFF....WAVEfmt " + bytes(range(256)) * 4
DIGEST = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def ctx(tmp_path):
    ctx = open_context(Settings(data_dir=tmp_path))
    yield ctx
    ctx.meta.dispose()


@pytest.fixture
def account(ctx):
    return accounts.create_account(ctx.meta).account_sid


def _received(ctx, path: str | None, visibility: str | None = "public", data: bytes = DATA) -> ingest.Received:
    writer = ctx.blobs.writer(len(data) + 1)
    writer.write(data)
    fields = {k: v for k, v in (("Path", path), ("Visibility", visibility)) if v is not None}
    return ingest.Received(fields=fields, content=writer, filename="ahoy.wav", content_type="audio/wav")


def _blobs_stored(ctx) -> list[str]:
    root = ctx.blobs.local_path("0" * 64).parents[2]
    return sorted(p.name for p in root.rglob("*") if p.is_file() and p.parent.parent.parent == root)


def test_a_new_version_is_checked_committed_and_added(ctx, account):
    service = services.create(ctx, account, "ingest", "Ingest", None, None)
    asset = resources.create(ctx, account, "ingest", "asset", "ahoy")
    destination = ingest.NewVersion(account, "ingest", "asset", asset.sid).locate(ctx)
    assert destination == ingest.NewVersion(account, service.sid, "asset", asset.sid)

    version = ingest.store(ctx, destination, _received(ctx, "/ahoy.wav", "protected"))

    assert (version.path, version.visibility, version.blob_hash, version.size, version.content_type) == (
        "/ahoy.wav", "protected", DIGEST, len(DATA), "audio/wav")
    assert ctx.blobs.read(DIGEST) == DATA
    assert [v.sid for v in resources.version_page(ctx, account, service.sid, "asset", asset.sid,
                                                   resources.PageRequest()).rows] == [version.sid]


def test_a_wrong_address_fails_before_any_body_is_read(ctx, account):
    services.create(ctx, account, "ingest", "Ingest", None, None)
    with pytest.raises(NotFound) as caught:
        ingest.NewVersion(account, "ingest", "asset", "ZH" + "0" * 32).locate(ctx)
    assert caught.value.message == f"The requested resource /Services/ingest/Assets/ZH{'0' * 32} was not found"


@pytest.mark.parametrize(("path", "visibility", "error"), [
    (None, "public", Invalid), ("/../up.wav", "public", Invalid), ("/a.wav", "secret", Invalid),
])
def test_a_refused_upload_commits_nothing(ctx, account, path, visibility, error):
    services.create(ctx, account, "ingest", "Ingest", None, None)
    asset = resources.create(ctx, account, "ingest", "asset", "ahoy")
    destination = ingest.NewVersion(account, "ingest", "asset", asset.sid).locate(ctx)
    with pytest.raises(error):
        ingest.store(ctx, destination, _received(ctx, path, visibility))
    assert not ctx.blobs.exists(DIGEST)
    assert _blobs_stored(ctx) == []


def test_a_file_over_the_limit_is_refused_before_commit(tmp_path):
    ctx = open_context(Settings(data_dir=tmp_path, limits=Limits(max_private_bytes=100)))
    try:
        account = accounts.create_account(ctx.meta).account_sid
        destination = ingest.WorkspaceFile(account, services.create(ctx, account, "w", "W", None, "true").sid)
        with pytest.raises(TooLarge):
            ingest.store(ctx, destination.locate(ctx), _received(ctx, "/big.wav", "private"))
        assert not ctx.blobs.exists(DIGEST)
    finally:
        ctx.meta.dispose()


def test_a_disk_that_fails_at_commit_gives_507_and_adds_no_version(ctx, account, monkeypatch):
    service = services.create(ctx, account, "ingest", "Ingest", None, "true")
    destination = ingest.WorkspaceFile(account, service.sid).locate(ctx)
    received = _received(ctx, "/ahoy.wav")

    def full(*_args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(local.os, "fsync", full)
    with pytest.raises(StorageFull):
        ingest.store(ctx, destination, received)
    monkeypatch.undo()
    assert not ctx.blobs.exists(DIGEST)
    with ctx.meta.read() as tx:
        assert tx.versions.count(service_sid=service.sid) == 0


def test_the_workspace_makes_an_asset_per_path_and_a_version_for_the_same_path(ctx, account):
    service = services.create(ctx, account, "ingest", "Ingest", None, "true")
    destination = ingest.WorkspaceFile(account, "ingest").locate(ctx)
    first = ingest.store(ctx, destination, _received(ctx, "/ahoy.wav"))
    second = ingest.store(ctx, destination, _received(ctx, "/ahoy.wav", "private", DATA + b"2"))
    other = ingest.store(ctx, destination, _received(ctx, "/other.wav"))
    assert first.resource_sid == second.resource_sid != other.resource_sid
    with ctx.meta.read() as tx:
        assert [r.friendly_name for r in tx.resources.select(service_sid=service.sid)] == ["/ahoy.wav", "/other.wav"]


def test_a_legacy_file_is_live_at_once(ctx, account):
    version = ingest.store(ctx, ingest.LegacyFile(account), _received(ctx, "ahoy.wav"))
    assert (version.path, version.visibility) == ("/assets/ahoy.wav", "public")
    domain = legacy.runtime_domain(ctx, account)
    (listed,) = legacy.files(ctx, account, f"http://{domain}")
    assert (listed.version.sid, listed.url) == (version.sid, f"http://{domain}/assets/ahoy.wav")
    with pytest.raises(Invalid):
        ingest.store(ctx, ingest.LegacyFile(account), _received(ctx, "a/b.wav"))


def test_a_legacy_file_past_the_count_limit_is_refused_before_its_bytes_are_stored(tmp_path):
    ctx = open_context(Settings(data_dir=tmp_path, limits=Limits(max_private_versions=1)))
    try:
        account = accounts.create_account(ctx.meta).account_sid
        ingest.store(ctx, ingest.LegacyFile(account), _received(ctx, "one.wav", "private"))
        second = DATA + b"second"
        with pytest.raises(Invalid) as caught:
            ingest.store(ctx, ingest.LegacyFile(account), _received(ctx, "two.wav", "private", second))
        assert caught.value.message == ("/assets/two.wav cannot be added: Assets (Legacy) holds at most 1 private "
                                        "files; there are 1 already")
        assert not ctx.blobs.exists(hashlib.sha256(second).hexdigest())
        # replacing the one private file is no new file: it fits
        replaced = ingest.store(ctx, ingest.LegacyFile(account), _received(ctx, "one.wav", "private", second))
        assert replaced.blob_hash == hashlib.sha256(second).hexdigest()
    finally:
        ctx.meta.dispose()
