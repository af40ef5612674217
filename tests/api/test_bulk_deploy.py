"""The bulk deploy (`POST /assethost/v1/Services/{ZS}/Manifest` and `…/Deploy`) against a real
server, on SQLite and on PostgreSQL (with its blobs in S3): the same result as the standard API,
only missing content sent, refusals in Twilio's body with nothing stored, and no way to learn
what another account stores."""

from __future__ import annotations

import base64
import json
import os
import socket
import time

from clikit import edge_get, run_cli, write_files
from helpers import assert_error, blob_files, create_asset, create_service, list_all, sha256_hex, uniq, upload

DEPLOY_TYPE = "application/vnd.assethost.deploy"
X = "/assethost/v1/Services"


def entry(path: str, content: bytes, visibility: str = "public", kind: str = "asset",
          content_type: str = "text/plain") -> dict:
    return {"kind": kind, "path": path, "visibility": visibility, "sha256": sha256_hex(content),
            "size": len(content), "content_type": content_type}


def body(manifest: dict, contents: list[bytes]) -> bytes:
    return json.dumps(manifest).encode() + b"\n" + b"".join(contents)


def post_manifest(http, zs: str, files: list[dict]):
    return http.post(f"{X}/{zs}/Manifest", json={"files": files})


def post_deploy(http, zs: str, manifest: dict, contents: list[bytes], **headers):
    return http.post(f"{X}/{zs}/Deploy", content=body(manifest, contents),
                     headers={"Content-Type": DEPLOY_TYPE, **headers})


def stored(http, zs: str) -> tuple[int, int, int]:
    """(assets and functions, versions, builds) of a service."""
    resources = len(list_all(http, f"/v1/Services/{zs}/Assets", "assets"))
    resources += len(list_all(http, f"/v1/Services/{zs}/Functions", "functions"))
    versions = len(list_all(http, f"{X}/{zs}/Versions", "versions"))
    return resources, versions, len(list_all(http, f"/v1/Services/{zs}/Builds", "builds"))


def wait_tmp_empty(server, timeout: float = 10.0) -> list[str]:
    """The upload files left in the blob folder's tmp/ once the server is done with them."""
    tmp = os.path.join(server.data_dir, "blobs", "tmp")
    deadline = time.monotonic() + timeout
    while True:
        left = [n for n in os.listdir(tmp) if n.startswith("upload-")] if os.path.isdir(tmp) else []
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


# --- the same result as the standard API -------------------------------------------------------

PROJECT = {
    "assets/index.html": "<h1>home</h1>\n",
    "assets/style.css": "body { color: red; }\n",
    "assets/img/logo.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
    "assets/admin.protected.html": "<h1>admin only</h1>\n",
    "assets/secret.private.txt": "private stuff\n",
    "assets/empty.txt": "",
    "assets/twin-a.txt": "same bytes\n",
    "assets/twin-b.txt": "same bytes\n",
    "functions/hello.js": "exports.handler = (c, e, cb) => cb(null, 'hi');\n",
    **{f"assets/many/f{i:02d}.txt": f"file {i}\n" * (i + 1) for i in range(20)},
}


def _snapshot(http, zs: str) -> dict:
    """What a deploy made, without SIDs and dates: the API's listings, compared field by field."""
    assets = sorted(a["friendly_name"] for a in list_all(http, f"/v1/Services/{zs}/Assets", "assets"))
    functions = sorted(f["friendly_name"] for f in list_all(http, f"/v1/Services/{zs}/Functions", "functions"))
    versions = sorted((v["kind"], v["path"], v["visibility"], v["sha256"], v["size"], v["content_type"])
                      for v in list_all(http, f"{X}/{zs}/Versions", "versions"))
    builds = [(b["status"], b["runtime"], b["dependencies"],
               sorted((v["path"], v["visibility"]) for v in b["asset_versions"]),
               sorted((v["path"], v["visibility"]) for v in b["function_versions"]))
              for b in list_all(http, f"/v1/Services/{zs}/Builds", "builds")]
    media = sorted((v["path"], json.dumps(http.get(f"{X}/{zs}/Assets/{v['resource_sid']}/Versions/{v['sid']}")
                                          .json()["media"], sort_keys=True))
                   for v in list_all(http, f"{X}/{zs}/Versions", "versions") if v["kind"] == "asset")
    envs = list_all(http, f"/v1/Services/{zs}/Environments", "environments")
    deployments = [len(list_all(http, f"/v1/Services/{zs}/Environments/{e['sid']}/Deployments", "deployments"))
                   for e in envs]
    return {"assets": assets, "functions": functions, "versions": versions, "builds": builds, "media": media,
            "environments": [(e["unique_name"], e["domain_suffix"], e["build_sid"] is not None) for e in envs],
            "deployments": deployments}


