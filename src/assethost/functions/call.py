"""What the edge hands the runner (`FunctionCall`) and gets back (`FunctionResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FunctionEntry:
    """One function of a build, as the edge's snapshot knows it."""

    path: str
    visibility: str
    language: str  # "node" | "python"
    function_sid: str  # the Function (ZH…) the version belongs to
    version_sid: str


@dataclass(slots=True)
class FunctionCall:
    account_sid: str
    service_sid: str
    environment_sid: str
    build_sid: str
    auth_token: str
    include_credentials: bool
    variables: dict[str, str]
    function: FunctionEntry
    method: str
    scheme: str
    host: str  # as the client sent it (with the port, if any)
    path: str
    query: str
    headers: dict[bytes, bytes]
    form: list[tuple[str, str]] | None = None
    body: bytes | None = None


@dataclass(slots=True)
class FunctionResult:
    status: int
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
