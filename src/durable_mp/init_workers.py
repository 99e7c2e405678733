"""Start the step workers in the background as soon as a handler module is imported.

Importing a module with a ``@durable_execution`` handler is Lambda's INIT phase, and the
start of every local run (``durable-mp run``, a script, a test). When the handler's steps
run in processes, the decorator starts the process-wide worker pool on a background
thread: its fork server boots (imports what a step needs) while the rest of the module,
the runtime and the first invocation get going, so the first step finds its workers
forked and waiting instead of paying for a fresh interpreter. On Lambda the pool then
lives as long as the sandbox, across freezes.

Nothing starts for a handler whose steps run on threads (``step_executor`` or
``DURABLE_MP_STEP_EXECUTOR``), with ``DURABLE_MP_INIT_WORKERS=0``, or while
:func:`held_back` is in force (``durable-mp run --executor thread`` imports a handler
whose own choice it overrides).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    from durable_mp.engine.scope import InvocationSettings

OPT_OUT_ENV = "DURABLE_MP_INIT_WORKERS"
_started = False
_held_back = 0
_lock = threading.Lock()
logger = logging.getLogger(__name__)


def start_workers_during_init(settings: InvocationSettings) -> None:
    """Start the default pool on a daemon thread, once per process, if steps run in
    processes."""
    global _started  # noqa: PLW0603 - once per process
    if os.environ.get(OPT_OUT_ENV, "1").strip() == "0":
        return
    from durable_mp.engine.executors import executor_from_environment

    chosen = settings.step_executor or executor_from_environment() or "process"
    if chosen != "process":
        return
    from durable_mp.workers.worker import in_worker

    if in_worker():
        return  # a step body that imports a handler module: its worker is no pool owner
    with _lock:
        if _started or _held_back:
            return
        _started = True
    threading.Thread(
        target=_start,
        args=(settings.workers, settings.max_workers),
        name="durable-mp-init-workers",
        daemon=True,
    ).start()


@contextlib.contextmanager
def held_back(hold: bool = True) -> Iterator[None]:
    """While in force (and ``hold`` is true), decorating a handler starts nothing."""
    global _held_back  # noqa: PLW0603 - counts nested holds
    if not hold:
        yield
        return
    with _lock:
        _held_back += 1
    try:
        yield
    finally:
        with _lock:
            _held_back -= 1


def _start(workers: int | None, max_workers: int | None) -> None:
    from durable_mp.engine.process_executor import worker_pool

    try:
        worker_pool(workers, max_workers)
    except Exception:  # the first process step will start (and report) it again
        logger.warning("could not start the step workers in the background", exc_info=True)
