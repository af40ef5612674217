"""Concurrent requests: uniqueness races and blob de-duplication races must not produce 500s."""

import os
from concurrent.futures import ThreadPoolExecutor

from helpers import assert_error, blob_files, create_asset, create_service, sha256_hex, uniq, upload

N = 8


def _parallel(server, fn, n=N):
    def run(i):
        with server.http_client() as c:
            return fn(c, i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def test_parallel_duplicate_service_creation(server, http):
    name = uniq("race")
    responses = _parallel(server, lambda c, i: c.post("/v1/Services", data={"UniqueName": name,
                                                                         "FriendlyName": f"r{i}"}))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * (N - 1), [(r.status_code, r.text[:200]) for r in responses]
    for r in responses:
        if r.status_code == 409:
            assert_error(r, 409, 20409)
    listed = [s for s in http.get("/v1/Services", params={"PageSize": 1000}).json()["services"]
              if s["unique_name"] == name]
    assert len(listed) == 1


def test_parallel_identical_uploads_share_one_blob(server, http):
    svc = create_service(http)
    assets = [create_asset(http, svc["sid"]) for _ in range(N)]
    content = os.urandom(64 * 1024)
    before = blob_files(server.data_dir)
    responses = _parallel(server, lambda c, i: upload(c, svc["sid"], "Assets", assets[i]["sid"], f"/same-{i}.bin",
                                                      content, "public", filename=f"same-{i}.bin"))
    assert [r.status_code for r in responses] == [201] * N, [r.text[:200] for r in responses]
    assert len({r.json()["sid"] for r in responses}) == N
    new = blob_files(server.data_dir) - before
    digest = sha256_hex(content)
    assert [p for p in new if digest in str(p)] and len(new) == 1, new


def test_parallel_duplicate_environment_creation(server, http):
    svc = create_service(http)
    responses = _parallel(server, lambda c, i: c.post(f"/v1/Services/{svc['sid']}/Environments",
                                                      data={"UniqueName": "prod", "DomainSuffix": f"s{i}"}))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * (N - 1), [(r.status_code, r.text[:200]) for r in responses]
    assert len(http.get(f"/v1/Services/{svc['sid']}/Environments").json()["environments"]) == 1
