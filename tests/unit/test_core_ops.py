"""The domain operations of assethost.core, in process on SQLite in a temporary folder: services,
assets and functions with their versions, builds, environments, deployments and variables, with
the exact rows they return and the Twilio status and code of each refusal.

Rows are read only through their attributes (`row.sid`), which is all callers may rely on."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from assethost.config import Limits
from assethost.core import accounts, builds, environments, paging, resources, services, sids
from assethost.core.context import Context
from assethost.core.errors import AssetHostError, Conflict, Invalid, NotFound
from assethost.core.paging import PageRequest
from assethost.store.blobs import open_blob_store
from assethost.store.meta import MetaStore

# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture
def ctx(tmp_path) -> Iterator[Context]:
    """The one place these tests make a Context: a migrated SQLite database and a blob folder in
    tmp_path. No packagers: builds here hold assets only, whose packaging is the blob check."""
    meta = MetaStore(f"sqlite:///{tmp_path / 'meta.sqlite3'}")
    meta.migrate()
    yield Context(meta=meta, blobs=open_blob_store(tmp_path / "blobs"), limits=Limits(), scratch_dir=tmp_path)
    meta.dispose()


@pytest.fixture
def account(ctx) -> str:
    return accounts.create_account(ctx.meta).account_sid


@pytest.fixture
def service(ctx, account) -> Any:
    return services.create(ctx, account, "shop", "The shop", None, None)


@contextmanager
def refused(cls: type[AssetHostError], status: int, code: int, message: str | None = None) -> Iterator[None]:
    """The operation raises `cls` with Twilio's status and code (and this exact message)."""
    with pytest.raises(cls) as info:
        yield
    assert (info.value.status, info.value.code) == (status, code)
    if message is not None:
        assert info.value.message == message


def asset_version(ctx, account, service_sid, path: str, content: bytes, visibility: str = "public") -> Any:
    asset = resources.create(ctx, account, service_sid, "asset", path)
    blob, size = ctx.blobs.put(content)
    return resources.add_version(ctx, account, service_sid, "asset", asset.sid, path, visibility, blob, size, None)


def completed_build(ctx, account, service_sid, version_sids: list[str]) -> Any:
    build, _ = builds.create(ctx, account, service_sid, version_sids, [], None, None)
    assert builds.finish(ctx, build.sid) == "completed"
    return builds.get(ctx, account, service_sid, build.sid)[0]


# ------------------------------------------------------------------------------------------ services


def test_service_create_get_update_delete(ctx, account):
    svc = services.create(ctx, account, "shop", "The shop", None, None)
    assert sids.is_sid(svc.sid, sids.SERVICE)
    assert (svc.account_sid, svc.unique_name, svc.friendly_name) == (account, "shop", "The shop")
    assert (svc.include_credentials, svc.ui_editable) == (True, False)  # Twilio's defaults
    assert re.fullmatch(r"shop-\d{4}", svc.domain_base)

    assert services.get(ctx, account, svc.sid).sid == svc.sid
    assert services.get(ctx, account, "shop").sid == svc.sid  # by unique name too

    updated = services.update(ctx, account, svc.sid, "Renamed", "false", "true")
    assert (updated.sid, updated.unique_name, updated.friendly_name) == (svc.sid, "shop", "Renamed")
    assert (updated.include_credentials, updated.ui_editable) == (False, True)
    unchanged = services.update(ctx, account, "shop", None, None, None)
    assert (unchanged.friendly_name, unchanged.domain_base) == ("Renamed", svc.domain_base)

    services.delete(ctx, account, svc.sid)
    with refused(NotFound, 404, 20404, f"The requested resource /Services/{svc.sid} was not found"):
        services.get(ctx, account, svc.sid)
    with refused(NotFound, 404, 20404, f"The requested resource /Services/{svc.sid} was not found"):
        services.delete(ctx, account, svc.sid)


