"""Threads that drive operations started asynchronously (``step_async``, branches).

Each task runs as its own :class:`ActiveContext`, registered by the caller before the
task is submitted (docs/architecture.md, rule 4a). The invocation joins every task
before it answers, so no driver thread outlives its invocation.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from durable_mp.engine.activity import ActiveContext, acting_as

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger(__name__)

# Drivers mostly wait (for a worker, a checkpoint, another operation), so the pool is
# wide; threads are created only when no idle one exists.
_MAX_DRIVER_THREADS = 4096


class TaskGroup:
    """The asynchronous operation drivers of one invocation."""

    def __init__(self) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=_MAX_DRIVER_THREADS, thread_name_prefix="durable-mp-task"
        )
        self._lock = threading.Lock()
        self._running: set[concurrent.futures.Future[Any]] = set()

    def spawn(self, context: ActiveContext, work: Callable[[], None]) -> None:
        """Run ``work`` on a driver thread as ``context`` (already registered by the caller)."""
        run_as = contextvars.copy_context()

        def drive() -> None:
            with acting_as(context):
                work()

        future = self._pool.submit(run_as.run, drive)
        with self._lock:
            self._running.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._running.discard(future)
        error = future.exception()
        if error is not None and isinstance(error, Exception):
            logger.error("An operation driver failed unexpectedly: %r", error)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for every task; True when none is left running."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                running = list(self._running)
            if not running:
                break
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            done, _ = concurrent.futures.wait(running, timeout=remaining)
            if deadline is not None and time.monotonic() >= deadline and len(done) < len(running):
                return False
        self._pool.shutdown(wait=False)
        return True
