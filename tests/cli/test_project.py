"""Project layout rules (pure): the cases of the toolkit's fs.test.ts and the mapping observed with
twilio-run 5.0.1 (research/serverless-toolkit.md §1.3), plus our ignore rules.

fs.test.ts passes names with a leading slash (`/hello/example.js`); our function takes the name
relative to the assets or functions folder, which is what the toolkit's scan hands it, so the same
cases are written without it."""

from __future__ import annotations

import pytest
from clikit import write_files

from assethost.cli.project import ProjectError, check_valid_path, path_and_visibility, scan
from assethost.cli.targets import TargetError, parse_environment, service_name_for

# --- checkForValidPath (fs.test.ts) -------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/index.html", "/styles.css", "/sms", "/webhooks/voice", "/tokens/chat-access"])
def test_valid_paths(path):
    assert check_valid_path(path) is None


@pytest.mark.parametrize("path", [
    "/?", "/index:sample.html", "/styles(1).css", "/$money", "/webhooks/@voice", "/" + "x" * 256,
    "/index.html#hash", "relative-path",
])
def test_invalid_paths(path):
    assert check_valid_path(path)


def test_path_length_limit_is_255():
    assert check_valid_path("/" + "x" * 254) is None
    assert "shorter than 256" in check_valid_path("/" + "x" * 255)


@pytest.mark.parametrize("char", list(";,?:@+&$()' \""))
def test_each_forbidden_character(char):
    assert "cannot contain" in check_valid_path(f"/a{char}b")


# --- getPathAndAccessFromFileInfo (fs.test.ts) --------------------------------------------------


@pytest.mark.parametrize(("name", "ignore", "access", "path"), [
    ("hello/example.js", ".js", "public", "/hello/example"),
    ("hello/example.protected.js", ".js", "protected", "/hello/example"),
    ("hello/example.private.js", ".js", "private", "/hello/example"),
    ("hello/example.js", None, "public", "/hello/example.js"),
    ("hello/example.protected.js", None, "protected", "/hello/example.js"),
    ("hello/example.private.js", None, "private", "/hello/example.js"),
])
def test_visibility_and_path(name, ignore, access, path):
    assert path_and_visibility(name, ignore) == (path, access)


def test_invalid_file_name_names_the_rule():
    with pytest.raises(ProjectError, match=r'Path cannot contain a #. Got: "/hello/example#1.js"'):
        path_and_visibility("hello/example#1.private.js")


# --- the mapping observed with twilio-run 5.0.1 (research §1.3) ---------------------------------


@pytest.mark.parametrize(("name", "path", "access"), [
    ("style.css", "/style.css", "public"),
    ("img/logo.png", "/img/logo.png", "public"),
    ("admin.protected.html", "/admin.html", "protected"),
    ("secret.private.txt", "/secret.txt", "private"),
    ("assets/index.html", "/assets/index.html", "public"),
    ("my file.txt", "/my-file.txt", "public"),
    ("foo.public.txt", "/foo.txt", "public"),
    ("x.protected.tar.gz", "/x.protected.tar.gz", "public"),  # the suffix must precede the LAST extension
    ("my.public.key.pem", "/my.key.pem", "public"),  # the first ".public" goes, as in the toolkit
    ("tab\tand  spaces.txt", "/tab-and--spaces.txt", "public"),
    ("noext", "/noext", "public"),
    ("notes.private", "/notes.private", "public"),  # ".private" is the extension here, not a marker
])
def test_asset_mapping(name, path, access):
    assert path_and_visibility(name) == (path, access)


@pytest.mark.parametrize(("name", "path", "access"), [
    ("hello.js", "/hello", "public"),
    ("api/secret.protected.js", "/api/secret", "protected"),
    ("internal.private.js", "/internal", "private"),
])
def test_function_mapping(name, path, access):
    assert path_and_visibility(name, ".js") == (path, access)


