"""Start the step workers in the background while a handler module is being imported.

Importing a module with a ``@durable_execution`` handler is Lambda's INIT phase, and the
start of every local run (``durable-mp run``, a script, a test). Steps run in processes
unless the handler says otherwise, so the process-wide worker pool is started on a
background thread as soon as the decorator's module is imported
(:func:`start_workers_early`): the pool's fork server boots -- imports what a step needs --
while the rest of the handler module, the runtime and the first invocation get going, and
the first step finds its workers forked and waiting. On Lambda the pool then lives as long
as the sandbox, across freezes.

When the decorator is applied (:func:`start_workers_during_init`) the handler's own choice
counts: a process handler keeps the pool (or starts it, if the early start was skipped);
if the handlers decorated so far all run their steps on threads or inline, a pool that was
only started in anticipation is shut down again.

Nothing starts with ``DURABLE_MP_INIT_WORKERS=0``, when ``DURABLE_MP_STEP_EXECUTOR`` says
``thread`` or ``inline``, inside a worker process, or while :func:`held_back` is in force
(``durable-mp run --executor thread`` imports a handler whose own choice it overrides).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    from durable_mp.engine.scope import InvocationSettings

OPT_OUT_ENV = "DURABLE_MP_INIT_WORKERS"
EXECUTOR_ENV = "DURABLE_MP_STEP_EXECUTOR"
logger = logging.getLogger(__name__)

_lock = threading.Lock()
_starter: threading.Thread | None = None  # the thread that started the pool, if one did
_anticipated = False  # started before any handler said where its steps run
_process_handlers = 0
_held_back = 0


def start_workers_early() -> None:
    """The decorator's module is being imported: start the pool's fork server now, on
    this thread (the slow part: a fresh interpreter that imports what workers need), and
    the pool in the background."""
    env_choice = os.environ.get(EXECUTOR_ENV, "").strip().lower()
    if env_choice in ("thread", "inline") or not _allowed():
        return
    with _lock:
        if _starter is not None:
            return
    from durable_mp.workers.launcher import launch_ahead

    launch_ahead()
    _start(None, None, anticipated=True)


def start_workers_during_init(settings: InvocationSettings) -> None:
    """A handler was decorated: start the pool for its process steps, or stand down."""
    global _process_handlers  # noqa: PLW0603 - counts this process's handlers
    if not _allowed():
        return
    env_choice = os.environ.get(EXECUTOR_ENV, "").strip().lower() or None
    chosen = settings.step_executor or env_choice or "process"
    if chosen == "process":
        with _lock:
            _process_handlers += 1
        _start(settings.workers, settings.max_workers, anticipated=False)
    else:
        _stand_down()


@contextlib.contextmanager
def held_back(hold: bool = True) -> Iterator[None]:
    """While in force (and ``hold`` is true), importing or decorating starts nothing."""
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


def _allowed() -> bool:
    if os.environ.get(OPT_OUT_ENV, "1").strip() == "0" or _held_back:
        return False
    worker = sys.modules.get("durable_mp.workers.worker")
    # A step body that imports a handler module: its worker owns no pool.
    return worker is None or not worker.in_worker()


def _start(workers: int | None, max_workers: int | None, *, anticipated: bool) -> None:
    global _starter, _anticipated  # noqa: PLW0603 - one pool per process
    with _lock:
        if _starter is not None:
            _anticipated = _anticipated and anticipated
            return
        _anticipated = anticipated
        _starter = threading.Thread(
            target=_run, args=(workers, max_workers), name="durable-mp-init-workers", daemon=True
        )
        _starter.start()


def _run(workers: int | None, max_workers: int | None) -> None:
    from durable_mp.workers.pool import configured_pool

    try:
        configured_pool(workers, max_workers)
    except Exception:  # the first process step will start (and report) it again
        logger.warning("could not start the step workers in the background", exc_info=True)


def _stand_down() -> None:
    """No handler so far runs steps in processes: stop a pool started in anticipation."""
    global _starter  # noqa: PLW0603 - one pool per process
    with _lock:
        starter = _starter
        if starter is None or not _anticipated or _process_handlers:
            return
        _starter = None
    threading.Thread(
        target=_stop, args=(starter,), name="durable-mp-stand-down", daemon=True
    ).start()


def _stop(starter: threading.Thread) -> None:
    starter.join()
    from durable_mp.workers import pool
    from durable_mp.workers.launcher import discard_ahead

    with _lock:
        if _process_handlers:
            return  # a process handler came along meanwhile; it uses this pool
        shared = pool.shared_pool()
    if shared is not None:
        shared.shutdown()
    discard_ahead()  # in case the pool could not take it
