"""What every domain operation needs: the stores, the limits and the naming of domains."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from assethost.config import Limits
from assethost.core.background import Background
from assethost.core.model import Build, BuildEntry
from assethost.core.ports import BlobStore, MetaStore
from assethost.core.usage import Meter

log = logging.getLogger("assethost")
Packager = Callable[["Context", Build, list[BuildEntry]], "str | None"]


@dataclass
class Context:
    meta: MetaStore
    blobs: BlobStore
    limits: Limits
    scratch_dir: Path  # a local folder for temporary files (e.g. a large function answer)
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
        """Tell the listeners, after the commit. A listener that fails is logged, never raised:
        the change is committed, and answering 500 would make the client retry something that
        is done (a deploy retried gets 409). The edge's poll picks the change up regardless."""
        for listener in self.listeners:
            try:
                listener()
            except Exception:
                log.exception("a listener failed after a committed change; the next poll catches up")
