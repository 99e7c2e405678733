from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from durable_mp.workers import WorkerPool

from . import helpers

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    pool = WorkerPool(2)
    try:
        yield pool
    finally:
        pool.shutdown(timeout=2.0)


@pytest.fixture(params=["run", "submit"])
def both_readers(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test with jobs read by their caller (``run``), then by the pool thread."""
    helpers.VIA = request.param
    try:
        yield request.param
    finally:
        helpers.VIA = "run"
