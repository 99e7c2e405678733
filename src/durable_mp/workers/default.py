"""The process-wide pool, kept warm across Lambda invocations of one sandbox.

Starting workers costs ~100 ms each; a Lambda sandbox serves many invocations, so the pool
outlives any one of them. A forked child must not use its parent's pool (it has no pool
thread), so a pool is only reused in the process that created it.
"""

from __future__ import annotations

import functools
import threading

from durable_mp.workers.pool import WorkerPool, default_max_total_workers
from durable_mp.workers.sizing import usable_cpu_count

_lock = threading.Lock()
_pool: WorkerPool | None = None


@functools.cache
def _cpu_slots() -> int:
    """Usable CPUs, read once per process (the lookup costs ~25 µs, too much per step)."""
    return usable_cpu_count()


def default_pool(workers: int | None = None, max_total_workers: int | None = None) -> WorkerPool:
    """The shared pool, resized in place to ``workers`` CPU slots (default: usable CPUs)
    and a hard cap of ``max_total_workers`` processes (default: derived from the size).

    It is shut down at interpreter exit (every pool is).
    """
    global _pool  # noqa: PLW0603 - the one process-wide pool
    size = workers or _cpu_slots()
    cap = max_total_workers or default_max_total_workers(size)
    with _lock:
        pool = _pool
        if pool is None or pool.closed or not pool.owned_by_this_process:
            pool = WorkerPool(size, max_total_workers=cap)
            _pool = pool
        elif size != pool.size or cap != pool.max_total_workers:
            pool.resize(size, max_total_workers=cap)
        return pool