def test_backslash_becomes_slash():
    assert path_and_visibility("dir\\file.txt") == ("/dir/file.txt", "public")


# --- scanning a folder ---------------------------------------------------------------------------


def _scan(tmp_path, files, **kw):
    write_files(tmp_path, files)
    return scan(tmp_path, **kw)


def _paths(project):
    return {(f.kind, f.path, f.visibility) for f in project.files}


def test_scan_sample_project(tmp_path):
    p = _scan(tmp_path, {
        "assets/style.css": "x", "assets/img/logo.png": b"\x89PNG", "assets/admin.protected.html": "a",
        "assets/secret.private.txt": "s", "assets/assets/index.html": "i", "assets/my file.txt": "m",
        "functions/hello.js": "h", "functions/api/secret.protected.js": "s", "functions/readme.md": "not a function",
        "package.json": '{"name": "@acme/my_site", "dependencies": {"@twilio/runtime-handler": "2.1.0", "x": ""}}',
        ".env": "ACCOUNT_SID=AC1\nAUTH_TOKEN=t\nMY_VAR=hello\nEMPTY=\n",
    })
    assert _paths(p) == {
        ("asset", "/style.css", "public"), ("asset", "/img/logo.png", "public"),
        ("asset", "/admin.html", "protected"), ("asset", "/secret.txt", "private"),
        ("asset", "/assets/index.html", "public"), ("asset", "/my-file.txt", "public"),
        ("function", "/hello", "public"), ("function", "/api/secret", "protected"),
    }
    assert p.env == {"MY_VAR": "hello"}  # credentials and empty values are not deployed (as the toolkit)
    assert p.dependencies == [{"name": "@twilio/runtime-handler", "version": "2.1.0"}, {"name": "x", "version": "*"}]
    assert service_name_for(p.root, p.package_name) == "my-site"
    files = {f.rel: f for f in p.files}
    assert files["assets/my file.txt"].filename == "my-file.txt"
    assert files["functions/hello.js"].filename == "hello"


def test_python_functions(tmp_path):
    from assethost.cli.deploy import Planned
    from assethost.cli.project import function_language

    p = _scan(tmp_path, {
        "functions/report.py": "r", "functions/api/secret.protected.py": "s", "functions/lib.private.py": "l",
        "functions/hello.js": "h", "functions/__pycache__/report.cpython-311.pyc": b"\0",
        "functions/notes.txt": "not a function", "assets/script.py": "an asset keeps its .py",
    })
    assert _paths(p) == {
        ("function", "/report", "public"), ("function", "/api/secret", "protected"),
        ("function", "/lib", "private"), ("function", "/hello", "public"), ("asset", "/script.py", "public"),
    }
    files = {f.rel: f for f in p.files}
    assert files["functions/report.py"].language == "python" and files["functions/hello.js"].language == "node"
    assert files["assets/script.py"].language is None
    assert files["functions/report.py"].filename == "report.py"
    assert Planned(files["functions/report.py"], "h").content_type == "text/x-python"
    assert Planned(files["functions/hello.js"], "h").content_type == "application/javascript"
    # the server's rule for what it stores
    assert function_language("text/x-python", "/report") == "python"
    assert function_language("application/octet-stream", "/report.py") == "python"
    assert function_language("application/javascript", "/hello") == "node"


def test_js_and_py_functions_on_one_path_are_refused(tmp_path):
    with pytest.raises(ProjectError, match="functions/hello.js and functions/hello.py would both be deployed at /hello"):
        _scan(tmp_path, {"functions/hello.js": "j", "functions/hello.py": "p"})


def test_static_and_src_are_the_fallback_folders(tmp_path):
    p = _scan(tmp_path, {"static/a.txt": "a", "src/f.js": "f"})
    assert _paths(p) == {("asset", "/a.txt", "public"), ("function", "/f", "public")}


def test_assets_wins_over_static(tmp_path):
    p = _scan(tmp_path, {"assets/a.txt": "a", "static/b.txt": "b"})
    assert _paths(p) == {("asset", "/a.txt", "public")}


