"""What the pool's callers and its thread share, and how many workers the pool wants.

One lock guards the workers, the queue and the job table. Nothing slow and no user code
(callbacks, future completion) ever runs while it is held.

How many workers to start or retire, and when queued jobs can never run, is a pure
function of a census of the pool (:func:`decide`), so the policy can be read and tested
alone. ``size`` CPU slots are shared by jobs that are not blocked; a job blocked on the
parent keeps its worker but lends its slot, so the pool may grow past ``size`` (never
past ``cap``) while jobs are queued, and shrinks back once the blocked jobs resume.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from durable_mp.workers.processes import State, WorkerHandle

if TYPE_CHECKING:

    from durable_mp.workers.jobs import WorkItem

Assignments = list[tuple[WorkerHandle, "WorkItem"]]


class PoolState:
    def __init__(self, size: int, cap: int) -> None:
        self.lock = threading.Lock()
        self.size = size  # CPU slots
        self.cap = cap  # most worker processes at once
        self.workers: list[WorkerHandle] = []
        self.queue: deque[WorkItem] = deque()
        self.items: dict[object, WorkItem] = {}  # queued and running, by ``WorkItem.key``
        self.closing = False
        self.shutdown_timeout = 5.0
        self.start_failures = 0  # workers (or fork servers) in a row that failed to start
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
        return [w.pid for w in self.workers if w.alive and w.pid]

    def dispatch_locked(self, *, by_pool_thread: bool) -> Assignments:
        """Give queued jobs to idle workers while CPU slots are free (FIFO).

        A job the pool thread reads for (``submit``) is handed out by the pool thread
        only, which must watch its worker's socket: any other thread stops at it.
        """
        queue = self.queue
        if not queue:
            return []
        idle = [w for w in self.workers if w.state is State.IDLE]
        if not idle:
            return []
        unblocked = sum(1 for w in self.workers if w.item is not None and not w.item.blocked)
        assignments: Assignments = []
        while queue and idle and unblocked < self.size:
            item = queue[0]
            if not (item.direct or by_pool_thread):
                break
            queue.popleft()
            if item.future is not None and not item.future.set_running_or_notify_cancel():
                self.items.pop(item.key, None)  # cancelled while queued
                continue
            worker = idle.pop()
            worker.state = State.BUSY
            worker.item = item
            if item.direct:
                worker.reader = item
            item.running = True
            if item.job.timeout is not None:
                item.deadline = time.monotonic() + item.job.timeout
            unblocked += 1
            assignments.append((worker, item))
        return assignments

    def detach_locked(self, worker: WorkerHandle) -> WorkItem | None:
        """Take the worker's job away from it (the job is over, one way or another)."""
        item, worker.item = worker.item, None
        if item is not None:
            item.running = False
            self.items.pop(item.key, None)
        return item

    def requeue_locked(self, worker: WorkerHandle, item: WorkItem) -> None:
        """The job never reached ``worker`` (it died idle): first in line again."""
        worker.state = State.DYING  # the fork server will report its exit
        if worker.item is item:
            worker.item = None
        if worker.reader is item:
            worker.reader = None
        item.running = False
        item.deadline = None
        self.queue.appendleft(item)

    def reader_of_locked(self, item: WorkItem) -> WorkerHandle | None:
        """The worker handed to direct job ``item`` (its caller reads it)."""
        for worker in self.workers:
            if worker.reader is item:
                return worker
        return None

    def interrupt_readers(self) -> None:
        """Wake every caller reading a worker (the pool is going away)."""
        with self.lock:
            readers = [w for w in self.workers if w.reader is not None]
        for worker in readers:
            worker.interrupt()

    def census_locked(self) -> tuple[Census, list[WorkerHandle]]:
        """The numbers :func:`decide` needs, and the idle workers."""
        live = [w for w in self.workers if w.alive]
        idle = [w for w in live if w.state is State.IDLE]
        busy = [w.item for w in live if w.item is not None]
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

    def settled_locked(self) -> bool:
        """Nothing for the pool thread to do: no queue, as many workers as slots."""
        if self.queue or len(self.workers) != self.size:
            return False
        return all(w.state is State.IDLE or w.state is State.BUSY for w in self.workers)


# -- the policy ----------------------------------------------------------------------


@dataclass(frozen=True)
class Census:
    size: int  # CPU slots
    cap: int  # most worker processes at once
    busy: int  # workers running a job
    blocked: int  # of those, jobs marked blocked
    idle: int
    starting: int
    queued: int  # jobs waiting for a worker (after dispatching to idle workers)


@dataclass(frozen=True)
class Decision:
    start: int = 0  # workers to launch
    retire: int = 0  # idle workers to stop
    stuck: bool = False  # the queued jobs can never get a worker: fail them


def decide(census: Census) -> Decision:
    c = census
    unblocked = c.busy - c.blocked
    runnable = min(c.queued, max(0, c.size - unblocked))
    live = c.busy + c.idle + c.starting
    wanted = min(c.cap, max(c.size, c.busy + runnable))
    start = max(0, wanted - live)
    # Every worker waits on the parent and no more may start: the queued jobs would wait
    # for ever, and may well be what those workers are waiting for.
    stuck = runnable > 0 and not (c.idle or c.starting or start or unblocked)
    keep = min(c.cap, c.size + c.blocked)
    retire = 0 if runnable else min(c.idle, max(0, live - keep))
    return Decision(start=start, retire=retire, stuck=stuck)
