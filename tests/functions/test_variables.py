"""A change of an environment's Variables reaches running functions without a redeploy, on every
worker process of the server (Twilio: "subsequent executions use the new value")."""

from __future__ import annotations

from edgekit import wait_for_every_worker
from fnkit import deploy_project

PROPAGATION_S = 1.5  # the documented bound is "within about a second" (each process polls every 0.5 s)
GREET_JS = "exports.handler = (context, event, callback) => callback(null, String(context.GREETING));\n"
GREET_PY = "def handler(context, event):\n    return str(context.get('GREETING'))\n"


def test_variable_changes_reach_every_worker_without_a_deployment(server_factory):
    srv = server_factory("--workers", "2")  # on SQLite and on PostgreSQL
    pids = srv.worker_pids()
    assert len(pids) == 2
    with srv.http_client() as http:
        d = deploy_project(srv, http, {"functions/greet.js": GREET_JS, "functions/greet_py.py": GREET_PY},
                           variables={"GREETING": "hello"})
        host = d.site.host
        for path in ("/greet", "/greet_py"):
            wait_for_every_worker(srv, host, path, b"hello", pids)
        client = srv.twilio_client()
        variables = client.serverless.v1.services(d.site.service_sid).environments(d.site.env_sid).variables
        (greeting,) = variables.list()
        deployments = len(http.get(f"/v1/Services/{d.site.service_sid}/Environments/{d.site.env_sid}"
                                   "/Deployments").json()["deployments"])

        variables(greeting.sid).update(value="bonjour")
        for path in ("/greet", "/greet_py"):
            assert wait_for_every_worker(srv, host, path, b"bonjour", pids) < PROPAGATION_S

        variables(greeting.sid).delete()
        assert wait_for_every_worker(srv, host, "/greet", b"undefined", pids) < PROPAGATION_S
        assert wait_for_every_worker(srv, host, "/greet_py", b"None", pids) < PROPAGATION_S

        variables.create(key="GREETING", value="hola")
        assert wait_for_every_worker(srv, host, "/greet", b"hola", pids) < PROPAGATION_S

        after = http.get(f"/v1/Services/{d.site.service_sid}/Environments/{d.site.env_sid}/Deployments").json()
    assert len(after["deployments"]) == deployments == 1  # no deployment was made for any of it
    assert srv.worker_pids() == pids
