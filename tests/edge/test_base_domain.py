"""Environments are stored without the base domain: a server restarted with another
--base-domain, on the same database and blobs, serves every environment at the new domain and
shows that domain in the API, while the old domain is nobody's any more."""

from __future__ import annotations

import signal

import httpx
from edgekit import Deployer, FileSpec

FIRST, SECOND = "first.test", "second.example"


def _restart(srv, *extra_args: str) -> None:
    """Stop the server process only (not its database, as stop() would) and start it again."""
    srv.proc.send_signal(signal.SIGTERM)
    srv.proc.wait(timeout=15)
    srv._log.close()
    srv.extra_args = list(extra_args)
    srv.start()


def _get(srv, domain: str, path: str) -> httpx.Response:
    with httpx.Client(base_url=srv.base_url, headers={"Host": f"{domain}:{srv.port}"}, trust_env=False) as c:
        return c.get(path)


def test_a_restart_with_another_base_domain_serves_every_environment_at_the_new_one(server_factory):
    srv = server_factory("--base-domain", FIRST)
    with srv.http_client() as http:
        d = Deployer(srv, http)
        dev = d.site([FileSpec("/a.txt", b"alpha")], suffix="dev")
        root = d.site([FileSpec("/b.txt", b"beta")], suffix=None)
    labels = [site.domain.removesuffix("." + FIRST) for site in (dev, root)]
    assert [site.domain for site in (dev, root)] == [f"{label}.{FIRST}" for label in labels]
    assert _get(srv, dev.domain, "/a.txt").content == b"alpha"

    _restart(srv, "--base-domain", SECOND)
    for site, label, path, body in ((dev, labels[0], "/a.txt", b"alpha"), (root, labels[1], "/b.txt", b"beta")):
        resp = _get(srv, f"{label}.{SECOND}", path)
        assert (resp.status_code, resp.content) == (200, body)
        with srv.http_client() as http:
            env = http.get(f"/v1/Services/{site.service_sid}/Environments/{site.env_sid}").json()
        assert env["domain_name"] == f"{label}.{SECOND}"
        old = _get(srv, site.domain, path)
        # Nobody's: the API answers it, with Twilio's 404 for a path it does not have.
        assert (old.status_code, old.json()["code"]) == (404, 20404)
    assert _get(srv, f"nobody.{SECOND}", "/a.txt").text == f"Not Found: no environment has the domain nobody.{SECOND}\n"
