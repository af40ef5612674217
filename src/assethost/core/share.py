"""Share links: a URL that fetches a protected asset without X-Twilio-Signature until it expires.

The link carries its expiry and an HMAC-SHA256 over the domain, the path and that expiry, keyed
with the account's Auth Token (the key X-Twilio-Signature uses): the edge recomputes it from the
site's domain and token, so a link stops working when it expires and when the token rotates, and
no link can be stretched or moved to another path, nor to another environment or service of the
account (one token signs for all of them). Links live at most MAX_TTL_S; one whose expiry lies further
ahead is refused, so that a leaked token cannot mint links that outlive its rotation window by
much. The comparison is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl, urlencode

EXPIRES = "ahExpires"
SIGNATURE = "ahSignature"
MAX_TTL_S = 7 * 24 * 3600


def signature(token: str, domain: str, path: str, expires: int) -> str:
    message = f"assethost-share\n{domain.lower()}\n{path}\n{expires}"
    mac = hmac.new(token.encode("utf-8"), message.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode("ascii").rstrip("=")


def query(token: str, domain: str, path: str, expires: int) -> str:
    """The query string that shares `path` on `domain` (the host, without a port) until `expires`
    (Unix seconds)."""
    return urlencode({EXPIRES: str(expires), SIGNATURE: signature(token, domain, path, expires)})


def valid(token: str, domain: str, path: str, raw_query: str, now: float) -> bool:
    """Whether the request's query holds a share link for `path` (percent-decoded, as the link was
    signed) on `domain` that has not expired."""
    if SIGNATURE not in raw_query:
        return False
    params = dict(parse_qsl(raw_query, keep_blank_values=True))
    given, expires_text = params.get(SIGNATURE, ""), params.get(EXPIRES, "")
    # ASCII digits only: str.isdigit() also holds for "²", which int() refuses.
    if not (expires_text.isascii() and expires_text.isdigit()) or len(expires_text) > 12:
        return False
    expires = int(expires_text)
    if not now < expires <= now + MAX_TTL_S:
        return False
    return hmac.compare_digest(signature(token, domain, path, expires).encode(), given.encode("ascii", "replace"))
