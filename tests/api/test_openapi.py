"""The API's OpenAPI document (/assethost/v1/openapi.json) against the live server: it describes
every route the API has and no other, and real answers of every kind validate against its schemas."""

from __future__ import annotations

import hashlib
import json
import time

import httpx
import jsonschema
import pytest
from helpers import create_asset, create_service, uniq, upload

from assethost.api.routes import routes

DOCUMENT = "/assethost/v1/openapi.json"


@pytest.fixture(scope="module")
def spec(server):
    with server.http_client() as c:
        answer = c.get(DOCUMENT)
    assert answer.status_code == 200
    return answer.json()


def test_it_describes_every_route_of_the_api_and_no_other(spec, server):
    assert (spec["openapi"], spec["servers"]) == ("3.1.0", [{"url": server.base_url}])
    described = {(path, method.upper()) for path, operations in spec["paths"].items() for method in operations}
    live = {(r.path, m) for r in routes for m in r.methods if m != "HEAD"}
    assert described == live


def test_it_needs_no_credentials(server):
    answer = httpx.get(server.base_url + DOCUMENT, trust_env=False)
    assert answer.status_code == 200 and answer.json()["openapi"] == "3.1.0"


def _validator(spec, method: str, path: str, status: int):
    operation = spec["paths"][path][method]
    schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
    return lambda body: jsonschema.validate(body, {**schema, "components": spec["components"]})


def test_real_answers_validate_against_their_schemas(spec, http):
    checked = []

    def check(method: str, path: str, answer, status: int = 200):
        assert answer.status_code == status, answer.text
        _validator(spec, method, path, status)(answer.json())
        checked.append((method, path))
        return answer.json()

    S = "/v1/Services/{service}"
    service = create_service(http, uniq("oa"))
    check("get", "/v1/Services", http.get("/v1/Services"))
    check("get", S, http.get(f"/v1/Services/{service['sid']}"))
    check("post", S, http.post(f"/v1/Services/{service['sid']}", data={"FriendlyName": "OpenAPI"}))
    asset = create_asset(http, service["sid"])
    check("get", S + "/Assets/{sid}", http.get(f"/v1/Services/{service['sid']}/Assets/{asset['sid']}"))
    version = check("post", S + "/Assets/{sid}/Versions",
                    upload(http, service["sid"], "Assets", asset["sid"], "/a.txt", b"hello", "public"), 201)
    check("get", S + "/Assets/{sid}/Versions", http.get(f"/v1/Services/{service['sid']}/Assets/{asset['sid']}/Versions"))
    fn = check("post", S + "/Functions", http.post(f"/v1/Services/{service['sid']}/Functions",
                                                   data={"FriendlyName": "/f"}), 201)
    fv = check("post", S + "/Functions/{sid}/Versions",
               upload(http, service["sid"], "Functions", fn["sid"], "/f", b"exports.handler=(c,e,cb)=>cb(null,1);",
                      "public", mime="application/javascript"), 201)
    check("get", S + "/Functions/{sid}/Versions/{version}/Content",
          http.get(f"/v1/Services/{service['sid']}/Functions/{fn['sid']}/Versions/{fv['sid']}/Content"))
    build = check("post", S + "/Builds", http.post(f"/v1/Services/{service['sid']}/Builds",
                                                   data={"AssetVersions": version["sid"]}), 201)
    for _ in range(100):
        status = check("get", S + "/Builds/{sid}/Status",
                       http.get(f"/v1/Services/{service['sid']}/Builds/{build['sid']}/Status"))
        if status["status"] != "building":
            break
        time.sleep(0.1)
    check("get", S + "/Builds", http.get(f"/v1/Services/{service['sid']}/Builds"))
    env = check("post", S + "/Environments", http.post(f"/v1/Services/{service['sid']}/Environments",
                                                       data={"UniqueName": "dev", "DomainSuffix": "dev"}), 201)
    E = S + "/Environments/{env}"
    check("post", E + "/Deployments", http.post(f"/v1/Services/{service['sid']}/Environments/{env['sid']}/Deployments",
                                                 data={"BuildSid": build["sid"]}), 201)
    check("get", E + "/Deployments", http.get(f"/v1/Services/{service['sid']}/Environments/{env['sid']}/Deployments"))
    check("post", E + "/Variables", http.post(f"/v1/Services/{service['sid']}/Environments/{env['sid']}/Variables",
                                              data={"Key": "A", "Value": "b"}), 201)
    check("get", E + "/Logs", http.get(f"/v1/Services/{service['sid']}/Environments/{env['sid']}/Logs"))
    check("get", S + "/Environments/{sid}", http.get(f"/v1/Services/{service['sid']}/Environments/{env['sid']}"))
    X = "/assethost/v1"
    check("get", X + "/Services/{service}/Builds/{sid}",
          http.get(f"{X}/Services/{service['sid']}/Builds/{build['sid']}"))
    check("get", X + "/Usage", http.get(f"{X}/Usage"))
    check("get", X + "/Services/{service}/Versions", http.get(f"{X}/Services/{service['sid']}/Versions"))
    check("post", X + "/Services/{service}/Assets/{sid}/Versions",
          http.post(f"{X}/Services/{service['sid']}/Assets/{asset['sid']}/Versions",
                    data={"Path": "/b.txt", "Visibility": "protected",
                          "ContentSha256": hashlib.sha256(b"hello").hexdigest()}), 201)
    content = b"bulk\n"
    new_file = {"kind": "asset", "path": "/bulk.txt", "visibility": "public",
                "sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}
    jsonschema.validate({"files": [new_file]}, {"$ref": "#/components/schemas/Manifest", "components": spec["components"]})
    check("post", X + "/Services/{service}/Manifest",
          http.post(f"{X}/Services/{service['sid']}/Manifest", json={"files": [new_file]}))
    manifest = {"files": [new_file, {"version_sid": version["sid"]}], "upload": [new_file["sha256"]]}
    jsonschema.validate(manifest, {"$ref": "#/components/schemas/DeployManifest", "components": spec["components"]})
    check("post", X + "/Services/{service}/Deploy",
          http.post(f"{X}/Services/{service['sid']}/Deploy", content=json.dumps(manifest).encode() + b"\n" + content,
                    headers={"Content-Type": "application/vnd.assethost.deploy"}), 201)
    described = check("get", X + "/Services/{service}/Assets/{sid}/Versions/{version}",
                      http.get(f"{X}/Services/{service['sid']}/Assets/{asset['sid']}/Versions/{version['sid']}"))
    assert described["media"]["kind"] == "text" and described["immutable_url"] is not None
    check("get", X + "/Services/{service}/MediaSettings", http.get(f"{X}/Services/{service['sid']}/MediaSettings"))
    check("post", X + "/Services/{service}/MediaSettings",
          http.post(f"{X}/Services/{service['sid']}/MediaSettings", data={"StrictRules": "play.type"}))
    assert len(set(checked)) == 27  # distinct operations whose real answers were checked

    with pytest.raises(jsonschema.ValidationError):  # the schemas do hold something
        _validator(spec, "get", S, 200)({**service, "surprise": 1})
