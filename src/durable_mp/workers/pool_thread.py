"""The pool thread: the one place that starts, watches, polices and reaps workers.

It waits on every worker's pipe and process sentinel plus a wake-up socket, with the
next deadline or memory poll as its timeout. That is what
``multiprocessing.connection.wait`` does, but with one selector kept for the pool's
life: building a selector per wait cost more than the rest of a turn.
Workers are started only here: Linux ties a worker's ``PR_SET_PDEATHSIG`` to the thread
that forked it, and this thread lives as long as the pool.

Callbacks (``on_message``, ``on_request``, future completion) run on this thread.
"""

from __future__ import annotations

import itertools
import logging
import math
import selectors
import threading
import time
from typing import TYPE_CHECKING

import cloudpickle

from durable_mp.exceptions import WorkerPoolError
from durable_mp.workers import errors, protocol, reaper
from durable_mp.workers.jobs import Outcome, Replier, WorkItem, outcome_of
from durable_mp.workers.pool_state import decide
from durable_mp.workers.processes import State, WorkerHandle, tree_rss
from durable_mp.workers.worker import main as worker_main

if TYPE_CHECKING:
    from durable_mp.workers.pool_state import PoolState

_log = logging.getLogger("durable_mp.workers")

MAX_START_FAILURES = 3
_MEMORY_POLL_SECONDS = 0.05
_LIVENESS_POLL_SECONDS = 1.0
_BYTES_PER_MB = 1024 * 1024