def test_a_bulk_deploy_makes_what_the_standard_api_makes(server, http, tmp_path):
    write_files(tmp_path, PROJECT)
    names = {"bulk": uniq("bulk"), "standard": uniq("std")}  # bulk first: it has to send everything
    results = {
        how: run_cli(server, "deploy", str(tmp_path), "-n", name, "--json", *(["--no-bulk"] if how == "standard" else []),
                     timeout=300).ok().json()
        for how, name in names.items()
    }
    snapshots = {how: _snapshot(http, r["service"]["sid"]) for how, r in results.items()}
    assert snapshots["bulk"] == snapshots["standard"]
    assert len(snapshots["bulk"]["versions"]) == len(PROJECT)
    assert all(json.loads(m) is not None for _, m in snapshots["bulk"]["media"])  # inspected, as uploads are
    assert snapshots["bulk"]["builds"][0][0] == "completed" and snapshots["bulk"]["deployments"] == [1]
    # the bulk path sent each distinct content once, in one request
    counts = results["bulk"]["counts"]
    assert (counts["files"], counts["resources_created"]) == (len(PROJECT), len(PROJECT))
    assert counts["uploaded_bytes"] == sum(len(c if isinstance(c, bytes) else c.encode())
                                           for p, c in PROJECT.items() if p != "assets/twin-b.txt")
    for r in results.values():
        assert edge_get(server, r["environment"]["domain_name"], "/img/logo.png").content == PROJECT["assets/img/logo.png"]
        assert edge_get(server, r["environment"]["domain_name"], "/hello").text == "hi"


# --- only what is missing is sent -------------------------------------------------------------


def test_only_missing_content_is_asked_for_and_sent(server, http):
    zs = create_service(http, uniq("bm"))["sid"]
    a, b, c = b"alpha\n" * 100, b"beta\n" * 100, b"gamma\n" * 100
    files = [entry("/a.txt", a), entry("/b.txt", b)]
    answer = post_manifest(http, zs, files)
    assert answer.status_code == 200, answer.text
    assert answer.json()["missing"] == [sha256_hex(a), sha256_hex(b)]
    assert answer.json()["missing_bytes"] == len(a) + len(b)
    blobs_before = blob_files(server.data_dir)
    first = post_deploy(http, zs, {"files": files, "upload": [sha256_hex(a), sha256_hex(b)]}, [a, b])
    assert first.status_code == 201, first.text
    assert (first.json()["uploaded"], first.json()["uploaded_bytes"]) == (2, len(a) + len(b))
    assert len(blob_files(server.data_dir)) == len(blobs_before) + 2
    # a and b are this account's now: only c is missing, and only c is sent
    files.append(entry("/c.txt", c))
    assert post_manifest(http, zs, files).json()["missing"] == [sha256_hex(c)]
    second = post_deploy(http, zs, {"files": files, "upload": [sha256_hex(c)]}, [c])
    assert second.status_code == 201, second.text
    assert (second.json()["uploaded"], second.json()["uploaded_bytes"]) == (1, len(c))
    assert len(blob_files(server.data_dir)) == len(blobs_before) + 3
    build = second.json()["build"]
    assert sorted(v["path"] for v in build["asset_versions"]) == ["/a.txt", "/b.txt", "/c.txt"]
    assert second.json()["resources_created"] == 1  # /a.txt and /b.txt existed
    assert http.get(f"/v1/Services/{zs}/Builds/{build['sid']}").json()["status"] == "completed"


