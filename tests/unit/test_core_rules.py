"""Rules of core, tested without a server."""

from __future__ import annotations

import pytest

from assethost.config import Limits, MiB
from assethost.core import names, sids
from assethost.core.builds import parse_dependencies
from assethost.core.errors import Invalid, TooLarge
from assethost.core.limits import check_build, check_file
from assethost.core.paging import PageRequest
from assethost.core.usage import Usage, cost


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("ahoy.mp3", "/ahoy.mp3"),
        ("/img/logo.png", "/img/logo.png"),
        ("my%20file.txt", "/my%20file.txt"),
        ("/", "/"),
        ("/assets/index.html", "/assets/index.html"),
        ("/caf\u00e9.mp3", "/caf\u00e9.mp3"),
        ("/a b.txt", "/a b.txt"),
    ],
)
def test_version_paths_accepted(given, stored):
    assert names.version_path(given) == stored


@pytest.mark.parametrize(
    "bad",
    ["", "/../x", "/a/../b", "/a/./b", "/a//b", "/a/", "/%2e%2e/x", "/%2E%2E/x", "/a?b", "/a#b", "/a\\b",
     "/a\x00b", "/a%00b", "/a\nb", "/" + "x" * 255],
)
def test_version_paths_refused(bad):
    with pytest.raises(Invalid) as err:
        names.version_path(bad)
    assert "Path" in err.value.message


def test_service_unique_names():
    assert names.service_unique_name("my-project-2") == "my-project-2"
    for bad in ["-x", "x-", "a_b", "a b", "x" * 51, "ZS" + "a" * 32, "", "a\x00"]:
        with pytest.raises(Invalid):
            names.service_unique_name(bad)


def test_visibility_and_booleans():
    assert names.visibility("protected") == "protected"
    with pytest.raises(Invalid, match="Visibility"):
        names.visibility("secret")
    assert names.boolean(None, "X", True) is True
    assert names.boolean("false", "X", True) is False
    with pytest.raises(Invalid, match="X must be true or false"):
        names.boolean("maybe", "X", True)


def test_variable_value_limit_counts_bytes():
    assert names.variable_value("é" * 225) == "é" * 225  # 450 bytes
    with pytest.raises(Invalid, match="450 bytes"):
        names.variable_value("é" * 226)


def test_sids():
    sid = sids.new(sids.SERVICE)
    assert sids.is_sid(sid, sids.SERVICE) and not sids.is_sid(sid, sids.BUILD)
    assert not sids.is_sid(sid.upper())
    assert len(sid) == 34


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        (None, []),
        ('[{"name":"twilio","version":"3.29.2"}]', [{"name": "twilio", "version": "3.29.2"}]),
        ('"[{"name":"twilio","version":"3.29.2"}]"', [{"name": "twilio", "version": "3.29.2"}]),  # the toolkit's quotes
        ('{"lodash": "^4"}', [{"name": "lodash", "version": "^4"}]),
        ('[{"name":"x","version":""}]', [{"name": "x", "version": "*"}]),
    ],
)
def test_dependencies(raw, parsed):
    assert parse_dependencies(raw) == parsed


@pytest.mark.parametrize("raw", ["nope", "[1,2]", '[{"version":"1"}]', "42"])
def test_bad_dependencies(raw):
    with pytest.raises(Invalid, match="Dependencies"):
        parse_dependencies(raw)


def test_file_limits_by_visibility():
    limits = Limits()
    check_file(limits, "asset", "public", "/a.mp3", 25 * MiB)
    with pytest.raises(TooLarge, match=r"/a\.mp3.*26214401.*26214400"):
        check_file(limits, "asset", "public", "/a.mp3", 25 * MiB + 1)
    with pytest.raises(TooLarge, match="private"):
        check_file(limits, "asset", "private", "/p.txt", 10 * MiB + 1)


def test_build_count_limits():
    limits = Limits(max_public_versions=2, max_private_versions=1)
    ok = [("asset", "public", "/a", 1), ("asset", "public", "/b", 1), ("asset", "protected", "/c", 1)]
    check_build(limits, ok)
    with pytest.raises(Invalid, match="at most 2 public asset versions; this one has 3"):
        check_build(limits, ok + [("asset", "public", "/d", 1)])
    with pytest.raises(Invalid, match="at most 1 private"):
        check_build(limits, [("asset", "private", "/p", 1), ("asset", "private", "/q", 1)])


def test_page_requests():
    assert PageRequest.parse(None, None, None) == PageRequest(size=50, page=0)
    assert PageRequest.parse("1000", "3", "PA17").after_id == 17
    assert PageRequest.parse("5", "1", "PB9").before_id == 9
    for size in ("0", "1001", "-1", "x"):
        with pytest.raises(Invalid, match="PageSize"):
            PageRequest.parse(size, None, None)
    with pytest.raises(Invalid, match="PageToken"):
        PageRequest.parse(None, None, "garbage")


def test_pricing():
    assert cost(10_000) == 0
    assert str(cost(10_001)) == "0.0001"
    assert str(cost(25_000)) == "1.5000"
    u = Usage("AC" + "0" * 32, "2026-11", 12_345)
    assert (u.free_requests, u.billable_requests, str(u.cost)) == (10_000, 2_345, "0.2345")
