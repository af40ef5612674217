"""The domain as the metadata store returns it: one frozen dataclass per stored record.

Field names are the columns of `store/schema.py` (a unit test keeps the two equal), so a row
read from any table arrives typed, and a misspelt attribute fails under mypy rather than at run
time. Records are immutable: a change is a write through the store, then a fresh read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    sid: str
    friendly_name: str
    auth_token: str  # in clear: checking X-Twilio-Signature needs it as the HMAC key
    date_created: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    sid: str
    account_sid: str
    friendly_name: str
    secret_hash: str
    date_created: datetime


@dataclass(frozen=True, slots=True)
class Service:
    id: int
    sid: str
    account_sid: str
    unique_name: str
    friendly_name: str
    include_credentials: bool
    ui_editable: bool
    domain_base: str
    kind: str  # "serverless", or "legacy" for the hidden service of Assets (Legacy)
    date_created: datetime
    date_updated: datetime


@dataclass(frozen=True, slots=True)
class Resource:
    """An Asset or a Function (`kind`), the named container of versions."""

    id: int
    sid: str
    account_sid: str
    service_sid: str
    kind: str
    friendly_name: str
    date_created: datetime
    date_updated: datetime


@dataclass(frozen=True, slots=True)
class Version:
    id: int
    sid: str
    account_sid: str
    service_sid: str
    resource_sid: str
    kind: str
    path: str
    visibility: str
    blob_hash: str
    size: int
    content_type: str
    date_created: datetime


@dataclass(frozen=True, slots=True)
class Build:
    id: int
    sid: str
    account_sid: str
    service_sid: str
    status: str
    status_reason: str | None
    runtime: str
    dependencies: str  # JSON list of {name, version}
    date_created: datetime
    date_updated: datetime


@dataclass(frozen=True, slots=True)
class BuildEntry:
    """A version frozen into a build: a copy of its serving facts."""

    id: int
    build_sid: str
    version_sid: str
    resource_sid: str
    kind: str
    path: str
    visibility: str
    blob_hash: str
    size: int
    content_type: str
    version_date_created: datetime


@dataclass(frozen=True, slots=True)
class Environment:
    id: int
    sid: str
    account_sid: str
    service_sid: str
    unique_name: str
    domain_suffix: str | None
    domain_label: str  # {domain_base}[-{suffix}]: the base domain is the server's, not stored
    build_sid: str | None
    date_created: datetime
    date_updated: datetime


@dataclass(frozen=True, slots=True)
class Deployment:
    id: int
    sid: str
    account_sid: str
    service_sid: str
    environment_sid: str
    build_sid: str | None
    date_created: datetime
    date_updated: datetime


@dataclass(frozen=True, slots=True)
class Variable:
    id: int
    sid: str
    account_sid: str
    service_sid: str
    environment_sid: str
    key: str
    value: str
    date_created: datetime
    date_updated: datetime


@dataclass(frozen=True, slots=True)
class Usage:
    account_sid: str
    month: str  # YYYY-MM, UTC
    requests: int


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    id: str  # SHA-256 of the cookie's token
    account_sid: str
    credential_sid: str
    credential_digest: str
    date_created: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class LogLine:
    id: int
    sid: str
    account_sid: str
    service_sid: str
    environment_sid: str
    build_sid: str
    deployment_sid: str | None
    function_sid: str | None
    request_sid: str | None
    level: str
    message: str
    date_created: datetime


@dataclass(frozen=True, slots=True)
class Media:
    """What one blob's bytes are (core/media.py), shared by every version of them."""

    blob_hash: str
    kind: str  # audio | image | video | text | other
    format: str | None
    codec: str | None
    sniffed_type: str | None
    duration_ms: int | None
    sample_rate: int | None
    channels: int | None
    bitrate: int | None
    width: int | None
    height: int | None
    has_exif: bool
    has_gps: bool
    date_created: datetime


@dataclass(frozen=True, slots=True)
class MediaSettings:
    service_sid: str
    strip_metadata: bool
    strict_rules: str  # comma-separated rule names (core/checks.py)
    date_updated: datetime