def test_reused_versions_and_the_deployment_in_the_same_request(server, http):
    zs = create_service(http, uniq("bd"))["sid"]
    env = http.post(f"/v1/Services/{zs}/Environments", data={"UniqueName": "dev", "DomainSuffix": "dev"}).json()
    one, two = b"one\n", b"two\n"
    first = post_deploy(http, zs, {"files": [entry("/one.txt", one)], "upload": [sha256_hex(one)],
                                   "environment": env["sid"]}, [one])
    assert first.status_code == 201, first.text
    kept = first.json()["versions"][0]["sid"]
    second = post_deploy(http, zs, {"files": [{"version_sid": kept}, entry("/two.txt", two, "protected")],
                                    "upload": [sha256_hex(two)], "environment": env["sid"]}, [two])
    assert second.status_code == 201, second.text
    done = second.json()
    assert done["versions"][0]["sid"] == kept and done["uploaded"] == 1
    assert done["deployment"]["build_sid"] == done["build"]["sid"]
    now = http.get(f"/v1/Services/{zs}/Environments/{env['sid']}").json()
    assert now["build_sid"] == done["build"]["sid"]
    assert edge_get(server, now["domain_name"], "/one.txt").text == "one\n"
    assert edge_get(server, now["domain_name"], "/two.txt").status_code == 403  # protected, unsigned


# --- refusals: Twilio's error body, nothing stored ---------------------------------------------


def test_bytes_that_do_not_match_their_hash_store_nothing(server, http):
    zs = create_service(http, uniq("bx"))["sid"]
    good, claimed, sent = b"good\n", b"the manifest's\n", b"something else\n"
    assert len(claimed) == len(sent)
    blobs_before = blob_files(server.data_dir)
    files = [entry("/good.txt", good), entry("/bad.txt", claimed)]
    answer = post_deploy(http, zs, {"files": files, "upload": [sha256_hex(good), sha256_hex(claimed)]},
                         [good, sent])
    assert_error(answer, 400, 20001, "SHA-256", "/bad.txt", sha256_hex(claimed))
    assert stored(http, zs) == (0, 0, 0)
    assert blob_files(server.data_dir) == blobs_before  # neither file: the batch was refused whole
    assert wait_tmp_empty(server) == []
    # the hash was not taken as this account's: it is still missing
    assert post_manifest(http, zs, files).json()["missing"] == [sha256_hex(good), sha256_hex(claimed)]


def test_another_accounts_identical_file_is_not_present(server, http, other_http):
    content = f"shared secret {uniq()}\n".encode()
    theirs = create_service(other_http, uniq("other"))["sid"]
    asset = create_asset(other_http, theirs)
    assert upload(other_http, theirs, "Assets", asset["sid"], "/s.txt", content, "public").status_code == 201
    # the owner sees it as present (the rule works)...
    assert post_manifest(other_http, theirs, [entry("/s.txt", content)]).json()["missing"] == []
    # ...this account gets the same answer as for bytes nobody stores
    zs = create_service(http, uniq("mine"))["sid"]
    unknown = os.urandom(len(content))
    answer = post_manifest(http, zs, [entry("/s.txt", content), entry("/u.txt", unknown)])
    assert answer.json()["missing"] == [sha256_hex(content), sha256_hex(unknown)]
    # and naming it without sending it makes nothing
    refused = post_deploy(http, zs, {"files": [entry("/s.txt", content)], "upload": []}, [])
    assert_error(refused, 400, 20001, "was not sent")
    assert stored(http, zs) == (0, 0, 0)


