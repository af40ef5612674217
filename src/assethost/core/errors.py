"""One exception hierarchy for every rule the domain enforces.

Each class carries Twilio's status and code, so that every face of assethost (API, CLI, console)
reports the same thing; `web/errors.py` turns one into Twilio's JSON body.
"""

from __future__ import annotations

from assethost.core.ports import StorageError


class AssetHostError(Exception):
    status = 500
    code = 20500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Invalid(AssetHostError):
    """A parameter is missing or malformed; the message names it."""

    status = 400
    code = 20001


class Unauthorized(AssetHostError):
    status = 401
    code = 20003

    def __init__(self, message: str = "Authenticate") -> None:
        super().__init__(message)


class NotFound(AssetHostError):
    status = 404
    code = 20404

    @classmethod
    def resource(cls, uri: str) -> NotFound:
        return cls(f"The requested resource {uri} was not found")


class MethodNotAllowed(AssetHostError):
    status = 405
    code = 20004


class Conflict(AssetHostError):
    status = 409
    code = 20409


class TooLarge(AssetHostError):
    """A file is over its size limit. Twilio answers a bare 413; we add a code of our own."""

    status = 413
    code = 20413


class StorageFull(AssetHostError):
    """The server's storage has no room for what was sent (the code is ours)."""

    status = 507
    code = 20507


class StorageUnavailable(AssetHostError):
    """The server's storage cannot be written at all just now: read-only, permissions, I/O errors
    (the code is ours)."""

    status = 503
    code = 20503


class TooMany(AssetHostError):
    """More of something at once than an account may have (builds in progress)."""

    status = 429
    code = 20429


def storage_refusal(exc: StorageError) -> AssetHostError:
    """What the client is told when the blob store refused an upload (the log has the details)."""
    if exc.full:
        return StorageFull("The server's storage is full: the upload was not stored. Try again later")
    return StorageUnavailable("The server cannot store uploads right now: the upload was not stored. "
                              "Try again later")
