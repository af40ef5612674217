"""Which npm dependencies a build may list: registry packages only, named by a semver range or a
dist-tag.

Everything else npm understands (`file:`, `link:`, `git+…`, URLs, tarballs, `user/repo`
shorthands, `npm:` aliases, `workspace:`) makes the installer read the server's disk or fetch
an address the tenant chose, so it is refused when the build is created, with a 400 naming the
dependency. The range grammar is npm's, checked with `semantic_version.NpmSpec`.
"""

from __future__ import annotations

import re

from semantic_version import NpmSpec

from assethost.core.errors import Invalid

# validate-npm-package-name's rules for new packages: lower case, URL-safe, at most 214 characters,
# an optional @scope/, not starting with a dot or an underscore.
_NAME = re.compile(r"^(?:@[a-z0-9-~][a-z0-9-._~]*/)?[a-z0-9-~][a-z0-9-._~]*$")
_NAME_MAX = 214
# A dist-tag ("latest", "next", "beta-2"): npm takes any spec that is not a range, a URL, a path or
# a tarball name as a tag; we accept the plain form of one.
_TAG = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")
_TARBALL = re.compile(r"\.(?:tgz|tar|tar\.gz)$", re.IGNORECASE)
_NOT_REGISTRY = re.compile(r"[/\\:@]|^[.~](?![0-9])")
# npm allows spaces between an operator and its version (">= 1.2"); NpmSpec does not.
_OPERATOR_SPACE = re.compile(r"([<>=~^]+)\s+")
_SPEC_MAX = 256


def check(name: str, spec: str) -> str:
    """`spec` as it will be installed (without surrounding spaces); raises Invalid unless
    `name@spec` names a registry package by range or tag."""
    if len(name) > _NAME_MAX or not _NAME.match(name):
        raise Invalid(f"Dependencies: {name[:80]!r} is not an npm package name")
    spec = spec.strip()
    # npm reads a spec with a slash, a colon or a tarball's ending as a path, URL or git address
    # even when it also parses as a range ("1.0.0-x.tgz"), so those never pass.
    if (len(spec) > _SPEC_MAX or _NOT_REGISTRY.search(spec) or _TARBALL.search(spec)
            or not _is_range(spec) and not _TAG.match(spec)):
        raise Invalid(
            f"Dependencies: {name} has the version {spec[:80]!r}; only registry versions (a semver range "
            "such as ^1.2.0, or a tag such as latest) are accepted, not files, links, git, URLs or tarballs"
        )
    return spec


def _is_range(spec: str) -> bool:
    try:
        NpmSpec(_OPERATOR_SPACE.sub(r"\1", spec))
    except ValueError:
        return False
    return True
