"""One settings object for the whole process. The CLI fills it from flags, then `ASSETHOST_*`
environment variables, then these defaults; nothing else reads the environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from assethost.core.limits import Limits
from assethost.edge.limits import FrontLimits
from assethost.edge.snapshot import EdgeOptions
from assethost.functions.options import FunctionOptions

WILDCARD_HOSTS = ("0.0.0.0", "::", "")


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("assethost-data")
    database_url: str | None = None
    public_url: str | None = None
    base_domain: str = "localhost"
    limits: Limits = field(default_factory=Limits)
    edge: EdgeOptions = field(default_factory=EdgeOptions)
    front: FrontLimits = field(default_factory=FrontLimits)  # what one client connection may cost
    functions: FunctionOptions = field(default_factory=FunctionOptions)
    edge_only: bool = False  # serve deployed assets only; no API
    trust_forwarded: bool = False  # rebuild signed URLs from X-Forwarded-Proto/-Host
    # Credentials of the account to serve, from TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN.
    account_sid: str | None = None
    auth_token: str | None = None

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir.resolve() / 'assethost.sqlite3'}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def fixed_origin(self) -> str | None:
        """The origin for absolute URLs, or None when it must come from each request's Host
        (bound to every interface and no --public-url given)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        if self.host in WILDCARD_HOSTS:
            return None
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def public_scheme(self) -> str | None:
        """The scheme clients use, when a --public-url says (e.g. TLS ends at a proxy)."""
        return self.public_url.split("://", 1)[0].lower() if self.public_url else None
