"""The OpenAPI 3.1 document of assethost's API: Twilio's Serverless v1 (what assethost implements of
it) and assethost's extensions under /assethost/v1, served at /assethost/v1/openapi.json.

Written out here, not derived from the routes, so that tests/api/test_openapi.py can hold the two
against each other (every live route is described, every description is a live route) and check
real answers against the schemas.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def _sid(prefix: str) -> Schema:
    return {"type": "string", "pattern": f"^{prefix}[0-9a-f]{{32}}$"}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
BOOLEAN: Schema = {"type": "boolean"}
DATE: Schema = {"type": "string", "format": "date-time", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"}
URL: Schema = {"type": "string", "format": "uri"}
VISIBILITY: Schema = {"type": "string", "enum": ["public", "protected", "private"]}


def _object(**properties: Schema) -> Schema:
    return {"type": "object", "properties": properties, "required": sorted(properties),
            "additionalProperties": False}


def _links(*names: str) -> Schema:
    return _object(**{n: URL for n in names})


_OWNED = {"account_sid": _sid("AC"), "service_sid": _sid("ZS")}
_DATED = {"date_created": DATE, "date_updated": DATE}
_ASSET_VERSION = {"sid": _sid("ZN"), "account_sid": _sid("AC"), "service_sid": _sid("ZS"), "asset_sid": _sid("ZH"),
                  "path": STRING, "visibility": VISIBILITY, "date_created": DATE, "url": URL}
_FUNCTION_VERSION = {**_ASSET_VERSION, "function_sid": _sid("ZH")}
del _FUNCTION_VERSION["asset_sid"]
_FACTS = {"kind": {"type": "string", "enum": ["asset", "function"]}, "resource_sid": _sid("ZH"),
          "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "size": INTEGER, "content_type": STRING}
_ENTRY = {"sid": _sid("ZN"), "account_sid": _sid("AC"), "service_sid": _sid("ZS"), "path": STRING,
          "visibility": VISIBILITY, "date_created": DATE, "url": URL}

_WARNINGS: Schema = {"type": "array", "items": _object(rule=STRING, message=STRING)}
_NUMBER: Schema = {"type": "number"}
# What a media file is (core/media.py): kind and format always, the rest where they apply.
_MEDIA: Schema = {
    "type": "object", "required": ["kind", "format", "checks"], "additionalProperties": False,
    "properties": {
        "kind": {"type": "string", "enum": ["audio", "image", "video", "text", "other"]},
        "format": _nullable(STRING), "codec": _nullable(STRING), "duration_seconds": _nullable(_NUMBER),
        "sample_rate": _nullable(INTEGER), "channels": _nullable(INTEGER), "bitrate": _nullable(INTEGER),
        "width": INTEGER, "height": INTEGER, "has_exif": BOOLEAN, "has_gps": BOOLEAN,
        "checks": {"type": "array", "items": _object(rule=STRING, ok=BOOLEAN, message=STRING)},
    },
}

SCHEMAS: dict[str, Schema] = {
    "Service": _object(sid=_sid("ZS"), account_sid=_sid("AC"), friendly_name=STRING, unique_name=STRING,
                       include_credentials=BOOLEAN, ui_editable=BOOLEAN, domain_base=STRING, **_DATED, url=URL,
                       links=_links("environments", "functions", "assets", "builds")),
    "Asset": _object(**_OWNED, sid=_sid("ZH"), friendly_name=STRING, **_DATED, url=URL,
                     links=_links("asset_versions")),
    "Function": _object(**_OWNED, sid=_sid("ZH"), friendly_name=STRING, **_DATED, url=URL,
                        links=_links("function_versions")),
    "AssetVersion": _object(**_ASSET_VERSION),
    "FunctionVersion": _object(**_FUNCTION_VERSION, links=_links("function_version_content")),
    "FunctionVersionContent": _object(sid=_sid("ZN"), account_sid=_sid("AC"), service_sid=_sid("ZS"),
                                      function_sid=_sid("ZH"), content=STRING, url=URL),
    "Build": _object(**_OWNED, sid=_sid("ZB"),
                     asset_versions={"type": "array", "items": _object(**_ENTRY, asset_sid=_sid("ZH"))},
                     function_versions={"type": "array", "items": _object(**_ENTRY, function_sid=_sid("ZH"))},
                     dependencies={"type": "array", "items": _object(name=STRING, version=STRING)},
                     runtime=STRING, status={"type": "string", "enum": ["building", "completed", "failed"]},
                     **_DATED, url=URL, links=_links("build_status")),
    "BuildStatus": _object(**_OWNED, sid=_sid("ZB"), status=STRING, url=URL),
    "Environment": _object(**_OWNED, sid=_sid("ZE"), build_sid=_nullable(_sid("ZB")), unique_name=STRING,
                           domain_suffix=_nullable(STRING), domain_name=STRING, **_DATED, url=URL,
                           links=_links("variables", "deployments", "logs")),
    "Deployment": _object(**_OWNED, sid=_sid("ZD"), environment_sid=_sid("ZE"), build_sid=_nullable(_sid("ZB")),
                          **_DATED, url=URL),
    "Variable": _object(**_OWNED, sid=_sid("ZV"), environment_sid=_sid("ZE"), key=STRING, value=STRING, **_DATED,
                        url=URL),
    "Log": _object(**_OWNED, sid=_sid("NO"), environment_sid=_sid("ZE"), build_sid=_sid("ZB"),
                   deployment_sid=_nullable(_sid("ZD")), function_sid=_nullable(_sid("ZH")),
                   request_sid=_nullable(_sid("RQ")),
                   level={"type": "string", "enum": ["info", "warning", "error"]}, message=STRING,
                   date_created=DATE, url=URL),
    "BuildDetails": _object(**_OWNED, sid=_sid("ZB"), status=STRING, status_reason=_nullable(STRING),
                            media_warnings={"type": "array", "items": _object(path=STRING, rule=STRING,
                                                                              message=STRING)},
                            date_updated=DATE, url=URL),
    "UploadedAssetVersion": _object(**_ASSET_VERSION, media_warnings=_WARNINGS),
    "UploadedFunctionVersion": _object(**_FUNCTION_VERSION, links=_links("function_version_content"),
                                       media_warnings=_WARNINGS),
    "AssetVersionMedia": _object(**_ASSET_VERSION, media=_nullable(_MEDIA), immutable_url=_nullable(URL)),
    "MediaSettings": _object(service_sid=_sid("ZS"), strip_metadata=BOOLEAN,
                             strict_rules={"type": "array", "items": STRING},
                             rules={"type": "array", "items": _object(rule=STRING, checks=STRING, source=STRING)},
                             url=URL),
    "Usage": _object(account_sid=_sid("AC"), month={"type": "string", "pattern": r"^\d{4}-\d{2}$"},
                     requests=INTEGER, free_requests=INTEGER, billable_requests=INTEGER,
                     price_per_request=STRING, price_unit=STRING, cost=STRING, url=URL),
    "VersionFacts": {"oneOf": [_object(**_ASSET_VERSION, **_FACTS),
                               _object(**_FUNCTION_VERSION, links=_links("function_version_content"), **_FACTS)]},
    "ManifestFile": {"type": "object", "required": ["kind", "path", "visibility", "sha256", "size"],
                     "additionalProperties": False,
                     "properties": {"kind": _FACTS["kind"], "path": STRING, "visibility": VISIBILITY,
                                    "sha256": _FACTS["sha256"], "size": INTEGER, "content_type": STRING}},
    "Manifest": _object(files={"type": "array", "items": {"$ref": "#/components/schemas/ManifestFile"}}),
    "ManifestAnswer": _object(missing={"type": "array", "items": _FACTS["sha256"]}, missing_bytes=INTEGER,
                              max_upload_bytes=INTEGER, max_files=INTEGER),
    # The first line of a bulk deploy's body; the bytes of the hashes in `upload` follow it.
    "DeployManifest": {"type": "object", "required": ["files"], "additionalProperties": False, "properties": {
        "files": {"type": "array", "items": {"oneOf": [{"$ref": "#/components/schemas/ManifestFile"},
                                                       _object(version_sid=_sid("ZN"))]}},
        "upload": {"type": "array", "items": _FACTS["sha256"]}, "environment": _sid("ZE"),
        "dependencies": {"type": "array", "items": _object(name=STRING, version=STRING)}, "runtime": STRING}},
    "BulkDeploy": _object(build={"$ref": "#/components/schemas/Build"},
                          deployment=_nullable({"$ref": "#/components/schemas/Deployment"}),
                          versions={"type": "array", "items": {"$ref": "#/components/schemas/VersionFacts"}},
                          uploaded=INTEGER, uploaded_bytes=INTEGER, resources_created=INTEGER),
    "Meta": _object(first_page_url=URL, key=STRING, next_page_url=_nullable(URL), page=INTEGER, page_size=INTEGER,
                    previous_page_url=_nullable(URL), url=URL),
    "Error": {"type": "object", "required": ["code", "message", "more_info", "status"],
              "properties": {"code": INTEGER, "message": STRING, "more_info": URL, "status": INTEGER}},
}

V1 = "/v1/Services"
X = "/assethost/v1"
# (method, path, summary, form fields of the request or "multipart", "json:Schema", "deploy"; answer:
# schema or "Key:Schema" for a page of them, status)
Operation = tuple[str, str, str, tuple[str, ...] | str, str | None, int]
OPERATIONS: list[Operation] = [
    ("get", V1, "List services", (), "services:Service", 200),
    ("post", V1, "Create a service", ("UniqueName", "FriendlyName", "IncludeCredentials", "UiEditable"),
     "Service", 201),
    ("get", V1 + "/{service}", "Fetch a service (by SID or unique name)", (), "Service", 200),
    ("post", V1 + "/{service}", "Update a service", ("FriendlyName", "IncludeCredentials", "UiEditable"),
     "Service", 200),
    ("delete", V1 + "/{service}", "Delete a service and everything in it", (), None, 204),
]
for _kind, _collection, _key in (("Asset", "Assets", "assets"), ("Function", "Functions", "functions")):
    _base = V1 + "/{service}/" + _collection
    OPERATIONS += [
        ("get", _base, f"List {_key}", (), f"{_key}:{_kind}", 200),
        ("post", _base, f"Create {_kind.lower()}", ("FriendlyName",), _kind, 201),
        ("get", _base + "/{sid}", f"Fetch {_kind.lower()}", (), _kind, 200),
        ("post", _base + "/{sid}", f"Update {_kind.lower()}", ("FriendlyName",), _kind, 200),
        ("delete", _base + "/{sid}", f"Delete {_kind.lower()}", (), None, 204),
        ("get", _base + "/{sid}/Versions", f"List {_kind.lower()} versions", (),
         f"{_kind.lower()}_versions:{_kind}Version", 200),
        ("post", _base + "/{sid}/Versions", (f"Upload a {_kind.lower()} version (Path, Visibility, Content; "
         "assethost: StripMetadata, and media_warnings in the answer)"), "multipart", f"Uploaded{_kind}Version", 201),
        ("get", _base + "/{sid}/Versions/{version}", f"Fetch a {_kind.lower()} version", (), f"{_kind}Version", 200),
        ("post", X + "/Services/{service}/" + _collection + "/{sid}/Versions",
         f"A {_kind.lower()} version of content this account stored before, named by its SHA-256 (assethost)",
         ("Path", "Visibility", "ContentSha256", "ContentType"), "VersionFacts", 201),
    ]
OPERATIONS += [
    ("get", V1 + "/{service}/Functions/{sid}/Versions/{version}/Content", "Fetch a function version's source",
     (), "FunctionVersionContent", 200),
    ("get", V1 + "/{service}/Builds", "List builds", (), "builds:Build", 200),
    ("post", V1 + "/{service}/Builds", "Create a build",
     ("AssetVersions", "FunctionVersions", "Dependencies", "Runtime"), "Build", 201),
    ("get", V1 + "/{service}/Builds/{sid}", "Fetch a build", (), "Build", 200),
    ("delete", V1 + "/{service}/Builds/{sid}", "Delete a build that is not deployed", (), None, 204),
    ("get", V1 + "/{service}/Builds/{sid}/Status", "Fetch a build's status", (), "BuildStatus", 200),
    ("get", V1 + "/{service}/Environments", "List environments", (), "environments:Environment", 200),
    ("post", V1 + "/{service}/Environments", "Create an environment", ("UniqueName", "DomainSuffix"),
     "Environment", 201),
    ("get", V1 + "/{service}/Environments/{sid}", "Fetch an environment", (), "Environment", 200),
    ("delete", V1 + "/{service}/Environments/{sid}", "Delete an environment", (), None, 204),
    ("get", V1 + "/{service}/Environments/{env}/Deployments", "List deployments", (),
     "deployments:Deployment", 200),
    ("post", V1 + "/{service}/Environments/{env}/Deployments", "Deploy a build (or nothing) to the environment",
     ("BuildSid",), "Deployment", 201),
    ("get", V1 + "/{service}/Environments/{env}/Deployments/{sid}", "Fetch a deployment", (), "Deployment", 200),
    ("get", V1 + "/{service}/Environments/{env}/Variables", "List variables", (), "variables:Variable", 200),
    ("post", V1 + "/{service}/Environments/{env}/Variables", "Create a variable", ("Key", "Value"), "Variable", 201),
    ("get", V1 + "/{service}/Environments/{env}/Variables/{sid}", "Fetch a variable", (), "Variable", 200),
    ("post", V1 + "/{service}/Environments/{env}/Variables/{sid}", "Update a variable", ("Key", "Value"),
     "Variable", 200),
    ("delete", V1 + "/{service}/Environments/{env}/Variables/{sid}", "Delete a variable", (), None, 204),
    ("get", V1 + "/{service}/Environments/{env}/Logs", ("List what the environment's functions printed, newest "
     "first (FunctionSid, StartDate, EndDate)"), (), "logs:Log", 200),
    ("get", V1 + "/{service}/Environments/{env}/Logs/{sid}", "Fetch a log line", (), "Log", 200),
    ("get", X + "/Services/{service}/Builds/{sid}", "A build's status and why it failed (assethost)", (),
     "BuildDetails", 200),
    ("get", X + "/Usage", "Requests served this month (or ?Month=YYYY-MM) and their cost (assethost)", (),
     "Usage", 200),
    ("get", X + "/Services/{service}/Versions", ("Every version of the service with its content hash, ?Kind= "
     "asset or function (assethost)"), (), "versions:VersionFacts", 200),
    ("get", X + "/Services/{service}/Assets/{sid}/Versions/{version}", ("An asset version with what its bytes "
     "are (media), its telephony checks and its immutable URL (assethost)"), (), "AssetVersionMedia", 200),
    ("get", X + "/Services/{service}/MediaSettings", "A service's media settings and the rules (assethost)", (),
     "MediaSettings", 200),
    ("post", X + "/Services/{service}/MediaSettings", ("Strip image metadata from every upload (StripMetadata), "
     "make rules fail builds (StrictRules: names, comma-separated) (assethost)"), ("StripMetadata", "StrictRules"),
     "MediaSettings", 200),
    ("get", X + "/openapi.json", "This document (assethost)", (), None, 200),
    ("post", X + "/Services/{service}/Manifest", ("Which content of a deploy's new files this account lacks, by "
     "SHA-256 (assethost bulk deploy, step 1)"), "json:Manifest", "ManifestAnswer", 200),
    ("post", X + "/Services/{service}/Deploy", ("A whole deploy in one request: a line of JSON (DeployManifest), "
     "then the bytes of the hashes it lists in upload, one after the other; creates the missing assets and "
     "functions, the versions, the build and, when it has nothing to package, the deployment (assethost bulk "
     "deploy, step 2)"), "deploy", "BulkDeploy", 201),
]


def _answer(answer: str | None, status: int) -> dict[str, Any]:
    if answer is None:
        return {"description": "No content" if status == 204 else "The document"}
    if ":" in answer:
        key, name = answer.split(":")
        schema: Schema = {"type": "object", "required": [key, "meta"], "additionalProperties": False,
                          "properties": {key: {"type": "array", "items": {"$ref": f"#/components/schemas/{name}"}},
                                         "meta": {"$ref": "#/components/schemas/Meta"}}}
    else:
        schema = {"$ref": f"#/components/schemas/{answer}"}
    return {"description": "OK", "content": {"application/json": {"schema": schema}}}


def _request(fields: tuple[str, ...] | str) -> dict[str, Any] | None:
    if isinstance(fields, str) and fields.startswith("json:"):
        return {"required": True, "content": {"application/json": {"schema": {
            "$ref": f"#/components/schemas/{fields[5:]}"}}}}
    if fields == "deploy":
        return {"required": True, "content": {"application/vnd.assethost.deploy": {"schema": {
            "type": "string", "format": "binary",
            "description": "A line of JSON (DeployManifest, no newline inside), then the bytes"}}}}
    if fields == "multipart":
        return {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["Path", "Visibility", "Content"],
            "properties": {"Path": STRING, "Visibility": VISIBILITY,
                           "StripMetadata": {"type": "string", "enum": ["true", "false"]},
                           "Content": {"type": "string", "format": "binary"}}}}}}
    if not fields:
        return None
    return {"content": {"application/x-www-form-urlencoded": {"schema": {
        "type": "object", "properties": {f: STRING for f in fields}}}}}


def document(origin: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, fields, answer, status in OPERATIONS:
        operation: dict[str, Any] = {
            "summary": summary,
            "parameters": [{"name": p.strip("{}"), "in": "path", "required": True, "schema": STRING}
                           for p in path.split("/") if p.startswith("{")],
            "responses": {str(status): _answer(answer, status),
                          "default": {"description": "Twilio's error body", "content": {"application/json": {
                              "schema": {"$ref": "#/components/schemas/Error"}}}}},
        }
        if path == X + "/openapi.json":
            operation["security"] = []
        body = _request(fields)
        if body is not None:
            operation["requestBody"] = body
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "assethost", "version": "1",
                 "description": "Twilio's Serverless API v1, as assethost implements it, and assethost's "
                                "extensions under /assethost/v1. Every operation takes HTTP Basic "
                                "authentication: Account SID and Auth Token, or API key SID and secret."},
        "servers": [{"url": origin}],
        "security": [{"basic": []}],
        "paths": paths,
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}}},
    }