def test_bad_manifests_are_refused_in_twilios_body(server, http):
    zs = create_service(http, uniq("bb"))["sid"]
    ok = entry("/a.txt", b"a")
    cases = [
        (b"not json", 400, "not valid JSON"),
        (json.dumps({"files": "nope"}).encode(), 400, "list"),
        (json.dumps({"files": [{**ok, "sha256": "ABC"}]}).encode(), 400, "sha256"),
        (json.dumps({"files": [{**ok, "size": -1}]}).encode(), 400, "size"),
        (json.dumps({"files": [{**ok, "kind": "page"}]}).encode(), 400, "kind"),
        (json.dumps({"files": [{**ok, "visibility": "secret"}]}).encode(), 400, "Visibility"),
        (json.dumps({"files": [{**ok, "path": "/a/../b"}]}).encode(), 400, "files[0]"),
        (json.dumps({"files": [{**ok, "colour": "red"}]}).encode(), 400, "unknown fields"),
        (json.dumps({"files": [ok, ok]}).encode(), 400, "more than once"),
        (json.dumps({"files": [ok], "upload": []}).encode(), 400, "unknown fields"),  # upload: Deploy only
    ]
    for raw, status, mention in cases:
        assert_error(http.post(f"{X}/{zs}/Manifest", content=raw, headers={"Content-Type": "application/json"}),
                     status, None, mention)
    assert_error(post_manifest(http, uniq("nosuch"), [ok]), 404, 20404)
    a = b"a"
    deploy_cases = [
        ({"files": [ok], "upload": [sha256_hex(b"zzz")]}, [a], {}, "no new file"),
        ({"files": [ok], "upload": [ok["sha256"], ok["sha256"]]}, [a, a], {}, "more than once"),
        ({"files": [ok], "upload": [ok["sha256"]], "environment": "prod"}, [a], {}, "Environment SID"),
        ({"files": [ok], "upload": [ok["sha256"]], "runtime": "node4"}, [a], {}, "Runtime"),
        ({"files": [ok], "upload": [ok["sha256"]], "dependencies": [{"name": "x", "version": "file:../x"}]},
         [a], {}, "registry"),
        ({"files": [], "upload": []}, [], {}, "At least one"),
        ({"files": [ok], "upload": [ok["sha256"]]}, [a, b"extra"], {}, "the manifest"),  # Content-Length
        ({"files": [ok], "upload": [ok["sha256"]]}, [a], {"Content-Type": "multipart/form-data"}, DEPLOY_TYPE),
    ]
    for manifest, contents, headers, mention in deploy_cases:
        assert_error(post_deploy(http, zs, manifest, contents, **headers), 400, 20001, mention)
    # a body cut short of what the manifest announces (sent without a Content-Length)
    short = http.post(f"{X}/{zs}/Deploy", headers={"Content-Type": DEPLOY_TYPE},
                      content=iter([body({"files": [entry("/b.txt", b"bbbb")], "upload": [sha256_hex(b"bbbb")]},
                                         [b"bb"])]))
    assert_error(short, 400, 20001, "ended after 0 of the 1 files")
    longer = http.post(f"{X}/{zs}/Deploy", headers={"Content-Type": DEPLOY_TYPE},
                       content=iter([body({"files": [ok], "upload": [ok["sha256"]]}, [b"a", b"more"])]))
    assert_error(longer, 400, 20001, "more bytes")
    assert stored(http, zs) == (0, 0, 0)
    assert wait_tmp_empty(server) == []


def test_limits_of_files_and_manifests(limited_server):
    with limited_server.http_client() as http:
        zs = create_service(http, uniq("bl"))["sid"]
        too_big = {**entry("/big.txt", b"x"), "size": 1001}  # --max-public-bytes 1000
        assert_error(post_manifest(http, zs, [too_big]), 413, 20413, "/big.txt", "1000 bytes")
        assert_error(post_deploy(http, zs, {"files": [too_big], "upload": [too_big["sha256"]]}, [b"x" * 1001]),
                     413, 20413, "/big.txt")
        many = [entry(f"/f{i}.txt", str(i).encode()) for i in range(11)]  # the build limits: 3 + 3 + 2 + 2
        assert_error(post_manifest(http, zs, many), 400, 20001, "at most 10 files")
        four = many[:4]  # within the manifest bound, over the build's 3 public versions
        answer = post_deploy(http, zs, {"files": four, "upload": [f["sha256"] for f in four]},
                             [str(i).encode() for i in range(4)])
        assert_error(answer, 400, 20001, "at most 3 public asset versions")
        assert stored(http, zs) == (0, 0, 0)
        huge = b'{"files": [' + b" " * (4 * 1024 * 1024) + b"]}"  # past --max-form-bytes (4 MiB)
        assert_error(http.post(f"{X}/{zs}/Manifest", content=huge), 413, None, "manifest")


# --- an interrupted upload ---------------------------------------------------------------------


