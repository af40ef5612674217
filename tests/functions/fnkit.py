"""Deploy Serverless Toolkit project layouts (functions/ + assets/) through the API, the way
`twilio-run deploy` maps files to paths and visibilities, and call them through the edge."""

from __future__ import annotations

import json
import posixpath
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from edgekit import Site
from helpers import (
    create_asset,
    create_environment,
    create_function,
    create_service,
    deploy,
    uniq,
    upload,
    wait_build,
)

# The product documents sit beside the repository (shared/seeds/), as on every machine and in CI.
SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
# What the toolkit always sends (its own quirk: the JSON wrapped in one more pair of quotes).
TOOLKIT_DEPENDENCIES = '"[{"name":"@twilio/runtime-handler","version":"2.1.0"}]"'
LOG_TIMEOUT_S = 10.0

FUNCTION_TIMEOUT_S = 2  # the functions suite's server stops calls after this (--function-timeout)


def seed_examples() -> tuple[str, str]:
    """The two JavaScript examples of the second seed, exactly as written there (its numbered
    listing with the line numbers taken out)."""
    text = next(SEEDS.glob("001_*.txt")).read_text()
    blocks = []
    for title in ("Read the content of a Private Asset", "Serve an audio file from a Private Asset"):
        lines = text[text.index(title + "\n"):].split("\n")
        i = lines.index("1")
        code, number = [], 1
        while i < len(lines) and lines[i].strip() == str(number):
            # numbered listing: "n", then line n of the code; an empty line n has no line at all
            if i + 1 < len(lines) and lines[i + 1].strip() not in (str(number + 1), ""):
                code.append(lines[i + 1])
                i += 2
            else:
                code.append("")
                i += 1
            number += 1
        blocks.append("\n".join(code) + "\n")
    return blocks[0], blocks[1]


def toolkit_path(rel: str) -> tuple[str, str, str]:
    """(kind, path, visibility) for a file of a toolkit project, as serverless-api's fs.ts maps
    it: `functions/x.js` → /x, `.protected`/`.private` just before the last extension."""
    folder, name = rel.split("/", 1)
    kind = "function" if folder == "functions" else "asset"
    directory, base = posixpath.split(name)
    ext = posixpath.splitext(base)[1]
    stem = base[: -len(ext)] if ext else base
    access = "public"
    if f".protected{ext}" in base:
        access = "protected"
    elif f".private{ext}" in base:
        access = "private"
    stem = stem.replace(f".{access}", "")
    path = "/" + posixpath.join(directory, stem)
    if not (kind == "function" and ext in (".js", ".py")):
        path += ext
    return kind, re.sub(r"\s", "-", path), access


@dataclass
class Deployed:
    site: Site
    functions: dict[str, str] = field(default_factory=dict)  # path -> ZH
    build: dict = field(default_factory=dict)

    def logs(self, http: httpx.Client, **params) -> list[dict]:
        resp = http.get(f"/v1/Services/{self.site.service_sid}/Environments/{self.site.env_sid}/Logs",
                        params={"PageSize": 1000, **params})
        assert resp.status_code == 200, resp.text
        return resp.json()["logs"]

    def wait_log(self, http: httpx.Client, needle: str, timeout: float = LOG_TIMEOUT_S) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for entry in self.logs(http):
                if needle in entry["message"]:
                    return entry
            assert time.monotonic() < deadline, f"no log line with {needle!r}: {self.logs(http)}"
            time.sleep(0.2)


def upload_project(http: httpx.Client, service_sid: str, files: dict[str, bytes | str]) -> tuple[list, list, dict]:
    assets, functions, function_sids = [], [], {}
    for rel, content in files.items():
        kind, path, access = toolkit_path(rel)
        data = content.encode() if isinstance(content, str) else content
        if kind == "function":
            fn = create_function(http, service_sid, path)
            python = rel.endswith(".py")
            resp = upload(http, service_sid, "Functions", fn["sid"], path, data, access,
                          filename=posixpath.basename(path),
                          mime="text/x-python" if python else "application/javascript")
            assert resp.status_code == 201, resp.text
            functions.append(resp.json()["sid"])
            function_sids[path] = fn["sid"]
        else:
            asset = create_asset(http, service_sid, path)
            resp = upload(http, service_sid, "Assets", asset["sid"], path, data, access,
                          filename=posixpath.basename(path), mime="application/octet-stream")
            assert resp.status_code == 201, resp.text
            assets.append(resp.json()["sid"])
    return assets, functions, function_sids


def build(http: httpx.Client, service_sid: str, assets: list, functions: list,
          dependencies: str = TOOLKIT_DEPENDENCIES, timeout: float = 120.0) -> tuple[dict, str]:
    data: dict = {"Dependencies": dependencies}
    if assets:
        data["AssetVersions"] = assets
    if functions:
        data["FunctionVersions"] = functions
    resp = http.post(f"/v1/Services/{service_sid}/Builds", data=data)
    assert resp.status_code == 201, resp.text
    b = resp.json()
    return b, wait_build(http, service_sid, b["sid"], timeout)


def deploy_project(server, http: httpx.Client, files: dict[str, bytes | str], variables: dict | None = None,
                   dependencies: str = TOOLKIT_DEPENDENCIES, include_credentials: bool = True) -> Deployed:
    service = create_service(http, uniq("fn"), IncludeCredentials=str(include_credentials).lower())
    assets, functions, function_sids = upload_project(http, service["sid"], files)
    b, status = build(http, service["sid"], assets, functions, dependencies)
    assert status == "completed", http.get(f"/assethost/v1/Services/{service['sid']}/Builds/{b['sid']}").text
    env = create_environment(http, service["sid"], uniq("env"), "dev")
    for key, value in (variables or {}).items():
        resp = http.post(f"/v1/Services/{service['sid']}/Environments/{env['sid']}/Variables",
                         data={"Key": key, "Value": value})
        assert resp.status_code == 201, resp.text
    resp = deploy(http, service["sid"], env["sid"], b["sid"])
    assert resp.status_code == 201, resp.text
    site = Site(server, service["sid"], env["sid"], env["domain_name"], b["sid"])
    return Deployed(site, function_sids, b)


def as_json(resp: httpx.Response) -> dict:
    try:
        return resp.json()
    except json.JSONDecodeError:
        raise AssertionError(f"not JSON ({resp.status_code}): {resp.text[:300]!r}") from None
