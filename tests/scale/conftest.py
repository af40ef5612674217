"""The scale-out suite's real S3-compatible server (tests/objectstore.py)."""

from __future__ import annotations

import pytest
from objectstore import ObjectStore, shared


@pytest.fixture(scope="session")
def object_store() -> ObjectStore:
    return shared()
