from __future__ import annotations

import os
import time

import pytest

from durable_mp.exceptions import WorkerPoolError
from durable_mp.workers import WorkerPool, default_pool, in_worker

from .helpers import eventually, gone, job, run

pytestmark = pytest.mark.timeout(60)


def pid_after(seconds: float, value: int) -> tuple[int, int]:
    time.sleep(seconds)
    return value, os.getpid()


def test_closure_with_captured_state(pool: WorkerPool) -> None:
    offset = 5
    items = [1, 2, 3]

    def body(x: int) -> int:
        return x + offset + sum(items)

    result = run(pool, body, 31)
    assert result.ok
    assert result.value == 42
    assert result.error is None


def test_many_jobs_across_two_workers_keep_order(pool: WorkerPool) -> None:
    futures = [pool.submit(job(pid_after, 0.02, i)) for i in range(40)]
    results = [f.result(timeout=30) for f in futures]
    assert all(r.ok for r in results)
    assert [r.value[0] for r in results] == list(range(40))
    pids = {r.value[1] for r in results}
    assert len(pids) == 2
    assert os.getpid() not in pids
    assert pids == set(pool.worker_pids())
    assert pool.size == 2


def test_in_worker_is_true_only_in_workers(pool: WorkerPool) -> None:
    assert not in_worker()
    assert run(pool, in_worker).value is True


def test_shutdown_fails_pending_futures_and_stops_workers() -> None:
    pool = WorkerPool(1)
    running = pool.submit(job(time.sleep, 30))
    queued = pool.submit(job(time.sleep, 0))
    assert eventually(running.running)
    pids = pool.worker_pids()
    pool.shutdown(timeout=1.0)
    pool.shutdown()  # idempotent
    for future in (running, queued):
        with pytest.raises(WorkerPoolError, match="shut down"):
            future.result(timeout=5)
    assert eventually(lambda: all(gone(pid) for pid in pids), timeout=5)
    assert pool.worker_pids() == []
    late = pool.submit(job(time.sleep, 0))
    with pytest.raises(WorkerPoolError, match="shut down"):
        late.result(timeout=1)


def test_cancelled_queued_job_never_runs() -> None:
    pool = WorkerPool(1)
    try:
        first = pool.submit(job(time.sleep, 0.3))
        second = pool.submit(job(os.getpid))
        assert second.cancel()
        assert first.result(timeout=10).ok
        assert run(pool, pid_after, 0, 7).value[0] == 7
    finally:
        pool.shutdown()


def test_default_pool_is_shared_and_resizes() -> None:
    pool = default_pool(1)
    try:
        assert default_pool() is pool
        assert default_pool(1) is pool
        assert run(pool, pid_after, 0, 1).ok
        assert default_pool(2) is pool
        assert pool.size == 2
        assert eventually(lambda: len(pool.worker_pids()) == 2)
        default_pool(1)
        assert eventually(lambda: len(pool.worker_pids()) == 1)
    finally:
        pool.shutdown()
    fresh = default_pool(1)
    try:
        assert fresh is not pool
        assert run(fresh, pid_after, 0, 2).ok
    finally:
        fresh.shutdown()


def test_a_forked_child_cannot_use_its_parents_pool(pool: WorkerPool) -> None:
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child
        code = 1
        try:
            future = pool.submit(job(os.getpid))
            error = future.exception(timeout=5)
            if isinstance(error, WorkerPoolError) and "forked" in str(error):
                code = 0
            if pool.owned_by_this_process:
                code = 2
        finally:
            os.write(write_end, bytes([code]))
            os._exit(code)
    os.close(write_end)
    assert os.read(read_end, 1) == b"\x00"
    os.close(read_end)
    os.waitpid(child, 0)
    assert run(pool, pid_after, 0, 3).value[0] == 3
