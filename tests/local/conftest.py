"""Fixtures of the local service tests: real SQLite files in temporary directories."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

import pytest

from durable_mp.local import LocalService

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "durable.db"


@pytest.fixture(params=["file", "memory"])
def service(request: pytest.FixtureRequest, store_path: Path) -> Iterator[LocalService]:
    """A service on a SQLite file, and the same tests again on the in-memory store (which
    keeps Python objects instead): both must behave identically. A test that also asks
    for ``store_path`` is about the file itself and runs on the file only."""
    if request.param == "memory":
        if "store_path" in inspect.signature(request.function).parameters:
            pytest.skip("about the store file")
        local = LocalService(invocation_retry_delay=0.01)
    else:
        local = LocalService(store_path, invocation_retry_delay=0.01)
    yield local
    local.close()
