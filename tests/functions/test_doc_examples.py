"""docs/functions.md's Python example, deployed as written beside the private asset it reads."""

from __future__ import annotations

from fnkit import deploy_project
from helpers import doc_block
from servers import REPO

MY_FILE = "Ahoy from a private asset."  # one line: print() logs each line of what it prints


def test_the_python_example_answers_with_the_private_file_and_logs_it(fn_server, fn_http):
    d = deploy_project(fn_server, fn_http, {
        "functions/example.py": doc_block(REPO / "docs" / "functions.md", "functions-python") + "\n",
        "assets/my_file.private.txt": MY_FILE,
    })
    resp = d.site.get("/example")
    assert (resp.status_code, resp.headers["content-type"], resp.text) == (200, "text/plain", MY_FILE)
    entry = d.wait_log(fn_http, "Your file contents: " + MY_FILE)
    assert (entry["level"], entry["function_sid"]) == ("info", d.functions["/example"])
