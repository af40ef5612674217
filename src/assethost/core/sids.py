"""Twilio-style SIDs: two upper-case letters and 32 lower-case hex digits."""

from __future__ import annotations

import re
import secrets

ACCOUNT = "AC"
API_KEY = "SK"
SERVICE = "ZS"
RESOURCE = "ZH"  # assets and functions share the prefix, as on Twilio
VERSION = "ZN"  # asset versions and function versions likewise
BUILD = "ZB"
ENVIRONMENT = "ZE"
DEPLOYMENT = "ZD"
VARIABLE = "ZV"
LOG = "NO"
REQUEST = "RQ"

_SID = re.compile(r"^[A-Z]{2}[0-9a-f]{32}$")


def new(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def is_sid(value: str, prefix: str | None = None) -> bool:
    if not _SID.match(value):
        return False
    return prefix is None or value.startswith(prefix)