def test_service_unique_name_is_unique_per_account(ctx, account, service):
    with refused(Conflict, 409, 20409, "Service with UniqueName 'shop' already exists"):
        services.create(ctx, account, "shop", "Again", None, None)
    other = accounts.create_account(ctx.meta).account_sid
    theirs = services.create(ctx, other, "shop", "Theirs", None, None)
    assert theirs.sid != service.sid
    assert theirs.domain_base != service.domain_base  # domains are global, names per account
    assert services.get(ctx, other, "shop").sid == theirs.sid
    assert services.get(ctx, account, "shop").sid == service.sid
    # another account's service is not found, not forbidden
    with refused(NotFound, 404, 20404, f"The requested resource /Services/{service.sid} was not found"):
        services.get(ctx, other, service.sid)
    with refused(NotFound, 404, 20404):
        services.update(ctx, other, service.sid, "hijacked", None, None)
    with refused(NotFound, 404, 20404):
        services.delete(ctx, other, service.sid)
    assert services.get(ctx, account, service.sid).friendly_name == "The shop"


def test_service_parameters_are_checked(ctx, account):
    with refused(Invalid, 400, 20001, "Missing required parameter UniqueName in the post body"):
        services.create(ctx, account, None, "x", None, None)
    with refused(Invalid, 400, 20001, "Missing required parameter FriendlyName in the post body"):
        services.create(ctx, account, "name", "", None, None)
    with refused(Invalid, 400, 20001):
        services.create(ctx, account, "-bad-", "x", None, None)
    with refused(Invalid, 400, 20001, f"UniqueName may not have the form of a SID (got {'ZS' + '0' * 32!r})"):
        services.create(ctx, account, "ZS" + "0" * 32, "x", None, None)
    assert services.page(ctx, account, PageRequest()).rows == []


def test_service_pages_follow_their_tokens(ctx, account):
    made = [services.create(ctx, account, f"svc-{i}", f"Service {i}", None, None).sid for i in range(5)]
    first = services.page(ctx, account, PageRequest.parse("2", None, None))
    assert [r.sid for r in first.rows] == made[:2]
    assert first.has_next and first.previous_token is None
    second = services.page(ctx, account, PageRequest.parse("2", "1", first.next_token))
    assert [r.sid for r in second.rows] == made[2:4]
    third = services.page(ctx, account, PageRequest.parse("2", "2", second.next_token))
    assert [r.sid for r in third.rows] == made[4:]
    assert not third.has_next and third.next_token is None
    back = services.page(ctx, account, PageRequest.parse("2", "1", third.previous_token))
    assert [r.sid for r in back.rows] == made[2:4]
    by_offset = services.page(ctx, account, PageRequest.parse("2", "1", None))
    assert [r.sid for r in by_offset.rows] == made[2:4]
    with refused(Invalid, 400, 20001, "PageSize must be between 1 and 1000 (got 0)"):
        PageRequest.parse("0", None, None)
    with refused(Invalid, 400, 20001, "Invalid PageToken 'XX1'"):
        PageRequest.parse(None, None, "XX1")


def test_newest_first_pages_follow_their_tokens_to_older_rows(ctx, account):
    made = [services.create(ctx, account, f"svc-{i}", f"Service {i}", None, None).sid for i in range(5)]
    newest = made[::-1]
    where = {"account_sid": account}

    def fetch(size: str, page: str | None, token: str | None) -> paging.Page[Any]:
        with ctx.meta.read() as tx:
            return paging.fetch(tx.services, where, PageRequest.parse(size, page, token), newest_first=True)

    first = fetch("2", None, None)
    assert [r.sid for r in first.rows] == newest[:2]
    assert first.has_next and first.previous_token is None
    second = fetch("2", "1", first.next_token)
    assert [r.sid for r in second.rows] == newest[2:4]
    third = fetch("2", "2", second.next_token)
    assert [r.sid for r in third.rows] == newest[4:]
    assert not third.has_next and third.next_token is None
    back = fetch("2", "1", third.previous_token)
    assert [r.sid for r in back.rows] == newest[2:4] and back.has_next
    assert [r.sid for r in fetch("2", "0", back.previous_token).rows] == newest[:2]
    assert [r.sid for r in fetch("2", "1", None).rows] == newest[2:4]
    # a row added while paging comes first on page 0, and does not move the older pages
    services.create(ctx, account, "svc-new", "New", None, None)
    assert [r.sid for r in fetch("2", "1", first.next_token).rows] == newest[2:4]


