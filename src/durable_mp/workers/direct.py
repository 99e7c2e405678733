"""A job run on its caller's thread (``WorkerPool.run``): no hop through the pool thread.

The caller takes an idle worker under the pool's lock (or waits in the queue until one is
handed to it), sends the job, and reads the worker's socket itself until the job ends:
its notes and requests are answered on this thread, and its result is unpickled here --
one blocking ``recv`` per message, nothing else. The pool thread still polices the job.
It never reads this worker's socket; when it kills the worker (timeout, memory limit),
hears from the fork server that the worker died, or the pool shuts down, it interrupts
the caller (``WorkerHandle.interrupt``): the caller reads what the worker sent before,
then the end of the stream, and finds out from the worker's state how the job ended.

When the job ends the caller gives the worker back and hands it, and any other idle
worker, to the next direct jobs in the queue; the pool thread is woken only if something
is left for it (a queued ``submit`` job, workers to start or retire).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from durable_mp.workers import errors, protocol
from durable_mp.workers.conversation import respond
from durable_mp.workers.jobs import Outcome
from durable_mp.workers.processes import State

if TYPE_CHECKING:
    from durable_mp.workers.jobs import WorkItem
    from durable_mp.workers.pool_state import Assignments, PoolState
    from durable_mp.workers.processes import WorkerHandle

_log = logging.getLogger("durable_mp.workers")

# How long a reader waits for the fork server's report once its worker's socket closed.
_EXIT_REPORT_SECONDS = 10.0


def run_direct(state: PoolState, item: WorkItem, worker: WorkerHandle | None) -> Outcome:
    """Run ``item`` to its end on this thread: on ``worker`` if it was just handed one,
    else once a worker is handed to it in the queue."""
    while True:
        if worker is None:
            state.wake()  # a worker may have to be started for it
            item.wait_turn()
            with state.lock:
                worker = state.reader_of_locked(item)
            if item.done:  # failed in the queue, shut down, or killed before it was sent
                return item.result() if worker is None else _end(state, worker, item, None)
            assert worker is not None
        if worker.send(protocol.Start(item.job_id, item.job.call)):
            break
        with state.lock:  # it died idle: the job never reached it
            state.requeue_locked(worker, item)
            item.park()
            assignments = state.dispatch_locked(by_pool_thread=False)
        wake_others(assignments, item)
        worker = next((w for w, handed in assignments if handed is item), None)
    if item.job.timeout is not None or item.job.memory_limit_mb is not None:
        state.wake()  # the pool thread must start watching the clock or the memory
    try:
        return _read_until_end(state, worker, item)
    except BaseException:
        _abandon(state, worker, item)  # e.g. KeyboardInterrupt: the worker is lost
        raise


def wake_others(assignments: Assignments, me: WorkItem | None = None) -> None:
    """Tell the callers of direct jobs just handed a worker (other than ``me``)."""
    for _, item in assignments:
        if item is not me:
            item.wake()


def _read_until_end(state: PoolState, worker: WorkerHandle, item: WorkItem) -> Outcome:
    channel = worker.channel
    while True:
        try:
            frame = channel.recv()
        except (EOFError, OSError):
            return _after_the_end(state, worker, item)
        outcome = _take(state, worker, item, frame)
        if outcome is not None:
            return _end(state, worker, item, outcome)


def _take(
    state: PoolState, worker: WorkerHandle, item: WorkItem, frame: protocol.Blob
) -> Outcome | None:
    try:
        return respond(state, worker, item, protocol.decode(frame))
    except ValueError:
        _log.exception("worker %d sent a malformed message; killing it", worker.pid)
        worker.kill()
        return Outcome(error=errors.crashed(item.job.label, worker.pid, None))


def _after_the_end(state: PoolState, worker: WorkerHandle, item: WorkItem) -> Outcome:
    """The stream ended without the job's end: the pool thread ended the job (killed the
    worker, shut down), or the worker died -- the pool thread will say how."""
    if not worker.ended.wait(_EXIT_REPORT_SECONDS) and not item.done:
        _log.warning("worker %d is gone and its exit was not reported", worker.pid)
        worker.kill()
        return _end(state, worker, item, Outcome(error=errors.crashed(
            item.job.label, worker.pid, None)))
    if item.done:
        return _end(state, worker, item, None)
    with state.lock:
        exitcode = worker.exitcode
    error = errors.crashed(item.job.label, worker.pid, exitcode)
    return _end(state, worker, item, Outcome(error=error))


def _end(
    state: PoolState, worker: WorkerHandle, item: WorkItem, outcome: Outcome | None
) -> Outcome:
    """Give the worker back (or let go of a dead one) and deliver the job's outcome."""
    with state.lock:
        mine = worker.item is item
        if mine:
            state.detach_locked(worker)
            if worker.state is State.BUSY and not state.closing:
                worker.state = State.IDLE
        worker.reader = None
        close = worker.state is State.DEAD
        assignments = state.dispatch_locked(by_pool_thread=False) if state.queue else []
        settled = mine and not state.queue and state.settled_locked()
    wake_others(assignments)
    if close:
        worker.close()
    if not settled:
        state.wake()
    if outcome is not None and item.claim():
        item.finish(outcome)
        return outcome
    return item.result()  # the pool thread or a shutdown ended it first


def _abandon(state: PoolState, worker: WorkerHandle, item: WorkItem) -> None:
    """This thread stopped reading mid-job: the worker's stream cannot be trusted."""
    with state.lock:
        if worker.item is item:
            state.detach_locked(worker)
            worker.state = State.DYING
        worker.reader = None
        close = worker.state is State.DEAD
    worker.kill()
    if close:
        worker.close()
    state.wake()
    item.claim()
