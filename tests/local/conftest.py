"""Fixtures of the local service tests: real SQLite files in temporary directories."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from durable_mp.local import LocalService

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every service test on a SQLite file and again on the in-memory store (which
    keeps Python objects instead): both must behave identically. A test that also asks
    for ``store_path`` is about the file itself and runs on the file only."""
    if "service" in metafunc.fixturenames:
        kinds = ["file"] if "store_path" in metafunc.fixturenames else ["file", "memory"]
        metafunc.parametrize("store_kind", kinds)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "durable.db"


@pytest.fixture
def service(store_kind: str, tmp_path: Path) -> Iterator[LocalService]:
    if store_kind == "memory":
        local = LocalService(invocation_retry_delay=0.01)
    else:
        local = LocalService(tmp_path / "durable.db", invocation_retry_delay=0.01)
    yield local
    local.close()
