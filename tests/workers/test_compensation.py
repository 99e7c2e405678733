from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import Any

import pytest

from durable_mp.exceptions import WorkerPoolError
from durable_mp.workers import Replier, WorkerPool, request_from_parent

from .helpers import eventually, job

pytestmark = pytest.mark.timeout(60)

Reply = Callable[[Any], None]


def wait_for_parent() -> str:
    return f"A got {request_from_parent('let me go')}"


def quick() -> str:
    return "B done"


def start_blocked_job(pool: WorkerPool) -> tuple[Any, Reply]:
    """Submit job A; once its request arrives, mark it blocked (as the engine will)."""
    requests: queue.Queue[Reply] = queue.Queue()
    future_a = pool.submit(
        job(wait_for_parent, label="step 'A' (operation 1)",
            on_request=lambda body, reply: requests.put(reply))
    )
    reply = requests.get(timeout=20)
    pool.mark_blocked(future_a)
    return future_a, reply


def test_blocked_job_lends_its_slot() -> None:
    pool = WorkerPool(1)
    try:
        future_a, reply_a = start_blocked_job(pool)
        result_b = pool.submit(job(quick, label="step 'B' (operation 2)")).result(timeout=20)
        assert result_b.ok and result_b.value == "B done"
        assert not future_a.done()
        assert len(pool.worker_pids()) == 2  # one extra worker for the lent slot

        pool.mark_unblocked(future_a)
        reply_a("go")
        assert future_a.result(timeout=20).value == "A got go"
        assert eventually(lambda: len(pool.worker_pids()) == 1)  # the surplus retires
        assert pool.submit(job(quick)).result(timeout=20).ok
    finally:
        pool.shutdown()


def test_cap_fails_the_new_job_instead_of_hanging() -> None:
    pool = WorkerPool(1, max_total_workers=1)
    try:
        future_a, reply_a = start_blocked_job(pool)
        result_b = pool.submit(job(quick, label="step 'B' (operation 2)")).result(timeout=20)
        assert not result_b.ok
        assert isinstance(result_b.error, WorkerPoolError)
        message = str(result_b.error)
        assert message.startswith("step 'B' (operation 2) cannot get a worker")
        assert "hit the cap of 1 worker processes (max_total_workers)" in message
        assert not future_a.done()

        pool.mark_unblocked(future_a)
        reply_a("go")
        assert future_a.result(timeout=20).value == "A got go"
        assert pool.submit(job(quick)).result(timeout=20).value == "B done"
    finally:
        pool.shutdown()


def test_unblocked_busy_worker_keeps_queued_jobs_waiting_not_failing() -> None:
    pool = WorkerPool(1, max_total_workers=1)
    try:
        future_a, reply_a = start_blocked_job(pool)
        pool.mark_unblocked(future_a)  # A uses its slot again
        future_b = pool.submit(job(quick))
        time.sleep(0.3)
        assert not future_b.done()
        reply_a("go")
        assert future_a.result(timeout=20).ok
        assert future_b.result(timeout=20).value == "B done"
    finally:
        pool.shutdown()


def test_handler_can_mark_blocked_through_reply_future() -> None:
    """on_request may run before submit() returns; reply.future avoids that race."""
    pool = WorkerPool(1)
    replies: queue.Queue[Replier] = queue.Queue()

    def on_request(body: Any, reply: Any) -> None:
        assert isinstance(reply, Replier) and reply.future is not None
        pool.mark_blocked(reply.future)
        replies.put(reply)

    try:
        future_a = pool.submit(job(wait_for_parent, on_request=on_request))
        reply_a = replies.get(timeout=20)
        assert reply_a.future is future_a
        assert pool.submit(job(quick)).result(timeout=20).value == "B done"
        pool.mark_unblocked(future_a)
        reply_a("go")
        assert future_a.result(timeout=20).value == "A got go"
    finally:
        pool.shutdown()
