"""WorkerPool: a process pool built from processes and sockets only, and the shared,
process-wide pool.

AWS Lambda has no /dev/shm, so anything built on POSIX semaphores (``multiprocessing``'s
Pool, Queue and Lock, ``ProcessPoolExecutor``, loky's executor) fails there. This pool
gives each worker its own socket; its workers are forked by a fork server of its own
(``zygote.py``); one thread of its own (``pool_thread.PoolThread``) starts them, polices
them and learns of their deaths. :meth:`WorkerPool.run` hands a job straight to an idle
worker and reads the answer on the caller's thread, so the common case costs no thread
hop at all; :meth:`WorkerPool.submit` returns a future that the pool thread completes.

A Lambda sandbox serves many invocations, so the shared pool (:func:`default_pool`)
outlives any one of them. A forked child must not use its parent's pool (it has no pool
thread), so a pool is only reused in the process that created it.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import os
import threading
import weakref
from typing import TYPE_CHECKING

from durable_mp.exceptions import ValidationError, WorkerPoolError
from durable_mp.workers import errors
from durable_mp.workers.direct import run_direct, wake_others
from durable_mp.workers.jobs import WorkItem
from durable_mp.workers.pool_state import PoolState
from durable_mp.workers.pool_thread import MAX_START_FAILURES, PoolThread
from durable_mp.workers.sizing import usable_cpu_count

if TYPE_CHECKING:
    from concurrent.futures import Future

    from durable_mp.workers.jobs import Job, Outcome



def default_max_total_workers(workers: int) -> int:
    """Room for workers blocked in nested waits: ``max(4 * workers, workers + 8)``."""
    return max(4 * workers, workers + 8)


class WorkerPool:
    """A warm pool of worker processes that run cloudpickled calls.

    ``size`` is the number of CPU slots: at most that many jobs run at once, not counting
    jobs marked blocked (waiting on the parent). Blocked jobs keep their worker, so the
    pool may start extra workers, up to ``max_total_workers`` processes in all. Its
    workers are forked from a fork server that is started with the pool, so they are
    ready milliseconds after the fork server is.
    """

    def __init__(self, workers: int | None = None, *, max_total_workers: int | None = None) -> None:
        size = usable_cpu_count() if workers is None else workers
        self._state = PoolState(*_checked_sizes(size, max_total_workers))
        self._job_ids = itertools.count(1)
        self._owner_pid = os.getpid()
        self._thread = PoolThread(self._state)
        self._thread.start()
        problem = self._thread.wait_launched()
        if isinstance(problem, WorkerPoolError):
            raise WorkerPoolError(f"could not start worker processes: {problem}") from problem
        if problem is not None:
            raise WorkerPoolError(
                f"could not start worker processes ({problem!r}); check process limits"
                " (ulimit -u) and that this Python can start subprocesses"
            ) from problem
        _live_pools.add(self)

    @property
    def size(self) -> int:
        """The number of CPU slots (jobs that may run at once, blocked ones aside)."""
        return self._state.size

    @property
    def max_total_workers(self) -> int:
        return self._state.cap

    @property
    def closed(self) -> bool:
        return self._state.closing

    @property
    def owned_by_this_process(self) -> bool:
        """False in a forked child: the pool thread and the workers are the parent's."""
        return self._owner_pid == os.getpid()

    @property
    def zygote_pid(self) -> int | None:
        """PID of the pool's fork server (None while it is being replaced)."""
        return self._thread.zygote_pid

    def worker_pids(self) -> list[int]:
        """PIDs of the worker processes that are idle or busy (or forked and starting)."""
        with self._state.lock:
            return self._state.live_pids_locked()

    def run(self, job: Job) -> Outcome:
        """Run ``job`` in a worker and return its Outcome, whatever the job does; read on
        this thread (``on_message`` and ``on_request`` run here too). Raises
        WorkerPoolError only if the pool is (or gets) shut down."""
        state = self._state
        if not self.owned_by_this_process:
            raise errors.foreign_pool(job.label)
        item = WorkItem(next(self._job_ids), job, direct=True)
        with state.lock:
            if state.closing:
                raise errors.pool_shut_down(job.label)
            state.items[item] = item
            if state.start_failures >= MAX_START_FAILURES:
                state.start_failures = MAX_START_FAILURES - 1  # give starting one more go
            state.queue.append(item)
            assignments = state.dispatch_locked(by_pool_thread=False)
            if not item.running:
                item.park()
        wake_others(assignments, item)
        mine = next((worker for worker, handed in assignments if handed is item), None)
        return run_direct(state, item, mine)

    def submit(self, job: Job) -> Future[Outcome]:
        """Run ``job`` in a worker. The future gets an Outcome whatever the job does;
        it fails with WorkerPoolError only if the pool is (or gets) shut down. The pool
        thread reads the worker's answers and runs ``on_message`` and ``on_request``."""
        state = self._state
        item = WorkItem(next(self._job_ids), job)
        future = item.future
        assert future is not None
        if not self.owned_by_this_process:
            item.claim()
            item.abort(errors.foreign_pool(job.label))
            return future
        with state.lock:
            if state.closing:
                item.claim()
                item.abort(errors.pool_shut_down(job.label))
                return future
            state.items[item.key] = item
            if state.start_failures >= MAX_START_FAILURES:
                state.start_failures = MAX_START_FAILURES - 1  # give starting one more go
            state.queue.append(item)
        state.wake()  # the pool thread hands it out and reads for it
        return future

    def mark_blocked(self, job: Future[Outcome] | WorkItem) -> None:
        """The job waits on the parent and uses no CPU: its slot may run another job.
        ``job`` is its future (``submit``) or ``Replier.job``."""
        key = job.key if isinstance(job, WorkItem) else job
        with self._state.lock:
            item = self._state.items.get(key)
            if item is None or not item.running:
                return
            item.blocked += 1
        self._state.wake()

    def mark_unblocked(self, job: Future[Outcome] | WorkItem) -> None:
        """The job runs again and takes its slot back (surplus idle workers retire)."""
        key = job.key if isinstance(job, WorkItem) else job
        with self._state.lock:
            item = self._state.items.get(key)
            if item is None or not item.blocked:
                return
            item.blocked -= 1
        self._state.wake()

    def resize(self, workers: int, *, max_total_workers: int | None = None) -> None:
        """Change the number of CPU slots; workers start or retire in the background."""
        size, cap = _checked_sizes(workers, max_total_workers)
        with self._state.lock:
            self._state.size, self._state.cap = size, cap
        self._state.wake()

    def shutdown(self, *, timeout: float = 5.0) -> None:
        """Stop every worker: idle ones are asked to stop, then killed after ``timeout``;
        busy ones are killed at once. Unfinished futures fail with WorkerPoolError.
        Idempotent, and safe from atexit and from the pool's own callbacks."""
        state = self._state
        with state.lock:
            first = not state.closing
            state.closing = True
            items: list[WorkItem] = []
            if first:
                state.shutdown_timeout = max(0.0, timeout)
                items = list(state.items.values())
                state.items.clear()
                state.queue.clear()
        for item in items:
            if item.claim():
                item.abort(errors.pool_shut_down(item.job.label))
        state.interrupt_readers()  # callers reading their workers: the job is over
        state.wake()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout + 10.0)
        _live_pools.discard(self)


