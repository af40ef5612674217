"""A project folder as Twilio's Serverless Toolkit reads it, turned into the files to deploy.

The rules are the toolkit's (`@twilio-labs/serverless-api` `utils/fs.ts`), ported one by one:

* functions come from the first existing folder of `functions/`, `src/`; assets from the first of
  `assets/`, `static/`. The folder's own name is never part of a path, so `assets/assets/index.html`
  is `/assets/index.html` (which the edge also serves for `/`).
* functions are the `.js` files, deployed without `.js`; assets keep their extension. On top of
  the toolkit (which only knows `.js`), `.py` files are Python functions, deployed without `.py`
  and uploaded as `text/x-python` (the server's rule: a function version is Python when its
  content type says so or its path ends in `.py`).
* `.protected` or `.private` right before the last extension sets the visibility (public
  otherwise); the first `.{visibility}` of the base name is removed, which also strips `.public`
  (`foo.public.txt` is `/foo.txt`).
* whitespace becomes `-`, backslashes become `/`.
* `checkForValidPath`: the path starts with `/`, has no `#`, none of ``;,?:@+&$()' "``, and is
  shorter than 256 characters. A file breaking a rule stops the deploy before any HTTP call.

Which files are skipped (dotfiles, `node_modules`, `.assetsignore`) is in `ignore.py`.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from assethost.cli.ignore import IgnoreRules

FUNCTION_DIRS = ("functions", "src")
ASSET_DIRS = ("assets", "static")
FUNCTION_EXTENSION = ".js"
PYTHON_EXTENSION = ".py"
FUNCTION_EXTENSIONS = (FUNCTION_EXTENSION, PYTHON_EXTENSION)
PYTHON_CONTENT_TYPE = "text/x-python"
JAVASCRIPT_CONTENT_TYPE = "application/javascript"
MAX_PATH_LENGTH = 255  # the toolkit: "must be shorter than 256 characters"
_INVALID_CHARACTERS = re.compile(r"""[;,?:@+&$()' "]""")
# Deployment variables the toolkit never sends: they are the deploy's own credentials.
CREDENTIAL_KEYS = ("ACCOUNT_SID", "AUTH_TOKEN")


class ProjectError(Exception):
    """A file (or the project) breaks a rule; the message names both."""


def check_valid_path(path: str) -> str | None:
    """The toolkit's checkForValidPath: None if valid, else the rule that is broken."""
    if not path.startswith("/"):
        return f'Expected path to start with "/". Got: "{path}"'
    if "#" in path:
        return f'Path cannot contain a #. Got: "{path}"'
    if _INVALID_CHARACTERS.search(path):
        return f"""Path cannot contain any of the following characters: ;,?:@+&$()' ". Got: "{path}\""""
    if len(path) > MAX_PATH_LENGTH:
        return f"Path length must be shorter than 256 characters. Got: {len(path)} characters."
    return None


def _to_unix(path: str) -> str:
    """upath's toUnix: backslashes to slashes, repeated slashes collapsed (except a leading pair)."""
    path = path.replace("\\", "/")
    return re.sub(r"(?<!^)/+", "/", path)


def path_and_visibility(name: str, ignore_extension: str | None = None) -> tuple[str, str]:
    """Deployed path and visibility of a file, from its name relative to the assets or functions
    folder (POSIX separators). Raises ProjectError when the path breaks checkForValidPath."""
    directory, base = posixpath.split(name)
    stem, ext = posixpath.splitext(base)  # like node's extname: '.env' has none, 'a.' has '.'
    access = "public"
    if f".protected{ext}" in name:
        access = "protected"
    elif f".private{ext}" in name:
        access = "private"
    stem = stem.replace(f".{access}", "", 1)
    joined = posixpath.normpath(posixpath.join(directory or ".", stem))
    resource_path = "/" + joined
    if ext != ignore_extension:
        resource_path += ext
    resource_path = _to_unix(re.sub(r"\s", "-", resource_path))
    problem = check_valid_path(resource_path)
    if problem:
        raise ProjectError(problem)
    return resource_path, access


@dataclass(frozen=True)
class ProjectFile:
    kind: str  # "asset" or "function"
    rel: str  # relative to the project root, e.g. "assets/admin.protected.html"
    abs_path: Path
    path: str  # deployed path, e.g. "/admin.html"
    visibility: str
    size: int

    @property
    def language(self) -> str | None:
        """"python" or "node" for functions (by the file's extension), None for assets."""
        if self.kind != "function":
            return None
        return "python" if self.rel.endswith(PYTHON_EXTENSION) else "node"

    @property
    def filename(self) -> str:
        """The multipart filename the toolkit sends: the basename of the path (plus `.py` for a
        Python function, whose path has no extension)."""
        name = posixpath.basename(self.path) or "index"
        return name + PYTHON_EXTENSION if self.language == "python" else name


def function_language(content_type: str | None, path: str) -> str:
    """The server's rule (functions/package.py `language`): a function version is Python when its
    content type mentions python or its path ends in `.py`; JavaScript otherwise."""
    if "python" in (content_type or "").lower() or path.endswith(PYTHON_EXTENSION):
        return "python"
    return "node"


@dataclass
class Project:
    root: Path
    files: list[ProjectFile] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    dependencies: list[dict[str, str]] = field(default_factory=list)
    package_name: str | None = None
    assets_dir: str | None = None
    functions_dir: str | None = None

    @property
    def assets(self) -> list[ProjectFile]:
        return [f for f in self.files if f.kind == "asset"]

    @property
    def functions(self) -> list[ProjectFile]:
        return [f for f in self.files if f.kind == "function"]


def _first_dir(root: Path, names: tuple[str, ...]) -> str | None:
    for name in names:
        if (root / name).is_dir():
            return name
    return None


def _walk(root: Path, folder: str, rules: IgnoreRules) -> list[tuple[str, Path]]:
    """(name relative to the folder, absolute path) of every regular file kept by the rules."""
    out: list[tuple[str, Path]] = []
    base = root / folder
    for dirpath, dirnames, filenames in os.walk(base):
        here = Path(dirpath)
        rel_dir = PurePosixPath(here.relative_to(root).as_posix())
        dirnames[:] = sorted(d for d in dirnames if not rules.skips_dir(rel_dir / d))
        for name in sorted(filenames):
            full = here / name
            if rules.skips_file(rel_dir / name) or not full.is_file():
                continue
            out.append((full.relative_to(base).as_posix(), full))
    return out


def read_env_file(path: Path) -> dict[str, str]:
    """A .env file's variables as the toolkit deploys them: empty values and the deploy's own
    ACCOUNT_SID/AUTH_TOKEN left out."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    values = dotenv_values(path)
    return {k: v for k, v in values.items() if v and k not in CREDENTIAL_KEYS}


def read_package_json(root: Path) -> dict[str, Any]:
    file = root / "package.json"
    if not file.is_file():
        return {}
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ProjectError(f"package.json: not valid JSON ({exc})") from None
    return data if isinstance(data, dict) else {}


def dependencies_of(package: dict[str, Any]) -> list[dict[str, str]]:
    deps = package.get("dependencies") or {}
    if not isinstance(deps, dict):
        return []
    return [{"name": str(k), "version": str(v) if v else "*"} for k, v in sorted(deps.items())]


def scan(root: Path, env_file: str | None = ".env", assets_folder: str | None = None,
         functions_folder: str | None = None) -> Project:
    """Read a project folder. Raises ProjectError naming the file and the rule on any problem."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise ProjectError(f"{root}: not a folder")
    rules = IgnoreRules.for_project(root)
    package = read_package_json(root)
    project = Project(
        root=root,
        env=read_env_file(root / env_file) if env_file else {},
        dependencies=dependencies_of(package),
        package_name=package.get("name") if isinstance(package.get("name"), str) else None,
        assets_dir=assets_folder if assets_folder else _first_dir(root, ASSET_DIRS),
        functions_dir=functions_folder if functions_folder else _first_dir(root, FUNCTION_DIRS),
    )
    for kind, folder in (("function", project.functions_dir), ("asset", project.assets_dir)):
        if not folder:
            continue
        if not (root / folder).is_dir():
            raise ProjectError(f"{folder}: no such folder in {root}")
        for name, full in _walk(root, folder, rules):
            ext = posixpath.splitext(name)[1]
            if kind == "function" and ext not in FUNCTION_EXTENSIONS:
                continue
            rel = f"{folder}/{name}"
            try:
                path, visibility = path_and_visibility(name, ext if kind == "function" else None)
            except ProjectError as exc:
                raise ProjectError(f"{rel}: {exc}") from None
            project.files.append(ProjectFile(kind, rel, full, path, visibility, full.stat().st_size))
    _check_unique_paths(project.files)
    return project


def _check_unique_paths(files: list[ProjectFile]) -> None:
    seen: dict[str, ProjectFile] = {}
    for f in files:
        other = seen.get(f.path)
        if other is not None:
            raise ProjectError(
                f"{other.rel} and {f.rel} would both be deployed at {f.path}; a build holds one file per path"
            )
        seen[f.path] = f
