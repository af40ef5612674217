"""What every domain operation needs: the stores, the limits and the naming of domains."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from assethost.core.limits import Limits
from assethost.core.usage import Meter
from assethost.store.blobs import LocalBlobStore
from assethost.store.meta import MetaStore


@dataclass
class Context:
    meta: MetaStore
    blobs: LocalBlobStore
    limits: Limits
    base_domain: str = "localhost"
    meter: Meter = field(default_factory=Meter)  # requests served by this process, not yet flushed
    # Called after a commit that changes what some domain serves (deploy, delete), so the edge
    # of this process serves the change from the very next request.
    listeners: list[Callable[[], None]] = field(default_factory=list)

    def changed(self) -> None:
        for listener in self.listeners:
            listener()