def test_an_interrupted_upload_leaves_no_version(server, http):
    zs = create_service(http, uniq("bi"))["sid"]
    blobs_before = blob_files(server.data_dir)
    a, b = os.urandom(300_000), os.urandom(300_000)
    manifest = {"files": [entry("/a.bin", a), entry("/b.bin", b)], "upload": [sha256_hex(a), sha256_hex(b)]}
    head = json.dumps(manifest).encode() + b"\n"
    auth = base64.b64encode(f"{server.account_sid}:{server.auth_token}".encode()).decode()
    request = (f"POST {X}/{zs}/Deploy HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAuthorization: Basic {auth}\r\n"
               f"Content-Type: {DEPLOY_TYPE}\r\nContent-Length: {len(head) + len(a) + len(b)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(request + head + a + b[:100_000])  # a whole, b a third: then the client is gone
        time.sleep(0.5)
    assert wait_tmp_empty(server) == []
    assert stored(http, zs) == (0, 0, 0)
    assert len(blob_files(server.data_dir)) - len(blobs_before) <= 1  # at most a, never b
    # the next run sends it all again and succeeds
    again = post_deploy(http, zs, manifest, [a, b])
    assert again.status_code == 201, again.text
    assert stored(http, zs) == (2, 2, 1)


def test_a_function_build_is_packaged_in_the_background(server, http):
    zs = create_service(http, uniq("bf"))["sid"]
    source = b"exports.handler = (c, e, cb) => cb(null, 'bulk');\n"
    f = entry("/fn", source, kind="function", content_type="application/javascript")
    env = http.post(f"/v1/Services/{zs}/Environments", data={"UniqueName": "dev", "DomainSuffix": "dev"}).json()
    answer = post_deploy(http, zs, {"files": [f], "upload": [f["sha256"]], "environment": env["sid"]}, [source])
    assert answer.status_code == 201, answer.text
    done = answer.json()
    assert done["deployment"] is None and done["build"]["status"] == "building"  # packaged in the background
    deadline = time.monotonic() + 120
    while http.get(f"/v1/Services/{zs}/Builds/{done['build']['sid']}/Status").json()["status"] == "building":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert http.get(f"/v1/Services/{zs}/Builds/{done['build']['sid']}/Status").json()["status"] == "completed"


def test_a_deploy_larger_than_the_receive_queue_streams_through(server, http):
    """More bytes than wait in memory at once (8 pieces of 1 MiB): the body keeps flowing."""
    zs = create_service(http, uniq("bg"))["sid"]
    env = http.post(f"/v1/Services/{zs}/Environments", data={"UniqueName": "dev", "DomainSuffix": "dev"}).json()
    contents = [os.urandom(5_000_000) for _ in range(3)]
    files = [entry(f"/big{i}.bin", c, content_type="application/octet-stream") for i, c in enumerate(contents)]
    started = time.monotonic()
    answer = post_deploy(http, zs, {"files": files, "upload": [f["sha256"] for f in files],
                                    "environment": env["sid"]}, contents)
    assert answer.status_code == 201, answer.text
    assert time.monotonic() - started < 60
    assert answer.json()["uploaded_bytes"] == 15_000_000
    domain = answer.json()["deployment"] and http.get(f"/v1/Services/{zs}/Environments/{env['sid']}").json()
    assert sha256_hex(edge_get(server, domain["domain_name"], "/big2.bin").content) == files[2]["sha256"]


def test_a_service_that_strips_metadata_takes_the_standard_uploads(server, http, tmp_path):
    """Stripping changes the bytes, which a manifest's hashes cannot know: the bulk deploy refuses
    such a service (409) and the CLI deploys it file by file instead."""
    name = uniq("strip")
    zs = create_service(http, name)["sid"]
    assert http.post(f"{X}/{zs}/MediaSettings", data={"StripMetadata": "true"}).status_code == 200
    assert_error(post_manifest(http, zs, [entry("/a.txt", b"a")]), 409, 20409, "StripMetadata")
    assert_error(post_deploy(http, zs, {"files": [entry("/a.txt", b"a")], "upload": [sha256_hex(b"a")]}, [b"a"]),
                 409, 20409, "StripMetadata")
    assert stored(http, zs) == (0, 0, 0)
    write_files(tmp_path, {"assets/a.txt": f"a {name}\n"})
    r = run_cli(server, "deploy", str(tmp_path), "-n", name, "--json").ok().json()
    assert r["counts"]["uploaded"] == 1 and stored(http, zs) == (1, 1, 1)
