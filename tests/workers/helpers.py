"""Building and running jobs in tests (functions here are importable by the workers)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import cloudpickle
import psutil

from durable_mp.workers import Job

if TYPE_CHECKING:
    from collections.abc import Callable

    from durable_mp.workers import Outcome, WorkerPool

LABEL = "step 'test' (operation 1)"


def job(fn: Callable[..., Any], *args: Any, label: str = LABEL, **options: Any) -> Job:
    return Job(cloudpickle.dumps((fn, args)), label, **options)


def run(pool: WorkerPool, fn: Callable[..., Any], *args: Any, **options: Any) -> Outcome:
    return pool.submit(job(fn, *args, **options)).result(timeout=30)


def gone(pid: int) -> bool:
    """The process no longer runs (a zombie waiting to be reaped counts as gone)."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.05)
    return check()
