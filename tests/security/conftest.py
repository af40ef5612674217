"""Fixtures for the security suite: every attack runs against real `assethost serve` subprocesses
(tests/servers.py), with the API on SQLite and on PostgreSQL through tests/conftest.py's `backend`,
`server` and `server_factory` fixtures. Helpers come from the edge and functions suites' kits and
from securitykit.py."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for folder in (HERE.parent / "edge", HERE.parent / "functions", HERE):
    sys.path.insert(0, str(folder))
