"""Table definitions. Every change here needs an Alembic migration in `migrations/versions/`.

Each table has an integer `id` that only gives lists a stable creation order (SIDs are random),
and a `sid` that is the public identity.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _id() -> Column[Any]:
    return Column("id", Integer, primary_key=True, autoincrement=True)


def _sid() -> Column[Any]:
    return Column("sid", String(34), nullable=False, unique=True)


def _service_fk() -> Column[Any]:
    return Column(
        "service_sid", String(34), ForeignKey("services.sid", ondelete="CASCADE"), nullable=False
    )


def _created() -> Column[Any]:
    return Column("date_created", DateTime, nullable=False)


def _updated() -> Column[Any]:
    return Column("date_updated", DateTime, nullable=False)


accounts = Table(
    "accounts",
    metadata,
    _id(),
    _sid(),
    Column("friendly_name", String(255), nullable=False),
    # Kept in clear: checking X-Twilio-Signature needs the token itself as the HMAC key.
    Column("auth_token", String(64), nullable=False),
    _created(),
)

api_keys = Table(
    "api_keys",
    metadata,
    _id(),
    _sid(),
    Column("account_sid", String(34), ForeignKey("accounts.sid", ondelete="CASCADE"), nullable=False),
    Column("friendly_name", String(255), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    _created(),
)

services = Table(
    "services",
    metadata,
    _id(),
    _sid(),
    Column("account_sid", String(34), ForeignKey("accounts.sid", ondelete="CASCADE"), nullable=False),
    Column("unique_name", String(50), nullable=False),
    Column("friendly_name", String(255), nullable=False),
    Column("include_credentials", Boolean, nullable=False),
    Column("ui_editable", Boolean, nullable=False),
    Column("domain_base", String(64), nullable=False, unique=True),
    # "serverless": the API's services. "legacy": the hidden service that holds an account's
    # Assets (Legacy) files; the Serverless API never sees it, as on Twilio.
    Column("kind", String(16), nullable=False, server_default="serverless"),
    _created(),
    _updated(),
    UniqueConstraint("account_sid", "unique_name", name="uq_services_account_unique_name"),
)

# Assets and functions: the same named container, told apart by `kind` ("asset" | "function").
resources = Table(
    "resources",
    metadata,
    _id(),
    _sid(),
    Column("account_sid", String(34), nullable=False),
    _service_fk(),
    Column("kind", String(16), nullable=False),
    Column("friendly_name", String(255), nullable=False),
    _created(),
    _updated(),
    Index("ix_resources_service_kind", "service_sid", "kind"),
)

versions = Table(
    "versions",
    metadata,
    _id(),
    _sid(),
    Column("account_sid", String(34), nullable=False),
    _service_fk(),
    Column(
        "resource_sid", String(34), ForeignKey("resources.sid", ondelete="CASCADE"), nullable=False
    ),
    Column("kind", String(16), nullable=False),
    Column("path", String(255), nullable=False),
    Column("visibility", String(16), nullable=False),
    Column("blob_hash", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content_type", String(255), nullable=False),
    _created(),
    # A resource's and a service's versions, each list in its order (deploy plans read the latter).
    Index("ix_versions_resource", "resource_sid", "id"),
    Index("ix_versions_account_blob", "account_sid", "blob_hash"),
    Index("ix_versions_service", "service_sid", "id"),
)

builds = Table(
    "builds",
    metadata,
    _id(),
    _sid(),
    Column("account_sid", String(34), nullable=False),
    _service_fk(),
    Column("status", String(16), nullable=False),
    Column("status_reason", Text, nullable=True),
    Column("runtime", String(32), nullable=False),
    Column("dependencies", Text, nullable=False),  # JSON list of {name, version}
    _created(),
    _updated(),
    Index("ix_builds_service", "service_sid"),
)

# A build's frozen manifest: a copy of each version's serving facts, so that a build never
# changes, whatever happens to the versions and assets it was made from.
build_entries = Table(
    "build_entries",
    metadata,
    _id(),
    Column("build_sid", String(34), ForeignKey("builds.sid", ondelete="CASCADE"), nullable=False),
    Column("version_sid", String(34), nullable=False),
    Column("resource_sid", String(34), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("path", String(255), nullable=False),
    Column("visibility", String(16), nullable=False),
    Column("blob_hash", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("version_date_created", DateTime, nullable=False),
    Index("ix_build_entries_build", "build_sid"),
)

environments = Table(
    "environments",
    metadata,
    _id(),
    _sid(),
    Column("account_sid", String(34), nullable=False),
    _service_fk(),
    Column("unique_name", String(100), nullable=False),
    Column("domain_suffix", String(16), nullable=True),
    # The environment's part of its domain (`{domain_base}[-{domain_suffix}]`), without the base
    # domain: the server's --base-domain completes it wherever it is shown and served, so a
    # server started with another one serves every environment at the new domain.
    Column("domain_label", String(255), nullable=False),
    # No foreign key: "a deployed build cannot be deleted" is a rule of core, with its own error.
    Column("build_sid", String(34), nullable=True),
    _created(),
    _updated(),
    UniqueConstraint("service_sid", "unique_name", name="uq_environments_service_unique_name"),
    UniqueConstraint("service_sid", "domain_suffix", name="uq_environments_service_domain_suffix"),
    # Named for the column it was made on (migration 0008 renamed the column in place).
    UniqueConstraint("domain_label", name="uq_environments_domain_name"),
)

deployments = Table(
    "deployments",
    metadata,
    _id(),
    _sid(),
    Column("account_sid", String(34), nullable=False),
    Column("service_sid", String(34), nullable=False),
    Column(
        "environment_sid",
        String(34),
        ForeignKey("environments.sid", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("build_sid", String(34), nullable=True),
    _created(),
    _updated(),
    Index("ix_deployments_environment", "environment_sid"),
)

variables = Table(
    "variables",
    metadata,
    _id(),
    _sid(),
    Column("account_sid", String(34), nullable=False),
    Column("service_sid", String(34), nullable=False),
    Column(
        "environment_sid",
        String(34),
        ForeignKey("environments.sid", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("key", String(128), nullable=False),
    Column("value", Text, nullable=False),
    _created(),
    _updated(),
    UniqueConstraint("environment_sid", "key", name="uq_variables_environment_key"),
)

# One row: a counter that every deployment (and every change of an Auth Token) bumps, so edge
# processes sharing the database can notice a switch with one cheap query instead of re-reading
# every environment.
deploy_state = Table(
    "deploy_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("generation", BigInteger, nullable=False),
)

# Served requests per account and calendar month (UTC), flushed in batches by the edge.
usage = Table(
    "usage",
    metadata,
    Column("account_sid", String(34), primary_key=True),
    Column("month", String(7), primary_key=True),  # YYYY-MM
    Column("requests", BigInteger, nullable=False),
)

# Small named values the whole deployment shares, e.g. the console's session signing key, so
# that every node behind a load balancer signs and checks cookies alike.
settings_kv = Table(
    "settings_kv",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# Signed-in console sessions. The cookie holds a random token; a session exists while its row
# does (keyed by the token's SHA-256, so the table alone cannot be replayed), so that signing out
# ends it on every worker and node. credential_digest is a hash of the Auth Token or key secret
# hash signed in with: a rotated token or deleted key no longer matches and ends the session.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("account_sid", String(34), ForeignKey("accounts.sid", ondelete="CASCADE"), nullable=False),
    Column("credential_sid", String(34), nullable=False),
    Column("credential_digest", String(64), nullable=False),
    _created(),
    Column("expires_at", DateTime, nullable=False),
    Index("ix_console_sessions_expires_at", "expires_at"),
)

# What Functions printed (console.log/error, print, logging), per environment. Written in
# batches by the function runner; read by the Logs resource. No foreign keys: logs outlive the
# builds and deployments they name, as Twilio keeps them for their retention period.
logs = Table(
    "logs",
    metadata,
    _id(),
    _sid(),
    Column("account_sid", String(34), nullable=False),
    Column("service_sid", String(34), nullable=False),
    Column("environment_sid", String(34), nullable=False),
    Column("build_sid", String(34), nullable=False),
    Column("deployment_sid", String(34), nullable=True),
    Column("function_sid", String(34), nullable=True),
    Column("request_sid", String(34), nullable=True),
    Column("level", String(16), nullable=False),
    Column("message", Text, nullable=False),
    _created(),
    Index("ix_logs_environment_date", "environment_sid", "date_created"),
)

# What the bytes of one blob are (core/media.py), read once per content at its first upload: every
# version of the same bytes shares the row. No foreign key: a blob outlives any one version.
media = Table(
    "media",
    metadata,
    Column("blob_hash", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # audio | image | video | text | other
    Column("format", String(32), nullable=True),
    Column("codec", String(32), nullable=True),
    Column("sniffed_type", String(255), nullable=True),  # the type the first bytes show, if any
    Column("duration_ms", BigInteger, nullable=True),
    Column("sample_rate", Integer, nullable=True),
    Column("channels", Integer, nullable=True),
    Column("bitrate", Integer, nullable=True),
    Column("width", Integer, nullable=True),
    Column("height", Integer, nullable=True),
    Column("has_exif", Boolean, nullable=False),
    Column("has_gps", Boolean, nullable=False),
    _created(),
)

# Per service: strip image metadata from every upload, and which media rules fail a build.
media_settings = Table(
    "media_settings",
    metadata,
    Column("service_sid", String(34), ForeignKey("services.sid", ondelete="CASCADE"), primary_key=True),
    Column("strip_metadata", Boolean, nullable=False),
    Column("strict_rules", Text, nullable=False),  # rule names, comma-separated
    _updated(),
)