def _checked_sizes(workers: int, max_total_workers: int | None) -> tuple[int, int]:
    if workers < 1:
        raise ValueError(f"a worker pool needs at least 1 worker, not {workers}")
    cap = default_max_total_workers(workers) if max_total_workers is None else max_total_workers
    if cap < workers:
        raise ValueError(f"max_total_workers={cap} is below workers={workers}")
    return workers, cap


_live_pools: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


def _shutdown_live_pools() -> None:
    for pool in list(_live_pools):
        if pool.owned_by_this_process:  # a forked child must leave its parent's pool alone
            pool.shutdown()


atexit.register(_shutdown_live_pools)


# -- the process-wide pool --------------------------------------------------------------

_lock = threading.Lock()
_pool: WorkerPool | None = None


def shared_pool() -> WorkerPool | None:
    """The process-wide pool if this process has started one (and it is not shut down)."""
    with _lock:
        pool = _pool
    if pool is None or pool.closed or not pool.owned_by_this_process:
        return None
    return pool


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


MAX_WORKERS_ENV = "DURABLE_MP_MAX_WORKERS"


def configured_pool(workers: int | None, max_workers: int | None) -> WorkerPool:
    """The shared pool with a handler's sizes; the cap from ``DURABLE_MP_MAX_WORKERS``
    unless the handler gives one."""
    if max_workers is None:
        value = os.environ.get(MAX_WORKERS_ENV, "").strip()
        if value:
            try:
                max_workers = int(value)
            except ValueError:
                raise ValidationError(
                    f"{MAX_WORKERS_ENV}={value!r} is not a whole number of worker processes"
                ) from None
    return default_pool(workers, max_workers)
