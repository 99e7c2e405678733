from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from durable_mp.workers import WorkerPool

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    pool = WorkerPool(2)
    try:
        yield pool
    finally:
        pool.shutdown(timeout=2.0)
