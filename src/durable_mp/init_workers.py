"""Start the step workers during Lambda's INIT, in the background.

Importing a module with a ``@durable_execution`` handler is the sandbox's INIT phase. On
Lambda (``AWS_LAMBDA_RUNTIME_API`` is set) the worker pool is started then, on a
background thread, so the first invocation finds warm workers instead of paying ~100 ms
per worker; the pool then lives as long as the sandbox, across freezes. Nothing starts
outside Lambda, for a handler whose steps run on threads, or with
``DURABLE_MP_INIT_WORKERS=0``.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from durable_mp.engine.scope import InvocationSettings

OPT_OUT_ENV = "DURABLE_MP_INIT_WORKERS"
RUNTIME_API_ENV = "AWS_LAMBDA_RUNTIME_API"
_started = False
_lock = threading.Lock()
logger = logging.getLogger(__name__)


def start_workers_during_init(settings: InvocationSettings) -> None:
    """Start the default pool on a daemon thread, once per process, if INIT is under way."""
    global _started  # noqa: PLW0603 - once per process
    if not os.environ.get(RUNTIME_API_ENV) or os.environ.get(OPT_OUT_ENV, "1").strip() == "0":
        return
    from durable_mp.engine.executors import executor_from_environment

    chosen = settings.step_executor or executor_from_environment() or "process"
    if chosen != "process":
        return
    with _lock:
        if _started:
            return
        _started = True
    threading.Thread(
        target=_start, args=(settings.workers, settings.max_workers),
        name="durable-mp-init-workers", daemon=True,
    ).start()


def _start(workers: int | None, max_workers: int | None) -> None:
    from durable_mp.engine.process_executor import worker_pool

    try:
        worker_pool(workers, max_workers)
    except Exception:  # the first process step will start (and report) it again
        logger.warning("could not start the step workers during INIT", exc_info=True)