def test_folder_overrides(tmp_path):
    p = _scan(tmp_path, {"public/a.txt": "a", "assets/b.txt": "b"}, assets_folder="public")
    assert _paths(p) == {("asset", "/a.txt", "public")}
    with pytest.raises(ProjectError, match="nowhere: no such folder"):
        scan(tmp_path, assets_folder="nowhere")


def test_dotfiles_dot_folders_and_node_modules_are_skipped(tmp_path):
    p = _scan(tmp_path, {
        "assets/.gitkeep": "", "assets/.DS_Store": "x", "assets/.well-known/x.txt": "x",
        "assets/node_modules/lib/a.js": "x", "assets/ok.txt": "ok", "functions/node_modules/m.js": "x",
        "functions/.hidden.js": "x",
    })
    assert _paths(p) == {("asset", "/ok.txt", "public")}


def test_assetsignore_patterns(tmp_path):
    p = _scan(tmp_path, {
        ".assetsignore": "# comment\n*.psd\nassets/drafts/\n/functions/wip.js\n!assets/keep.psd\n",
        "assets/a.psd": "x", "assets/keep.psd": "k", "assets/drafts/d.txt": "d", "assets/sub/b.psd": "x",
        "assets/ok.txt": "ok", "functions/wip.js": "w", "functions/live.js": "l",
    })
    assert _paths(p) == {
        ("asset", "/ok.txt", "public"), ("asset", "/keep.psd", "public"), ("function", "/live", "public"),
    }


def test_invalid_file_stops_the_scan_naming_file_and_rule(tmp_path):
    write_files(tmp_path, {"assets/ok.txt": "ok", "assets/styles(1).css": "x"})
    with pytest.raises(ProjectError) as exc:
        scan(tmp_path)
    assert "assets/styles(1).css" in str(exc.value)
    assert "cannot contain any of the following characters" in str(exc.value)


def test_two_files_on_one_path_are_refused(tmp_path):
    write_files(tmp_path, {"assets/a.txt": "1", "assets/a.public.txt": "2"})
    with pytest.raises(ProjectError, match=r"assets/a.public.txt and assets/a.txt would both be deployed at /a.txt"):
        scan(tmp_path)


def test_asset_and_function_on_one_path_are_refused(tmp_path):
    write_files(tmp_path, {"assets/hello": "1", "functions/hello.js": "2"})
    with pytest.raises(ProjectError, match="would both be deployed at /hello"):
        scan(tmp_path)


def test_empty_project_scans_to_nothing(tmp_path):
    assert scan(tmp_path).files == []


def test_bad_package_json_is_named(tmp_path):
    write_files(tmp_path, {"package.json": "{nope"})
    with pytest.raises(ProjectError, match="package.json: not valid JSON"):
        scan(tmp_path)


# --- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "name"), [
    ("my_site", "my-site"), ("@scope/pkg.name", "pkg-name"), ("--x--", "x"), ("ok-1", "ok-1"),
])
def test_service_names(tmp_path, raw, name):
    assert service_name_for(tmp_path, raw) == name


def test_service_name_from_folder(tmp_path):
    folder = tmp_path / "Hello World"
    folder.mkdir()
    assert service_name_for(folder, None) == "Hello-World"


@pytest.mark.parametrize(("value", "suffix", "unique"), [
    ("dev", "dev", "dev-environment"), ("production", None, "production"), ("prod", None, "production"),
    ("", None, "production"), ("stage-2", "stage-2", "stage-2-environment"),
])
def test_environment_names(value, suffix, unique):
    t = parse_environment(value)
    assert (t.suffix, t.unique_name) == (suffix, unique)


def test_environment_sid_and_bad_suffix():
    sid = "ZE" + "a" * 32
    assert parse_environment(sid).sid == sid
    with pytest.raises(TargetError):
        parse_environment("no spaces")