# ------------------------------------------------------------------------------------------ resources


@pytest.mark.parametrize("kind", ["asset", "function"])
def test_resource_create_list_update_delete(ctx, account, service, kind):
    made = [resources.create(ctx, account, service.sid, kind, f"/{kind}-{i}") for i in range(3)]
    first = made[0]
    assert sids.is_sid(first.sid, sids.RESOURCE)
    assert (first.account_sid, first.service_sid, first.kind, first.friendly_name) == (
        account, service.sid, kind, f"/{kind}-0")
    other_kind = "function" if kind == "asset" else "asset"
    resources.create(ctx, account, service.sid, other_kind, "/not listed")

    listed = resources.page(ctx, account, "shop", kind, PageRequest())
    assert [r.sid for r in listed.rows] == [r.sid for r in made]
    assert resources.get(ctx, account, service.sid, kind, first.sid).friendly_name == f"/{kind}-0"

    collection = {"asset": "Assets", "function": "Functions"}[kind]
    missing = sids.new(sids.RESOURCE)
    with refused(NotFound, 404, 20404, f"The requested resource /Services/{service.sid}/{collection}/{missing} "
                                       "was not found"):
        resources.get(ctx, account, service.sid, kind, missing)
    # assets and functions share the SID prefix, but one is not found as the other
    other_collection = {"asset": "Functions", "function": "Assets"}[kind]
    with refused(NotFound, 404, 20404, f"The requested resource /Services/{service.sid}/{other_collection}/"
                                       f"{first.sid} was not found"):
        resources.get(ctx, account, service.sid, other_kind, first.sid)

    renamed = resources.update(ctx, account, service.sid, kind, first.sid, "renamed")
    assert (renamed.sid, renamed.friendly_name) == (first.sid, "renamed")
    with refused(Invalid, 400, 20001, "Missing required parameter FriendlyName in the post body"):
        resources.update(ctx, account, service.sid, kind, first.sid, None)

    resources.delete(ctx, account, service.sid, kind, first.sid)
    with refused(NotFound, 404, 20404):
        resources.get(ctx, account, service.sid, kind, first.sid)
    assert [r.sid for r in resources.page(ctx, account, service.sid, kind, PageRequest()).rows] == [
        r.sid for r in made[1:]]


def test_versions_are_added_listed_and_read(ctx, account, service):
    asset = resources.create(ctx, account, service.sid, "asset", "logo")
    blob, size = ctx.blobs.put(b"hello\n")
    assert (blob, size) == (hashlib.sha256(b"hello\n").hexdigest(), 6)
    path, visibility = resources.check_upload(ctx, "asset", "hello.txt", "protected", size)
    assert (path, visibility) == ("/hello.txt", "protected")  # the leading slash is added
    v1 = resources.add_version(ctx, account, service.sid, "asset", asset.sid, path, visibility, blob, size, None)
    assert sids.is_sid(v1.sid, sids.VERSION)
    assert (v1.resource_sid, v1.service_sid, v1.account_sid, v1.kind) == (asset.sid, service.sid, account, "asset")
    assert (v1.path, v1.visibility, v1.size, v1.blob_hash) == ("/hello.txt", "protected", 6, blob)
    assert v1.content_type == "text/plain"  # from the extension, nothing having been declared
    v2 = resources.add_version(ctx, account, service.sid, "asset", asset.sid, "/hello.txt", "public", blob, size,
                               "text/x-greeting")
    assert v2.content_type == "text/x-greeting"

    got = resources.get_version(ctx, account, service.sid, "asset", asset.sid, v1.sid)
    assert (got.sid, got.path, got.visibility) == (v1.sid, "/hello.txt", "protected")
    page = resources.version_page(ctx, account, service.sid, "asset", asset.sid, PageRequest())
    assert [v.sid for v in page.rows] == [v1.sid, v2.sid]
    everything = resources.service_version_page(ctx, account, service.sid, None, PageRequest())
    assert [v.sid for v in everything.rows] == [v1.sid, v2.sid]
    assert resources.service_version_page(ctx, account, service.sid, "function", PageRequest()).rows == []

    missing = sids.new(sids.VERSION)
    with refused(NotFound, 404, 20404, f"The requested resource /Services/{service.sid}/Assets/{asset.sid}"
                                       f"/Versions/{missing} was not found"):
        resources.get_version(ctx, account, service.sid, "asset", asset.sid, missing)
    with refused(Invalid, 400, 20001, "Path '/a/../b' may not contain empty, '.' or '..' segments"):
        resources.check_upload(ctx, "asset", "/a/../b", "public", 1)
    with refused(Invalid, 400, 20001, "Visibility must be one of public, protected, private (got 'secret')"):
        resources.check_upload(ctx, "asset", "/a", "secret", 1)


