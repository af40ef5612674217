"""Which files of a project folder are never deployed.

Always skipped: dotfiles and dot-folders (`.env`, `.git/`, `.DS_Store`, `.gitkeep`, …) and
`node_modules/` folders. On top of that, a `.assetsignore` file at the project root holds
gitignore-style patterns (matched with `pathspec`) relative to the project root, e.g.
`assets/drafts/` or `*.psd`.

This differs on purpose from Twilio's toolkit, which uploads every dotfile except `.DS_Store`
(so a `.gitkeep` becomes the asset `/.gitkeep`) and has no ignore file.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pathspec

IGNORE_FILE = ".assetsignore"
ALWAYS_SKIPPED_DIRS = ("node_modules",)


class IgnoreRules:
    def __init__(self, patterns: list[str] | None = None) -> None:
        self.patterns = [p for p in (patterns or []) if p.strip() and not p.lstrip().startswith("#")]
        self._spec = pathspec.GitIgnoreSpec.from_lines(self.patterns) if self.patterns else None

    @classmethod
    def for_project(cls, root: Path) -> IgnoreRules:
        file = root / IGNORE_FILE
        if file.is_file():
            return cls(file.read_text(encoding="utf-8").splitlines())
        return cls()

    def skips_dir(self, rel: PurePosixPath) -> bool:
        """rel: the folder relative to the project root."""
        name = rel.name
        if name.startswith(".") or name in ALWAYS_SKIPPED_DIRS:
            return True
        return bool(self._spec and self._spec.match_file(f"{rel.as_posix()}/"))

    def skips_file(self, rel: PurePosixPath) -> bool:
        """rel: the file relative to the project root."""
        if rel.name.startswith("."):
            return True
        return bool(self._spec and self._spec.match_file(rel.as_posix()))