class PoolThread(threading.Thread):
    def __init__(self, state: PoolState) -> None:
        # Daemon: interpreter exit joins non-daemon threads *before* atexit handlers run,
        # and the pool's atexit handler is what stops this thread.
        super().__init__(name="durable-mp-pool", daemon=True)
        self._state = state
        self._names = itertools.count(1)
        self._next_memory_poll = 0.0
        self._next_liveness_poll = 0.0
        self._police_due = math.inf
        self._dirty = True  # something changed that _maintain should look at
        self._selector = selectors.DefaultSelector()
        self._launched = threading.Event()
        self._launch_error: BaseException | None = None

    def wait_launched(self) -> BaseException | None:
        """Block until the first workers are launched; the error if none could be."""
        self._launched.wait()
        if self._launch_error is not None:
            self.join()
        return self._launch_error

    def run(self) -> None:
        state = self._state
        try:
            self._selector.register(state.wake_receiver, selectors.EVENT_READ, None)
            for _ in range(state.size):
                self._launch()
            if not state.workers:
                raise WorkerPoolError(state.start_problem)
        except BaseException as exc:
            self._launch_error = exc
            state.closing = True
        finally:
            self._launched.set()
        try:
            while not state.closing:
                self._turn()
        except BaseException:
            _log.exception("the durable-mp worker pool thread failed; failing its jobs")
            self._fail_everything()
        finally:
            self._stop_all()
            self._selector.close()
            state.close_wakeups()

    # -- one turn -----------------------------------------------------------------------

    def _turn(self) -> None:
        """Wait for something to happen, handle it, then police and rebalance if needed."""
        for key, _ in self._selector.select(self._timeout()):
            if key.data is None:
                self._state.drain_wakeups()
                self._dirty = True
                continue
            worker, what = key.data
            if what == "sentinel":
                self._on_exit(worker)
            elif worker.conn_open:
                self._receive(worker)
        if time.monotonic() >= self._police_due:
            self._police()
        if self._dirty:
            self._dirty = False
            self._maintain()

    def _timeout(self) -> float | None:
        """Until the next deadline, memory poll or liveness poll (None: no busy worker)."""
        wakeups: list[float] = []
        with self._state.lock:
            for worker in self._state.workers:
                item = worker.item
                if item is None:
                    continue
                wakeups.append(self._next_liveness_poll)
                if item.deadline is not None:
                    wakeups.append(item.deadline)
                if item.job.memory_limit_mb is not None:
                    wakeups.append(self._next_memory_poll)
        self._police_due = min(wakeups, default=math.inf)
        if not wakeups:
            return None
        return max(0.0, self._police_due - time.monotonic())

    def _watch(self, worker: WorkerHandle) -> None:
        self._selector.register(worker.conn, selectors.EVENT_READ, (worker, "conn"))
        self._selector.register(worker.sentinel, selectors.EVENT_READ, (worker, "sentinel"))

    def _unwatch_conn(self, worker: WorkerHandle) -> None:
        if worker.conn_open:
            worker.conn_open = False
            self._selector.unregister(worker.conn)

    def _reap(self, worker: WorkerHandle) -> int | None:
        """Forget the worker's fds, then wait for its end (never close a watched fd)."""
        self._unwatch_conn(worker)
        self._selector.unregister(worker.sentinel)
        return worker.reap()

    # -- what workers say ---------------------------------------------------------------

    def _receive(self, worker: WorkerHandle) -> None:
        """Handle one message from the worker (or notice its pipe closed)."""
        try:
            data = worker.conn.recv_bytes()
        except (EOFError, OSError):
            self._unwatch_conn(worker)  # it died; its sentinel will say how
            return
        try:
            message = protocol.decode(data)
        except Exception:
            _log.exception("worker %d sent a malformed message; killing it", worker.pid)
            self._kill(worker, None, None)
            return
        self._handle(worker, message)

    def _handle(self, worker: WorkerHandle, message: protocol.Message) -> None:
        if type(message) is protocol.Returned or type(message) is protocol.Raised:
            self._on_end(worker, message)
        elif type(message) is protocol.Note:
            self._on_note(worker, message)
        elif type(message) is protocol.Request:
            self._on_request(worker, message)
        elif type(message) is protocol.Ready:
            with self._state.lock:
                if worker.state is State.STARTING:
                    worker.state = State.IDLE
                    self._state.start_failures = 0
            self._dirty = True
            _log.debug(
                "worker %d ready %.1f ms after launch",
                worker.pid,
                1000 * (time.monotonic() - worker.launched_at),
            )

    def _on_end(self, worker: WorkerHandle, message: protocol.Returned | protocol.Raised) -> None:
        state = self._state
        with state.lock:
            item = worker.item
            if item is None or item.job_id != message.job_id:
                return  # the job was already failed (killed, pool shut down)
            state.detach_locked(worker)
            if worker.state is State.BUSY:
                worker.state = State.IDLE
            assignments = state.dispatch_locked()
            if state.queue or len(state.workers) != state.size:
                self._dirty = True  # maybe a worker to start, retire, or a stuck queue
        state.send_jobs(assignments)  # keep the worker busy before doing anything else
        if item.claim():
            item.finish(outcome_of(item.job.label, message))

    def _on_note(self, worker: WorkerHandle, note: protocol.Note) -> None:
        item = self._item_of(worker, note.job_id)
        if item is None or item.job.on_message is None:
            return
        try:
            item.job.on_message(cloudpickle.loads(note.body))
        except Exception:
            _log.exception("the on_message handler of %s failed", item.job.label)

    def _on_request(self, worker: WorkerHandle, request: protocol.Request) -> None:
        item = self._item_of(worker, request.job_id)
        reply = self._replier(worker, item, request.request_id)
        if item is None:
            reply(errors.job_not_running(None))
            return
        handler = item.job.on_request
        if handler is None:
            reply(errors.no_request_handler(item.job.label))
            return
        try:
            body = cloudpickle.loads(request.body)
        except Exception as exc:
            reply(exc)
            return
        try:
            handler(body, reply)
        except BaseException as exc:
            _log.exception("the on_request handler of %s failed", item.job.label)
            reply(exc)  # ignored if the handler replied before failing

    def _replier(self, worker: WorkerHandle, item: WorkItem | None, request_id: int) -> Replier:
        def current() -> bool:
            with self._state.lock:
                return item is None or worker.item is item

        future = item.future if item is not None else None
        label = item.job.label if item is not None else "a job"
        return Replier(future, label, request_id, current, worker.send)

    def _item_of(self, worker: WorkerHandle, job_id: int) -> WorkItem | None:
        with self._state.lock:
            item = worker.item
        return item if item is not None and item.job_id == job_id else None

    # -- deaths, limits, killing --------------------------------------------------------

    def _on_exit(self, worker: WorkerHandle) -> None:
        """The worker process ended: fail its job and forget it (``_maintain`` replaces it)."""
        while worker.conn_open and worker.conn.poll():
            self._receive(worker)  # a result may have made it out before the end
        exitcode = self._reap(worker)
        self._dirty = True
        state = self._state
        with state.lock:
            if worker in state.workers:
                state.workers.remove(worker)
            item = state.detach_locked(worker)
            if worker.state is State.STARTING:
                state.start_failures += 1
                state.start_problem = f"worker {worker.pid} {errors.describe_exit(exitcode)}"
        _log.debug("worker %d ended: %s", worker.pid, errors.describe_exit(exitcode))
        if item is not None and worker.tag:  # it died mid-job: what the job started lives on
            reaper.sweep(worker.tag)
        if item is not None and item.claim():
            item.finish(Outcome(error=errors.crashed(item.job.label, worker.pid, exitcode)))

    def _police(self) -> None:
        """Kill jobs past their deadline or memory limit; notice silent deaths."""
        now = time.monotonic()
        overdue: list[tuple[WorkerHandle, WorkItem]] = []
        measured: list[tuple[WorkerHandle, WorkItem]] = []
        busy: list[WorkerHandle] = []
        with self._state.lock:
            for worker in self._state.workers:
                item = worker.item
                if item is None or worker.state is not State.BUSY:
                    continue
                busy.append(worker)
                if item.deadline is not None and now >= item.deadline:
                    overdue.append((worker, item))
                elif item.job.memory_limit_mb is not None:
                    measured.append((worker, item))
        for worker, item in overdue:
            timeout = item.job.timeout or 0.0
            self._kill(worker, item, errors.timed_out(item.job.label, worker.pid, timeout))
        if measured and now >= self._next_memory_poll:
            self._next_memory_poll = now + _MEMORY_POLL_SECONDS
            for worker, item in measured:
                limit = item.job.memory_limit_mb or 0.0
                rss = tree_rss(worker.pid)
                if rss > limit * _BYTES_PER_MB:
                    self._kill(worker, item, errors.over_memory(item.job.label, rss, limit))
        if busy and now >= self._next_liveness_poll:
            # A sentinel stays silent while a grandchild holds the pipe it watches.
            self._next_liveness_poll = now + _LIVENESS_POLL_SECONDS
            for worker in busy:
                if worker.state is State.BUSY and worker.exitcode() is not None:
                    self._on_exit(worker)

    def _kill(
        self, worker: WorkerHandle, item: WorkItem | None, error: BaseException | None
    ) -> None:
        """Kill the worker's process tree and fail its job with ``error`` at once."""
        with self._state.lock:
            if item is not None and worker.item is not item:
                return  # it finished meanwhile
            item = self._state.detach_locked(worker)
            worker.state = State.DYING  # its sentinel removes it
        worker.kill()
        self._dirty = True
        if item is not None and item.claim():
            if error is None:
                error = errors.crashed(item.job.label, worker.pid, None)
            item.finish(Outcome(error=error))

    # -- keeping the right number of workers --------------------------------------------

    def _maintain(self) -> None:
        """Dispatch queued jobs, start or retire workers, fail jobs that can never run."""
        state = self._state
        hopeless: list[tuple[WorkItem, BaseException]] = []
        with state.lock:
            if state.closing:
                return
            assignments = state.dispatch_locked()
            census, idle = state.census_locked()
            decision = decide(census)
            to_start = decision.start
            if state.start_failures >= MAX_START_FAILURES:
                to_start = 0
                problem = state.start_problem
                hopeless = [
                    (i, errors.workers_fail_to_start(i.job.label, problem)) for i in state.queue
                ]
            elif decision.stuck:
                hopeless = [(i, errors.cap_reached(i.job.label, state.cap)) for i in state.queue]
            if hopeless:
                state.queue.clear()
                for item, _ in hopeless:
                    state.items.pop(item.future, None)
            retiring = idle[: decision.retire]
            for worker in retiring:
                worker.state = State.RETIRING
        state.send_jobs(assignments)
        for worker in retiring:
            worker.send(protocol.Stop())
        for item, error in hopeless:
            if item.claim():
                item.finish(Outcome(error=error))
        for _ in range(to_start):
            self._launch()

    def _launch(self) -> None:
        try:
            name = f"durable-mp-worker-{next(self._names)}"
            worker = WorkerHandle.launch(name, worker_main)
        except Exception as exc:
            _log.warning("could not start a worker process: %r", exc)
            with self._state.lock:
                self._state.start_failures += 1
                self._state.start_problem = repr(exc)
            return
        with self._state.lock:
            self._state.workers.append(worker)
        self._watch(worker)

    # -- the end ------------------------------------------------------------------------

    def _fail_everything(self) -> None:
        state = self._state
        with state.lock:
            state.closing = True
            items = list(state.items.values())
            state.items.clear()
            state.queue.clear()
        for item in items:
            if item.claim():
                item.abort(WorkerPoolError(f"the worker pool failed while {item.job.label} ran"))

    def _stop_all(self) -> None:
        """Stop idle workers politely, kill busy ones, reap them all."""
        with self._state.lock:
            workers = list(self._state.workers)
            self._state.workers.clear()
        for worker in workers:
            if worker.state in (State.IDLE, State.STARTING, State.RETIRING):
                worker.state = State.RETIRING
                worker.send(protocol.Stop())
            else:
                worker.state = State.DYING
                worker.kill()
        end = time.monotonic() + self._state.shutdown_timeout
        for worker in workers:
            worker.process.join(max(0.0, end - time.monotonic()))
            if worker.exitcode() is None:
                worker.kill()
            self._reap(worker)