def test_a_version_from_stored_content(ctx, account, service):
    original = asset_version(ctx, account, service.sid, "/a.txt", b"same bytes")
    other = resources.create(ctx, account, service.sid, "asset", "b")
    copy = resources.add_version_from_content(ctx, account, service.sid, "asset", other.sid, "/b.txt", "private",
                                              original.blob_hash, None)
    assert (copy.resource_sid, copy.path, copy.visibility) == (other.sid, "/b.txt", "private")
    assert (copy.blob_hash, copy.size, copy.content_type) == (original.blob_hash, 10, "text/plain")

    unknown = hashlib.sha256(b"never uploaded").hexdigest()
    with refused(NotFound, 404, 20404, f"No content with SHA-256 {unknown} is stored for this account; "
                                       "upload it instead"):
        resources.add_version_from_content(ctx, account, service.sid, "asset", other.sid, "/c", "public", unknown,
                                           None)
    # content another account uploaded cannot be named
    stranger = accounts.create_account(ctx.meta).account_sid
    their_service = services.create(ctx, stranger, "theirs", "Theirs", None, None)
    theirs = resources.create(ctx, stranger, their_service.sid, "asset", "t")
    with refused(NotFound, 404, 20404):
        resources.add_version_from_content(ctx, stranger, their_service.sid, "asset", theirs.sid, "/t", "public",
                                           original.blob_hash, None)
    with refused(Invalid, 400, 20001, "ContentSha256 must be the 64 hex digits of the content's SHA-256"):
        resources.add_version_from_content(ctx, account, service.sid, "asset", other.sid, "/c", "public", "abc", None)


# ------------------------------------------------------------------------------------------ builds


def test_a_build_is_made_of_versions_and_completes(ctx, account, service):
    a = asset_version(ctx, account, service.sid, "/a.txt", b"a")
    b = asset_version(ctx, account, service.sid, "/b.txt", b"b", "private")
    build, entries = builds.create(ctx, account, service.sid, [a.sid, b.sid], [], None, None)
    assert sids.is_sid(build.sid, sids.BUILD)
    assert (build.service_sid, build.account_sid, build.status, build.runtime) == (
        service.sid, account, "building", "node22")
    assert [(e.version_sid, e.path, e.visibility) for e in entries] == [
        (a.sid, "/a.txt", "public"), (b.sid, "/b.txt", "private")]

    assert builds.finish(ctx, build.sid) == "completed"
    assert builds.finish(ctx, build.sid) == "completed"  # finishing again changes nothing
    done, entries = builds.get(ctx, account, service.sid, build.sid)
    assert (done.status, done.status_reason) == ("completed", None)
    assert sorted(e.blob_hash for e in entries) == sorted([a.blob_hash, b.blob_hash])
    listed, by_build = builds.page(ctx, account, service.sid, PageRequest())
    assert [r.sid for r in listed.rows] == [build.sid]
    assert [e.path for e in by_build[build.sid]] == ["/a.txt", "/b.txt"]

    builds.delete(ctx, account, service.sid, build.sid)
    with refused(NotFound, 404, 20404, f"The requested resource /Services/{service.sid}/Builds/{build.sid} "
                                       "was not found"):
        builds.get(ctx, account, service.sid, build.sid)


