"""Secrets the server makes for itself, kept in the metadata store so every node shares them."""

from __future__ import annotations

import secrets

from assethost.core.ports import MetaStore


def console_session_key(meta: MetaStore) -> str:
    with meta.write() as tx:
        return tx.get_or_set("console_session_key", lambda: secrets.token_urlsafe(48))
