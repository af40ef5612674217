"""Domain work that happens after the request that asked for it has been answered: packaging a
build (its npm install may take minutes). It runs here, a few jobs at a time, on threads of its
own, never on the threads that serve requests, so that slow builds cannot stall the API for
everyone. Jobs wait in an unbounded queue; what bounds them is the cap on builds in progress per
account (`builds.MAX_BUILDING`), checked when a build is created.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import threading
from collections.abc import Callable

log = logging.getLogger("assethost")

THREADS = 2


class Background:
    def __init__(self, threads: int = THREADS) -> None:
        self.threads = threads
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def submit(self, job: Callable[..., object], *args: object) -> None:
        with self._lock:
            if self._executor is None or self._pid != os.getpid():  # threads do not survive a fork
                self._executor = concurrent.futures.ThreadPoolExecutor(self.threads, "assethost-background")
                self._pid = os.getpid()
            self._executor.submit(self._run, job, args)

    @staticmethod
    def _run(job: Callable[..., object], args: tuple[object, ...]) -> None:
        try:
            job(*args)
        except Exception:
            log.exception("background job %s failed", getattr(job, "__qualname__", job))
