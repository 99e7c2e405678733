"""Fixtures of the local service tests: real SQLite files in temporary directories."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from durable_mp.local import LocalService

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "durable.db"


@pytest.fixture
def service(store_path: Path) -> Iterator[LocalService]:
    local = LocalService(store_path, invocation_retry_delay=0.01)
    yield local
    local.close()
