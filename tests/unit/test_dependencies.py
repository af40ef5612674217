"""Which npm dependency specs a build may list (core.dependencies): registry packages by semver
range or dist-tag; nothing that makes npm read the disk or fetch an address of the tenant's."""

from __future__ import annotations

import pytest

from assethost.core import builds, dependencies
from assethost.core.errors import Invalid

ACCEPTED = ["^1.2.3", "~1.2", "1.x", "*", "", ">=1.0.0 <2.0.0", ">= 1.2", "1.2.3 - 2.0.0", "=1.0.0", "v1.2.3",
            "1.2.3-beta.1", "^4.23.0 || ^5", "latest", "next", "beta-2", "<1.0.0", "1", "^0.0.1"]
REFUSED = ["file:/", "file:.", "link:/etc", "/etc", "./x", "../x", "~/x", "git+https://example.com/x.git",
           "git://example.com/x.git", "git+ssh://git@example.com:x.git", "github:user/repo", "user/repo",
           "http://127.0.0.1:5432/x.tgz", "https://example.com/x.tgz", "x.tgz", "x.tar", "x.tar.gz",
           "npm:left-pad@1.3.0", "workspace:*", "1.0.0; rm -rf /", "$(id)", "1" * 300,
           # ranges by semver's grammar that npm would still take for files
           "1.0.0-x.tgz", "1.0.0+x.tgz", "1.0.0-a.tar.gz", ">=1.0.0-x.tgz", "<1.0.0-a.b.tgz", "1.0.0-x.tar",
           "~/x", ".", "..", "x@1", "C:\\x"]


@pytest.mark.parametrize("spec", ACCEPTED)
def test_registry_ranges_and_tags_are_accepted(spec):
    dependencies.check("twilio", spec)


@pytest.mark.parametrize("spec", REFUSED)
def test_everything_else_is_refused_naming_the_dependency(spec):
    with pytest.raises(Invalid, match=r"Dependencies: leak has the version"):
        dependencies.check("leak", spec)


@pytest.mark.parametrize("name", ["twilio", "@twilio/runtime-handler", "lodash.merge", "a-b_c~d"])
def test_npm_package_names_are_accepted(name):
    dependencies.check(name, "1.0.0")


@pytest.mark.parametrize("name", ["../../etc", "/abs", "UPPER", "a b", "", ".hidden", "_under", "@scope", "x" * 215,
                                  "@a/b/c"])
def test_malformed_names_are_refused(name):
    with pytest.raises(Invalid, match="is not an npm package name"):
        dependencies.check(name, "1.0.0")


def test_a_build_with_a_file_dependency_is_refused_before_anything_is_stored():
    with pytest.raises(Invalid, match="leak"):
        builds.parse_dependencies('[{"name": "twilio", "version": "^5"}, {"name": "leak", "version": "file:/"}]')
    assert builds.parse_dependencies('"[{"name":"@twilio/runtime-handler","version":"2.1.0"}]"') == [
        {"name": "@twilio/runtime-handler", "version": "2.1.0"}]


def test_specs_are_stored_without_surrounding_spaces():
    assert dependencies.check("twilio", "  ^5.0.0 ") == "^5.0.0"
    assert builds.parse_dependencies('[{"name": "twilio", "version": " 5.4.5 "}]') == [
        {"name": "twilio", "version": "5.4.5"}]
