from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """UTC, naive, whole seconds: the resolution of Twilio's timestamps."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)
