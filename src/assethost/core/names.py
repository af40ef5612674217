"""Rules for the names users choose: service and environment names, domain suffixes, paths."""

from __future__ import annotations

import re
from urllib.parse import unquote

from assethost.core import sids
from assethost.core.errors import Invalid

VISIBILITIES = ("public", "protected", "private")

MAX_PATH = 255
MAX_FRIENDLY_NAME = 255
MAX_SERVICE_UNIQUE_NAME = 50
MAX_ENVIRONMENT_UNIQUE_NAME = 100
MAX_DOMAIN_SUFFIX = 16
MAX_VARIABLE_KEY = 128
MAX_VARIABLE_VALUE_BYTES = 450

# The service unique name becomes a DNS label of every environment's domain.
_DNS_LABEL = re.compile(r"^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*$")
# Never part of a served path: control characters anywhere, and as sent, the characters that end
# or escape the path of a URL. Percent-encoded forms (`%20`, `%3F`) are stored verbatim.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_RAW_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f?#\\]")


def required(value: str | None, param: str) -> str:
    if value is None or value == "":
        raise Invalid(f"Missing required parameter {param} in the post body")
    return no_nul(value, param)


def no_nul(value: str, param: str) -> str:
    # PostgreSQL cannot store NUL in text, and no name or value of ours has a use for it.
    if "\x00" in value:
        raise Invalid(f"{param} may not contain NUL characters")
    return value


def bounded(value: str, param: str, limit: int) -> str:
    if len(value) > limit:
        raise Invalid(f"{param} must be {limit} characters or less (got {len(value)})")
    return value


def friendly_name(value: str | None, param: str = "FriendlyName") -> str:
    return bounded(required(value, param), param, MAX_FRIENDLY_NAME)


def service_unique_name(value: str | None) -> str:
    value = bounded(required(value, "UniqueName"), "UniqueName", MAX_SERVICE_UNIQUE_NAME)
    if not _DNS_LABEL.match(value):
        raise Invalid(
            "UniqueName may only contain letters, digits and hyphens, and may not start or end with a "
            f"hyphen (got {value!r})"
        )
    if sids.is_sid(value):
        raise Invalid(f"UniqueName may not have the form of a SID (got {value!r})")
    return value


def environment_unique_name(value: str | None) -> str:
    return bounded(required(value, "UniqueName"), "UniqueName", MAX_ENVIRONMENT_UNIQUE_NAME)


def domain_suffix(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    bounded(no_nul(value, "DomainSuffix"), "DomainSuffix", MAX_DOMAIN_SUFFIX)
    if not _DNS_LABEL.match(value):
        raise Invalid(f"DomainSuffix may only contain letters, digits and hyphens (got {value!r})")
    return value


def visibility(value: str | None) -> str:
    value = required(value, "Visibility")
    if value not in VISIBILITIES:
        raise Invalid(f"Visibility must be one of public, protected, private (got {value!r})")
    return value


def version_path(value: str | None) -> str:
    """Normalise and check an asset or function path as Twilio stores it.

    A missing leading slash is added (the Assets CLI plugin relies on that). Percent-encoded
    paths are kept verbatim, but their decoded form is checked too, so `%2e%2e` is as invalid
    as `..`: a path must never be able to name something outside its own place.
    """
    value = required(value, "Path")
    if not value.startswith("/"):
        value = "/" + value
    if len(value) > MAX_PATH:
        raise Invalid(f"Path must be {MAX_PATH} characters or less (got {len(value)})")
    if value == "/":
        return value  # the root asset
    for form, forbidden in ((value, _RAW_FORBIDDEN), (unquote(value), _CONTROL)):
        if forbidden.search(form) or "\\" in form:
            raise Invalid(f"Path {value!r} contains a character that is not allowed in a URL path")
        segments = form[1:].split("/")
        if any(s in ("", ".", "..") for s in segments):
            raise Invalid(f"Path {value!r} may not contain empty, '.' or '..' segments")
    return value


def variable_key(value: str | None) -> str:
    return bounded(required(value, "Key"), "Key", MAX_VARIABLE_KEY)


def variable_value(value: str | None) -> str:
    if value is None:
        raise Invalid("Missing required parameter Value in the post body")
    no_nul(value, "Value")
    size = len(value.encode("utf-8"))
    if size > MAX_VARIABLE_VALUE_BYTES:
        raise Invalid(f"Value must be {MAX_VARIABLE_VALUE_BYTES} bytes or less (got {size})")
    return value


def boolean(value: str | None, param: str, default: bool) -> bool:
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise Invalid(f"{param} must be true or false (got {value!r})")


def looks_like_service_name(value: str) -> bool:
    return len(value) <= MAX_SERVICE_UNIQUE_NAME and bool(_DNS_LABEL.match(value))
