"""The access log (one line per request, `--access-log`) and JSON server logs (`--log-format`).

Access lines go to stderr, whatever `--log-level` is, and not through `logging`: the lines of
one turn of the event loop are joined and written at its end, in one write. Through a logging
handler (a record, a lock, a write and a flush per line) the edge's server CPU per request more
than doubled (bench s1, 1 KiB from memory: 21 µs without the log, 47 with it); written this way,
28 µs in the common format and 36 in JSON (json.dumps and the ISO time make the difference).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

from assethost.web.traffic import AccessLog

# Makes one line (with its newline) of what an AccessLog is called with.
LineFormat = Callable[[str, str, str, str, str, int, int, float], str]

_stamp_second = -1
_stamp = ""


def _clf_time() -> str:
    """Now in the Common Log Format, remade once a second."""
    global _stamp_second, _stamp
    now = int(time.time())
    if now != _stamp_second:
        _stamp_second, _stamp = now, time.strftime("[%d/%b/%Y:%H:%M:%S +0000]", time.gmtime(now))
    return _stamp


def common_line(role: str, client: str, method: str, target: str, host: str, status: int, size: int,
                seconds: float) -> str:
    # Common Log Format: host ident authuser [date] "request" status bytes. The request field holds
    # the method and target only (no protocol version), `-` for a request refused before its line.
    request = f"{method} {target}".replace("\\", "\\\\").replace('"', '\\"')
    return f'{client} - - {_clf_time()} "{request}" {status} {size or "-"}\n'


def json_line(role: str, client: str, method: str, target: str, host: str, status: int, size: int,
              seconds: float) -> str:
    return json.dumps({
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"), "role": role, "client": client,
        "method": method, "target": target, "host": host, "status": status, "bytes": size,
        "duration_ms": round(seconds * 1000, 3),
    }, ensure_ascii=False) + "\n"


class AccessWriter:
    """Called for each answer (on the event loop's thread, as every face answers there): keeps the
    line, and writes what the loop's turn gathered once it ends. What waits is at most one turn's
    lines."""

    def __init__(self, line: LineFormat, stream: TextIO | None = None) -> None:
        self.line = line
        self.stream = stream  # None: sys.stderr as it is when written to
        self.pending: list[str] = []
        self.loop: asyncio.AbstractEventLoop | None = None

    def __call__(self, role: str, client: str, method: str, target: str, host: str, status: int, size: int,
                 seconds: float) -> None:
        self.pending.append(self.line(role, client, method, target, host, status, size, seconds))
        if len(self.pending) > 1:
            return  # the end of this turn is already due to write
        if self.loop is None:
            try:
                self.loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop runs here: nothing would end its turn
                self.flush()
                return
        self.loop.call_soon(self.flush)

    def flush(self) -> None:
        lines, self.pending = self.pending, []
        stream = self.stream or sys.stderr
        stream.write("".join(lines))
        stream.flush()


def access_writer(access_format: str) -> AccessLog | None:
    """What writes an access line in `access_format` (one of config.ACCESS_LOG_FORMATS); None when off."""
    if access_format == "off":
        return None
    return AccessWriter(common_line if access_format == "common" else json_line)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message (and the exception, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)
