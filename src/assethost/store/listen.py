"""One LISTEN connection to PostgreSQL per process, so that a committed change reaches it at once.

The notification only wakes the process: what changed is read from the `changes` table, so a
notification lost while the connection was down costs at most one poll interval, never a change.
The connection is made again, with backoff, whenever it fails (a restarted or unreachable
server, a terminated backend), and each new connection wakes the process once for what it may
have missed meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

log = logging.getLogger("assethost.store")

WAIT_S = 1.0  # longest wait for a notification before looking whether to stop
FIRST_RETRY_S = 0.5
LAST_RETRY_S = 30.0
CONNECT_TIMEOUT_S = 5
# Keepalives, so that a connection silently lost (a dropped network path) fails within a minute.
KEEPALIVE = "keepalives=1 keepalives_idle=30 keepalives_interval=10 keepalives_count=3"


class Listener:
    def __init__(self, conninfo: str, channel: str, wake: Callable[[], None]) -> None:
        self.conninfo = conninfo
        self.channel = channel
        self.wake = wake
        self.connected = threading.Event()  # set while a LISTEN connection is up
        self.connections = 0  # made so far (the first, then one per recovery)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="assethost-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=WAIT_S + CONNECT_TIMEOUT_S + 1)

    def _run(self) -> None:
        delay = FIRST_RETRY_S
        while not self._stop.is_set():
            try:
                self._listen()
                delay = FIRST_RETRY_S
            except psycopg.Error as exc:
                self.connected.clear()
                log.warning("change notifications lost (%s); listening again in %.1f s", exc, delay)
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, LAST_RETRY_S)

    def _listen(self) -> None:
        conninfo = make_conninfo(self.conninfo, connect_timeout=CONNECT_TIMEOUT_S,
                                 application_name="assethost-listen")
        with psycopg.connect(f"{conninfo} {KEEPALIVE}", autocommit=True) as conn:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
            self.connections += 1
            self.connected.set()
            self.wake()  # changes committed while no connection listened
            while not self._stop.is_set():
                for _ in conn.notifies(timeout=WAIT_S):
                    self.wake()
        self.connected.clear()
