"""The second seed's two JavaScript examples, deployed exactly as written, and the same two
things done by Python functions: private assets read by server-side code."""

from __future__ import annotations

import re

from edgekit import mp3_bytes
from fnkit import deploy_project, seed_examples

MY_FILE = "Ahoy! This text lives in a private asset.\n"
PY_READ = '''
def handler(context, event):
    text = context.assets["/my_file.txt"].open()
    print("Your file contents: " + text)
    return None
'''
PY_AUDIO = '''
import os

def handler(context, event):
    mp3_path = context.assets["/audio.mp3"].path
    with open(mp3_path, "rb") as f:
        data = f.read()
    response = Response()
    response.set_body(data)
    response.append_header("Content-Type", "audio/mpeg")
    response.append_header("Content-Length", os.stat(mp3_path).st_size)
    return response
'''


def test_seed_examples_read_a_private_text_and_serve_a_private_mp3(fn_server, fn_http):
    read_file, serve_audio = seed_examples()
    mp3 = mp3_bytes()
    d = deploy_project(fn_server, fn_http, {
        "functions/read-file.js": read_file,
        "functions/audio.js": serve_audio,
        "assets/my_file.private.txt": MY_FILE,
        "assets/audio.private.mp3": mp3,
        "assets/hello.txt": "public neighbour\n",
    })
    site = d.site

    resp = site.get("/read-file")
    assert resp.status_code == 200, resp.text
    assert resp.content == b""  # callback() with nothing: an empty 200

    resp = site.get("/audio")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "audio/mpeg"
    assert resp.headers["content-length"] == str(len(mp3))
    assert resp.content == mp3

    # the private assets themselves are never served by URL, the public one is
    assert site.get("/my_file.txt").status_code == 404
    assert site.get("/audio.mp3").status_code == 404
    assert site.get("/hello.txt").content == b"public neighbour\n"

    # what the function printed is in the environment's Logs, with who printed it
    entry = d.wait_log(fn_http, "Your file contents: " + MY_FILE)
    assert entry["level"] == "info"
    assert entry["message"] == "Your file contents: " + MY_FILE
    assert entry["function_sid"] == d.functions["/read-file"]
    assert entry["build_sid"] == site.build_sid
    assert entry["environment_sid"] == site.env_sid
    assert entry["service_sid"] == site.service_sid
    assert entry["account_sid"] == fn_server.account_sid
    assert re.fullmatch(r"RQ[0-9a-f]{32}", entry["request_sid"])
    assert re.fullmatch(r"ZD[0-9a-f]{32}", entry["deployment_sid"])
    fetched = fn_http.get(entry["url"].replace(fn_server.base_url, ""))
    assert fetched.status_code == 200 and fetched.json() == entry
    # FunctionSid filters; another function's SID finds nothing of this one
    assert [e["sid"] for e in d.logs(fn_http, FunctionSid=d.functions["/read-file"])] == [entry["sid"]]
    assert d.logs(fn_http, FunctionSid=d.functions["/audio"]) == []
    assert d.logs(fn_http, EndDate="2020-01-01T00:00:00Z") == []


def test_python_functions_do_the_same(fn_server, fn_http):
    mp3 = mp3_bytes() + b"python"
    d = deploy_project(fn_server, fn_http, {
        "functions/py-read.py": PY_READ,
        "functions/py-audio.py": PY_AUDIO,
        "assets/my_file.private.txt": MY_FILE,
        "assets/audio.private.mp3": mp3,
    })
    resp = d.site.get("/py-read")
    assert resp.status_code == 200, resp.text
    resp = d.site.get("/py-audio")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "audio/mpeg"
    assert resp.headers["content-length"] == str(len(mp3))
    assert resp.content == mp3
    entry = d.wait_log(fn_http, "Your file contents: ")
    assert entry["message"] == "Your file contents: " + MY_FILE.rstrip("\n")  # print(): one line per line
    assert entry["function_sid"] == d.functions["/py-read"]
