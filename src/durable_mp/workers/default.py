"""The process-wide pool, kept warm across Lambda invocations of one sandbox.

Starting workers costs ~100 ms each; a Lambda sandbox serves many invocations, so the pool
outlives any one of them. A forked child must not use its parent's pool (it has no pool
thread), so a pool is only reused in the process that created it.
"""

from __future__ import annotations

import threading

from durable_mp.workers.pool import WorkerPool

_lock = threading.Lock()
_pool: WorkerPool | None = None


def default_pool(workers: int | None = None) -> WorkerPool:
    """The shared pool; resized in place when ``workers`` differs from its size.

    It is shut down at interpreter exit (every pool is).
    """
    global _pool  # noqa: PLW0603 - the one process-wide pool
    with _lock:
        pool = _pool
        if pool is None or pool.closed or not pool.owned_by_this_process:
            pool = WorkerPool(workers)
            _pool = pool
        elif workers is not None and workers != pool.size:
            pool.resize(workers)
        return pool
