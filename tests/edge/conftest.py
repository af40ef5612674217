"""Fixtures for the edge suite (helpers live in edgekit.py)."""

from __future__ import annotations

import os

import pytest
from edgekit import (
    PRIVATE_MARKER,
    PROTECTED_MARKER,
    Deployer,
    FileSpec,
    RawResponse,
    Site,
    mp3_bytes,
    png_bytes,
    raw_request,
    text_blob,
)

# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def deployer(server):
    with server.http_client() as c:
        yield Deployer(server, c)




def std_specs() -> list[FileSpec]:
    return [
        FileSpec("/hello.txt", b"hello edge\n"),
        FileSpec("/big.txt", text_blob("big")),
        FileSpec("/data.json", b"[" + b",".join(b'{"n": %d, "name": "item number %d"}' % (i, i)
                                                 for i in range(80)) + b"]"),
        FileSpec("/app.js", text_blob("// js").replace(b"\n", b";\n")),
        FileSpec("/style.css", b"body { color: red; }\n" * 150),
        FileSpec("/assets/index.html", b"<!doctype html><html><body>" + b"<p>hello index</p>" * 80
                 + b"</body></html>"),
        FileSpec("/logo.png", png_bytes() + b"\x00" * 2000),
        FileSpec("/photo.jpg", png_bytes(), mime="image/jpeg"),
        FileSpec("/ahoy.mp3", mp3_bytes(), mime="audio/mpeg"),
        FileSpec("/icon.svg", b'<svg xmlns="http://www.w3.org/2000/svg">' + b'<rect width="1" height="1"/>' * 100
                 + b"</svg>"),
        FileSpec("/range.txt", b"".join(b"%04d," % i for i in range(200))),
        FileSpec("/blob.bin", os.urandom(300 * 1024)),
        FileSpec("/secret/private.txt", PRIVATE_MARKER + b"\n" + text_blob("private", 2000), "private"),
        FileSpec("/secret/public.txt", b"public neighbour\n"),
        FileSpec("/secret/protected.txt", PROTECTED_MARKER + b"\n", "protected"),
        FileSpec("/protected.json", b'{"secret": "' + PROTECTED_MARKER + b'"}' + b" " * 10, "protected"),
        FileSpec("/space name.txt", b"with a space\n"),
    ]


@pytest.fixture(scope="session")
def std_site(deployer) -> Site:
    """One deployed environment with every kind of file the suite needs (read-only for tests)."""
    return deployer.site(std_specs(), suffix="std", prefix="std")


@pytest.fixture(scope="session")
def not_found_reference(std_site) -> RawResponse:
    return raw_request(std_site.port, "GET", "/this/does/not/exist.txt", std_site.host)
