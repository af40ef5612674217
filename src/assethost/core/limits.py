"""Per-file, per-build and per-upload limits; sizes and counts default to what Twilio documents.

"25 MB" is taken as 25 MiB so that a 25 MiB recording, the size people actually have, fits.
"""

from __future__ import annotations

from dataclasses import dataclass

from assethost.core.errors import Invalid, TooLarge

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_public_bytes: int = 25 * MiB  # public and protected, per file
    max_private_bytes: int = 10 * MiB
    max_function_bytes: int = 10 * MiB
    max_public_versions: int = 1000  # per build, public and protected each
    max_private_versions: int = 50
    max_function_versions: int = 50
    # The most bytes of a form (every API and console request body but a file upload), which is
    # read whole: a build naming 3000 versions takes about 150 KB.
    max_form_bytes: int = 4 * MiB

    def max_bytes(self, kind: str, visibility: str) -> int:
        if kind == "function":
            return self.max_function_bytes
        return self.max_private_bytes if visibility == "private" else self.max_public_bytes

    def upload_ceiling(self, kind: str) -> int:
        """The most bytes an upload may stream before its visibility is known."""
        if kind == "function":
            return self.max_function_bytes
        return max(self.max_public_bytes, self.max_private_bytes)

    def check_file(self, kind: str, visibility: str, path: str, size: int) -> None:
        limit = self.max_bytes(kind, visibility)
        if size > limit:
            raise TooLarge(
                f"File {path} is {size} bytes; {visibility} {kind}s may be at most {limit} bytes"
            )

    def check_build(self, entries: list[tuple[str, str, str, int]]) -> None:
        """entries: (kind, visibility, path, size) of everything a build would hold."""
        counts: dict[tuple[str, str], int] = {}
        for kind, visibility, path, size in entries:
            limit = self.max_bytes(kind, visibility)
            if size > limit:
                raise Invalid(
                    f"{kind.capitalize()} {path} is {size} bytes; {visibility} {kind}s may be at most "
                    f"{limit} bytes"
                )
            key = (kind, "any" if kind == "function" else visibility)
            counts[key] = counts.get(key, 0) + 1
        for (kind, visibility), count in counts.items():
            if kind == "function":
                limit, what = self.max_function_versions, "function versions"
            elif visibility == "private":
                limit, what = self.max_private_versions, "private asset versions"
            else:
                limit, what = self.max_public_versions, f"{visibility} asset versions"
            if count > limit:
                raise Invalid(f"A build may hold at most {limit} {what}; this one has {count}")
