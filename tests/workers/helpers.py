"""Building and running jobs in tests (functions here are importable by the workers)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
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


# How ``run`` hands a job to the pool: ``pool.run`` (the caller reads the worker, as a
# process step does) or ``pool.submit`` (the pool thread reads). The ``both_readers``
# fixture runs a test once each way.
VIA = "run"


def run(pool: WorkerPool, fn: Callable[..., Any], *args: Any, **options: Any) -> Outcome:
    if VIA == "submit":
        return pool.submit(job(fn, *args, **options)).result(timeout=30)
    return pool.run(job(fn, *args, **options))


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


def start(pool: WorkerPool, submitted: Job) -> Future[Outcome]:
    """Start a job without waiting: ``submit``, or ``run`` on a thread of its own."""
    if VIA == "submit":
        return pool.submit(submitted)
    future: Future[Outcome] = Future()

    def runner() -> None:
        try:
            future.set_result(pool.run(submitted))
        except BaseException as error:
            future.set_exception(error)

    threading.Thread(target=runner, daemon=True).start()
    return future
