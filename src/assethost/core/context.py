"""What every domain operation needs: the stores, the limits and the naming of domains."""

from __future__ import annotations

from dataclasses import dataclass

from assethost.core.limits import Limits
from assethost.store.blobs import LocalBlobStore
from assethost.store.meta import MetaStore


@dataclass
class Context:
    meta: MetaStore
    blobs: LocalBlobStore
    limits: Limits
    base_domain: str = "localhost"
