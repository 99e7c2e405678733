"""A submitted job and what the pool tracks about it while it waits or runs."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Future, InvalidStateError
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from durable_mp.workers.handle import WorkerHandle
    from durable_mp.workers.job import Job, JobResult


class Task:
    """One job's life in the pool; completes its future exactly once."""

    __slots__ = ("_done", "_done_lock", "blocked", "deadline", "future", "job", "job_id", "worker")

    def __init__(self, job_id: int, job: Job) -> None:
        self.job_id = job_id
        self.job = job
        self.future: Future[JobResult] = Future()
        self.worker: WorkerHandle | None = None
        self.deadline: float | None = None
        self.blocked = 0  # how many waits on the parent are in progress
        self._done = False
        self._done_lock = threading.Lock()

    @property
    def done(self) -> bool:
        return self._done

    def claim(self) -> bool:
        """Take the right to complete this task; False if someone already did."""
        with self._done_lock:
            if self._done:
                return False
            self._done = True
            return True

    def finish(self, result: JobResult) -> None:
        """Deliver ``result`` (the caller must have claimed the task)."""
        with contextlib.suppress(InvalidStateError):  # cancelled while queued
            self.future.set_result(result)

    def abort(self, error: BaseException) -> None:
        """Fail the future itself (only for a pool that shut down)."""
        with contextlib.suppress(InvalidStateError):
            self.future.set_exception(error)