def test_a_build_whose_bytes_are_missing_fails(ctx, account, service):
    asset = resources.create(ctx, account, service.sid, "asset", "gone")
    absent = hashlib.sha256(b"not in the blob store").hexdigest()
    version = resources.add_version(ctx, account, service.sid, "asset", asset.sid, "/gone.txt", "public", absent, 21,
                                    None)
    build, _ = builds.create(ctx, account, service.sid, [version.sid], [], None, None)
    assert builds.finish(ctx, build.sid) == "failed"
    failed = builds.get(ctx, account, service.sid, build.sid)[0]
    assert (failed.status, failed.status_reason) == ("failed", "content missing for /gone.txt")
    env = environments.create(ctx, account, service.sid, "prod", None)
    with refused(Invalid, 400, 20001, f"Build {build.sid} cannot be deployed: its status is failed, not completed"):
        environments.deploy(ctx, account, service.sid, env.sid, build.sid)


def test_builds_refuse_what_they_cannot_hold(ctx, account, service):
    a = asset_version(ctx, account, service.sid, "/a.txt", b"a")
    a_again = asset_version(ctx, account, service.sid, "/a.txt", b"other a")
    fn = resources.create(ctx, account, service.sid, "function", "/fn")
    code, size = ctx.blobs.put(b"exports.handler = () => {};\n")
    fv = resources.add_version(ctx, account, service.sid, "function", fn.sid, "/fn", "public", code, size, None)
    with refused(Invalid, 400, 20001, "At least one Function Version or Asset Version is required for Build."):
        builds.create(ctx, account, service.sid, [], [], None, None)
    with refused(Invalid, 400, 20001, f"AssetVersions lists {a.sid} more than once"):
        builds.create(ctx, account, service.sid, [a.sid, a.sid], [], None, None)
    with refused(Invalid, 400, 20001, "AssetVersions contains 'ZNnope', which is not a Version SID (ZN…)"):
        builds.create(ctx, account, service.sid, ["ZNnope"], [], None, None)
    with refused(Invalid, 400, 20001, f"Two versions in this build have the path /a.txt: {a.sid} and {a_again.sid}"):
        builds.create(ctx, account, service.sid, [a.sid, a_again.sid], [], None, None)
    with refused(Invalid, 400, 20001, f"AssetVersions: {fv.sid} is a function version, not an asset version"):
        builds.create(ctx, account, service.sid, [fv.sid], [], None, None)
    accepted = "node8, node10, node12, node14, node16, node18, node20, node22"
    for runtime in ("Node 22", "node99", "python3", "node22 "):
        with refused(Invalid, 400, 20001, f"Runtime must be one of {accepted} (got {runtime!r})"):
            builds.create(ctx, account, service.sid, [a.sid], [], None, runtime)
    other = services.create(ctx, account, "other", "Other", None, None)
    with refused(NotFound, 404, 20404, f"AssetVersions: the version {a.sid} was not found in this service"):
        builds.create(ctx, account, other.sid, [a.sid], [], None, None)
    assert builds.page(ctx, account, service.sid, PageRequest())[0].rows == []  # nothing half-made


# ------------------------------------------------------------------------------------------ environments


