"""What the pool's callers and its thread share, and the operations done under its lock.

One lock guards the workers, the queue and the job table. Nothing slow and no user code
(callbacks, future completion) ever runs while it is held.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import deque
from typing import TYPE_CHECKING

from durable_mp.workers import protocol
from durable_mp.workers.balance import Census
from durable_mp.workers.handle import State, WorkerHandle

if TYPE_CHECKING:
    from concurrent.futures import Future

    from durable_mp.workers.job import JobResult
    from durable_mp.workers.task import Task

Assignments = list[tuple[WorkerHandle, "Task"]]


class PoolState:
    def __init__(self, size: int, cap: int) -> None:
        self.lock = threading.Lock()
        self.size = size  # CPU slots
        self.cap = cap  # most worker processes at once
        self.workers: list[WorkerHandle] = []
        self.queue: deque[Task] = deque()
        self.tasks: dict[Future[JobResult], Task] = {}  # queued and running
        self.closing = False
        self.shutdown_timeout = 5.0
        self.start_failures = 0  # workers in a row that died before saying "ready"
        self.start_problem = ""
        self._wake_recv, self._wake_send = socket.socketpair()
        self._wake_recv.setblocking(False)
        self._wake_send.setblocking(False)

    # -- waking the pool thread ---------------------------------------------------------

    @property
    def wake_receiver(self) -> socket.socket:
        return self._wake_recv

    def wake(self) -> None:
        """Make the pool thread look at the state again."""
        with contextlib.suppress(OSError):
            self._wake_send.send(b"\0")

    def drain_wakeups(self) -> None:
        with contextlib.suppress(OSError):
            while self._wake_recv.recv(4096):
                pass

    def close_wakeups(self) -> None:
        self._wake_recv.close()
        self._wake_send.close()

    # -- under the lock -----------------------------------------------------------------

    def live_pids_locked(self) -> list[int]:
        return [w.pid for w in self.workers if w.alive]

    def dispatch_locked(self) -> Assignments:
        """Give queued jobs to idle workers while CPU slots are free (FIFO)."""
        if not self.queue:
            return []
        idle = [w for w in self.workers if w.state is State.IDLE]
        for worker in [w for w in idle if w.exited()]:
            worker.state = State.DYING  # died idle (e.g. killed while frozen): its sentinel
            idle.remove(worker)  # replaces it, and no job is sent to it
        if not idle:
            return []
        unblocked = sum(1 for w in self.workers if w.task is not None and not w.task.blocked)
        assignments: Assignments = []
        while self.queue and idle and unblocked < self.size:
            task = self.queue.popleft()
            if not task.future.set_running_or_notify_cancel():
                self.tasks.pop(task.future, None)  # cancelled while queued
                continue
            worker = idle.pop()
            worker.state = State.BUSY
            worker.task = task
            task.worker = worker
            if task.job.timeout is not None:
                task.deadline = time.monotonic() + task.job.timeout
            unblocked += 1
            assignments.append((worker, task))
        return assignments

    def detach_locked(self, worker: WorkerHandle) -> Task | None:
        """Take the worker's job away from it (the job is over, one way or another)."""
        task, worker.task = worker.task, None
        if task is not None:
            task.worker = None
            self.tasks.pop(task.future, None)
        return task

    def census_locked(self) -> tuple[Census, list[WorkerHandle]]:
        """The numbers ``balance.decide`` needs, and the idle workers."""
        live = [w for w in self.workers if w.alive]
        idle = [w for w in live if w.state is State.IDLE]
        busy = [w.task for w in live if w.task is not None]
        census = Census(
            size=self.size,
            cap=self.cap,
            busy=len(busy),
            blocked=sum(1 for t in busy if t.blocked),
            idle=len(idle),
            starting=sum(1 for w in live if w.state is State.STARTING),
            queued=len(self.queue),
        )
        return census, idle

    # -- outside the lock ---------------------------------------------------------------

    def send_jobs(self, assignments: Assignments) -> None:
        for worker, task in assignments:
            # A failed send means the worker died; its sentinel fails the job.
            worker.send((protocol.JOB, task.job_id, task.job.payload))
            if task.job.timeout is not None or task.job.memory_limit_mb is not None:
                self.wake()  # the pool thread must start watching the clock or memory
