"""The access log (one line per request, `--access-log`) and JSON server logs (`--log-format`).

Access lines go to the logger `assethost.access`, written to stderr as they are (each line is
the whole message), whatever `--log-level` is.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime

from assethost.web.traffic import AccessLog

ACCESS = logging.getLogger("assethost.access")


def _common(role: str, client: str, method: str, target: str, host: str, status: int, size: int,
            seconds: float) -> None:
    # Common Log Format: host ident authuser [date] "request" status bytes. The request field holds
    # the method and target only (no protocol version), `-` for a request refused before its line.
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
    request = f"{method} {target}".replace("\\", "\\\\").replace('"', '\\"')
    ACCESS.info('%s - - [%s] "%s" %d %s', client, stamp, request, status, size or "-")


def _json(role: str, client: str, method: str, target: str, host: str, status: int, size: int,
          seconds: float) -> None:
    ACCESS.info("%s", json.dumps({
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"), "role": role, "client": client,
        "method": method, "target": target, "host": host, "status": status, "bytes": size,
        "duration_ms": round(seconds * 1000, 3),
    }, ensure_ascii=False))


def access_writer(access_format: str) -> AccessLog | None:
    """What writes an access line in `access_format` (one of config.ACCESS_LOG_FORMATS); None when off."""
    return {"off": None, "common": _common, "json": _json}[access_format]


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