def test_environments_have_their_own_domains(ctx, account, service):
    prod = environments.create(ctx, account, service.sid, "production", None)
    dev = environments.create(ctx, account, "shop", "dev", "dev")
    assert sids.is_sid(prod.sid, sids.ENVIRONMENT)
    assert (prod.service_sid, prod.unique_name, prod.domain_suffix, prod.build_sid) == (
        service.sid, "production", None, None)
    assert (prod.domain_label, dev.domain_label) == (service.domain_base, f"{service.domain_base}-dev")
    assert environments.domain_name(dev.domain_label, "example.com") == f"{service.domain_base}-dev.example.com"

    duplicate = "Environment with this UniqueName or DomainSuffix already exists."
    with refused(Conflict, 409, 20409, duplicate):
        environments.create(ctx, account, service.sid, "dev", "other")
    with refused(Conflict, 409, 20409, duplicate):
        environments.create(ctx, account, service.sid, "staging", "dev")
    with refused(Invalid, 400, 20001, "DomainSuffix may only contain letters, digits and hyphens (got 'a.b')"):
        environments.create(ctx, account, service.sid, "dotted", "a.b")

    assert [e.sid for e in environments.page(ctx, account, service.sid, PageRequest()).rows] == [prod.sid, dev.sid]
    assert environments.get(ctx, account, service.sid, dev.sid).unique_name == "dev"
    environments.delete(ctx, account, service.sid, dev.sid)
    with refused(NotFound, 404, 20404, f"The requested resource /Services/{service.sid}/Environments/{dev.sid} "
                                       "was not found"):
        environments.get(ctx, account, service.sid, dev.sid)
    # the deleted environment's suffix is free again
    assert environments.create(ctx, account, service.sid, "dev", "dev").domain_label == dev.domain_label


def test_deploy_and_roll_back(ctx, account, service):
    changes = []
    ctx.listeners.append(lambda: changes.append(1))
    env = environments.create(ctx, account, service.sid, "prod", None)
    first = completed_build(ctx, account, service.sid, [asset_version(ctx, account, service.sid, "/v", b"1").sid])
    second = completed_build(ctx, account, service.sid, [asset_version(ctx, account, service.sid, "/v", b"2").sid])
    changes.clear()

    d1 = environments.deploy(ctx, account, service.sid, env.sid, first.sid)
    assert sids.is_sid(d1.sid, sids.DEPLOYMENT)
    assert (d1.environment_sid, d1.build_sid, d1.service_sid, d1.account_sid) == (
        env.sid, first.sid, service.sid, account)
    assert environments.get(ctx, account, service.sid, env.sid).build_sid == first.sid
    with refused(Conflict, 409, 20409, "Environment already has requested deployment."):
        environments.deploy(ctx, account, service.sid, env.sid, first.sid)
    d2 = environments.deploy(ctx, account, service.sid, env.sid, second.sid)
    assert environments.get(ctx, account, service.sid, env.sid).build_sid == second.sid
    d3 = environments.deploy(ctx, account, service.sid, env.sid, first.sid)  # rollback
    assert environments.get(ctx, account, service.sid, env.sid).build_sid == first.sid
    assert len(changes) == 3  # the edge is told after each deployment, not after the refused one

    deployments = environments.deployment_page(ctx, account, service.sid, env.sid, PageRequest())
    assert [(d.sid, d.build_sid) for d in deployments.rows] == [
        (d1.sid, first.sid), (d2.sid, second.sid), (d3.sid, first.sid)]
    assert environments.get_deployment(ctx, account, service.sid, env.sid, d2.sid).build_sid == second.sid
    missing = sids.new(sids.DEPLOYMENT)
    with refused(NotFound, 404, 20404, f"The requested resource /Services/{service.sid}/Environments/{env.sid}"
                                       f"/Deployments/{missing} was not found"):
        environments.get_deployment(ctx, account, service.sid, env.sid, missing)

    # what is live cannot be deleted; what is not, can
    with refused(Conflict, 409, 20409, "Cannot delete Build because it's part of an active Deployment."):
        builds.delete(ctx, account, service.sid, first.sid)
    live_asset = builds.get(ctx, account, service.sid, first.sid)[1][0].resource_sid
    with refused(Conflict, 409, 20409, f"Cannot delete asset {live_asset} because a version of it is part of an "
                                       "active Deployment"):
        resources.delete(ctx, account, service.sid, "asset", live_asset)
    builds.delete(ctx, account, service.sid, second.sid)

    undeployed = environments.deploy(ctx, account, service.sid, env.sid, None)  # nothing live
    assert undeployed.build_sid is None
    assert environments.get(ctx, account, service.sid, env.sid).build_sid is None
    builds.delete(ctx, account, service.sid, first.sid)


