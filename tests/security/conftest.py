"""Fixtures for the security suite: every attack runs against real `assethost serve` subprocesses
(tests/servers.py), with the API on SQLite and on PostgreSQL through tests/conftest.py's `backend`,
`server` and `server_factory` fixtures. Helpers come from the edge and functions suites' kits."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
for suite in ("edge", "functions"):
    sys.path.insert(0, str(TESTS / suite))
