"""What every domain operation needs: the stores, the limits and the naming of domains."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assethost.config import Limits
from assethost.core.background import Background
from assethost.core.usage import Meter
from assethost.store.blobs import LocalBlobStore
from assethost.store.meta import MetaStore

Packager = Callable[["Context", Any, list[Any]], "str | None"]


@dataclass
class Context:
    meta: MetaStore
    blobs: LocalBlobStore
    limits: Limits
    base_domain: str = "localhost"
    meter: Meter = field(default_factory=Meter)  # requests served by this process, not yet flushed
    # Packaging steps a build goes through after its blobs are checked, by name, each returning a
    # failure reason or None. The process that assembles the application registers them (core
    # cannot import the layers above it): "functions" writes the build's folder and installs its
    # npm dependencies.
    packagers: dict[str, Packager] = field(default_factory=dict)
    # Work done after a request is answered (packaging builds), off the request threads.
    background: Background = field(default_factory=Background)
    # Called after a commit that changes what some domain serves (deploy, delete), so the edge
    # of this process serves the change from the very next request.
    listeners: list[Callable[[], None]] = field(default_factory=list)

    def changed(self) -> None:
        for listener in self.listeners:
            listener()