def test_deploy_refuses_unknown_builds(ctx, account, service):
    env = environments.create(ctx, account, service.sid, "prod", None)
    other = services.create(ctx, account, "other", "Other", None, None)
    foreign = completed_build(ctx, account, other.sid, [asset_version(ctx, account, other.sid, "/x", b"x").sid])
    with refused(NotFound, 404, 20404, f"BuildSid: the build {foreign.sid} was not found in this service"):
        environments.deploy(ctx, account, service.sid, env.sid, foreign.sid)
    with refused(Invalid, 400, 20001, "BuildSid 'ZBnope' is not a Build SID (ZB…)"):
        environments.deploy(ctx, account, service.sid, env.sid, "ZBnope")
    missing_env = sids.new(sids.ENVIRONMENT)
    with refused(NotFound, 404, 20404, f"The requested resource /Services/{service.sid}/Environments/{missing_env} "
                                       "was not found"):
        environments.deploy(ctx, account, service.sid, missing_env, foreign.sid)
    assert environments.deployment_page(ctx, account, service.sid, env.sid, PageRequest()).rows == []


# ------------------------------------------------------------------------------------------ variables


def test_variables(ctx, account, service):
    env = environments.create(ctx, account, service.sid, "prod", None)
    a = environments.create_variable(ctx, account, service.sid, env.sid, "API_URL", "https://example.com")
    assert sids.is_sid(a.sid, sids.VARIABLE)
    assert (a.environment_sid, a.service_sid, a.account_sid, a.key, a.value) == (
        env.sid, service.sid, account, "API_URL", "https://example.com")
    b = environments.create_variable(ctx, account, service.sid, env.sid, "EMPTY", "")
    assert b.value == ""
    with refused(Conflict, 409, 20409, "Variable with Key 'API_URL' already exists in this Environment"):
        environments.create_variable(ctx, account, service.sid, env.sid, "API_URL", "again")
    with refused(Invalid, 400, 20001, "Missing required parameter Value in the post body"):
        environments.create_variable(ctx, account, service.sid, env.sid, "NO_VALUE", None)

    changed = environments.update_variable(ctx, account, service.sid, env.sid, a.sid, None, "https://example.org")
    assert (changed.sid, changed.key, changed.value) == (a.sid, "API_URL", "https://example.org")
    renamed = environments.update_variable(ctx, account, service.sid, env.sid, b.sid, "NOT_EMPTY", None)
    assert (renamed.key, renamed.value) == ("NOT_EMPTY", "")
    with refused(Conflict, 409, 20409, "Variable with Key 'API_URL' already exists in this Environment"):
        environments.update_variable(ctx, account, service.sid, env.sid, b.sid, "API_URL", None)

    page = environments.variable_page(ctx, account, service.sid, env.sid, PageRequest())
    assert [(v.key, v.value) for v in page.rows] == [("API_URL", "https://example.org"), ("NOT_EMPTY", "")]
    environments.delete_variable(ctx, account, service.sid, env.sid, a.sid)
    with refused(NotFound, 404, 20404, f"The requested resource /Services/{service.sid}/Environments/{env.sid}"
                                       f"/Variables/{a.sid} was not found"):
        environments.get_variable(ctx, account, service.sid, env.sid, a.sid)
    assert environments.get_variable(ctx, account, service.sid, env.sid, b.sid).key == "NOT_EMPTY"


def test_deleting_a_service_takes_everything_in_it(ctx, account, service):
    env = environments.create(ctx, account, service.sid, "prod", None)
    version = asset_version(ctx, account, service.sid, "/a", b"a")
    build = completed_build(ctx, account, service.sid, [version.sid])
    environments.deploy(ctx, account, service.sid, env.sid, build.sid)
    environments.create_variable(ctx, account, service.sid, env.sid, "K", "v")
    services.delete(ctx, account, service.sid)
    with refused(NotFound, 404, 20404):
        environments.get(ctx, account, service.sid, env.sid)
    # the unique name and its domain are free again
    again = services.create(ctx, account, "shop", "Again", None, None)
    assert again.sid != service.sid
    assert environments.page(ctx, account, again.sid, PageRequest()).rows == []
    assert builds.page(ctx, account, again.sid, PageRequest())[0].rows == []
