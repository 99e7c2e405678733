"""The pool thread: the one place that starts, watches, polices and reaps workers.

It waits, with one selector kept for the pool's life, on a wake-up socket, on the fork
server's control socket (workers forked, workers exited) and on the sockets of workers
running a ``submit`` job (the callers of ``run`` read their workers themselves), with the
next deadline or memory poll as its timeout. It starts the fork server and asks it for
workers: the fork server's death signal is tied to the thread that started it, and this
thread lives as long as the pool.

Callbacks of ``submit`` jobs (``on_message``, ``on_request``, future completion) run on
this thread.
"""

from __future__ import annotations

import itertools
import logging
import math
import selectors
import threading
import time
from typing import TYPE_CHECKING

from durable_mp.exceptions import WorkerPoolError
from durable_mp.workers import errors, protocol
from durable_mp.workers.conversation import respond
from durable_mp.workers.jobs import Outcome
from durable_mp.workers.launcher import Zygote, take_ahead
from durable_mp.workers.pool_state import decide
from durable_mp.workers.processes import State, WorkerHandle
from durable_mp.workers.trees import kill_tree, tree_rss
from durable_mp.workers.zygote import PRELOAD_ENV

if TYPE_CHECKING:
    from durable_mp.workers.jobs import WorkItem
    from durable_mp.workers.pool_state import Assignments, PoolState

_log = logging.getLogger("durable_mp.workers")

MAX_START_FAILURES = 3
_MEMORY_POLL_SECONDS = 0.05
_BYTES_PER_MB = 1024 * 1024
_WAKE, _ZYGOTE = "wake", "zygote"


class PoolThread(threading.Thread):
    def __init__(self, state: PoolState) -> None:
        # Daemon: interpreter exit joins non-daemon threads *before* atexit handlers run,
        # and the pool's atexit handler is what stops this thread.
        super().__init__(name="durable-mp-pool", daemon=True)
        self._state = state
        self._names = itertools.count(1)
        self._requests = itertools.count(1)
        self._zygote: Zygote | None = None
        self._starting: dict[int, WorkerHandle] = {}  # by fork request id
        self._by_pid: dict[int, WorkerHandle] = {}
        self._next_memory_poll = 0.0
        self._police_due = math.inf
        self._dirty = True  # something changed that _maintain should look at
        self._selector = selectors.DefaultSelector()
        self._launched = threading.Event()
        self._launch_error: BaseException | None = None

    @property
    def zygote_pid(self) -> int | None:
        zygote = self._zygote
        return zygote.pid if zygote is not None else None

    def wait_launched(self) -> BaseException | None:
        """Block until the first workers are forked; the error if none could be."""
        self._launched.wait()
        if self._launch_error is not None:
            self.join()
        return self._launch_error

    def run(self) -> None:
        state = self._state
        try:
            self._selector.register(state.wake_receiver, selectors.EVENT_READ, _WAKE)
            self._start_zygote()
            for _ in range(state.size):
                self._launch()
        except BaseException as exc:
            self._launch_error = exc
            state.closing = True
            self._launched.set()
        try:
            while not state.closing:
                self._turn()
                if not self._launched.is_set():
                    self._check_launched()
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
            if key.data == _WAKE:
                self._state.drain_wakeups()
                self._dirty = True
            elif key.data == _ZYGOTE:
                self._hear_zygote()
            else:
                self._receive(key.data)
        if time.monotonic() >= self._police_due:
            self._police()
        if self._dirty:
            self._dirty = False
            self._maintain()

    def _timeout(self) -> float | None:
        """Until the next deadline or memory poll (None: nothing to watch)."""
        wakeups: list[float] = []
        with self._state.lock:
            for worker in self._state.workers:
                item = worker.item
                if item is None:
                    continue
                if item.deadline is not None:
                    wakeups.append(item.deadline)
                if item.job.memory_limit_mb is not None:
                    wakeups.append(self._next_memory_poll)
        self._police_due = min(wakeups, default=math.inf)
        if not wakeups:
            return None
        return max(0.0, self._police_due - time.monotonic())

    def _check_launched(self) -> None:
        """Once the first fork requests are answered: the pool is up, or it cannot start."""
        if self._starting and self._zygote is not None:
            return
        with self._state.lock:
            started = any(worker.alive for worker in self._state.workers)
            if not started:
                self._launch_error = WorkerPoolError(self._state.start_problem)
                self._state.closing = True
        self._launched.set()

    # -- the fork server ----------------------------------------------------------------

    def _start_zygote(self) -> None:
        zygote = take_ahead() or Zygote.launch()
        self._zygote = zygote
        self._selector.register(zygote.control, selectors.EVENT_READ, _ZYGOTE)
        _log.debug("fork server %d started", zygote.pid)

    def _hear_zygote(self) -> None:
        zygote = self._zygote
        assert zygote is not None
        message = zygote.receive()
        if message is None:
            self._zygote_died(zygote)
            return
        kind = message[0]
        if kind == "forked":
            self._on_forked(message[1], message[2])
        elif kind == "exited":
            worker = self._by_pid.pop(message[1], None)
            if worker is not None:
                self._on_exit(worker, message[2])
        elif kind == "fork-failed":
            self._on_fork_failed(message[1], message[2])
        elif kind == "ready":
            zygote.ready = True
            _log.debug("fork server %d ready after %.1f ms", zygote.pid, 1000 * message[1])
        elif kind == "failed":
            with self._state.lock:
                self._state.start_failures = MAX_START_FAILURES
                self._state.start_problem = (
                    f"the worker fork server could not import what workers need ({message[1]});"
                    f" check {PRELOAD_ENV} and that this Python can import durable_mp"
                )
            self._dirty = True

    def _on_forked(self, request_id: int, pid: int) -> None:
        worker = self._starting.pop(request_id, None)
        if worker is None:
            return
        self._by_pid[pid] = worker
        with self._state.lock:
            worker.pid = pid
            if worker.state is State.STARTING:
                worker.state = State.IDLE
                self._state.start_failures = 0
        self._dirty = True
        _log.debug(
            "worker %d ready %.1f ms after it was asked for",
            pid,
            1000 * (time.monotonic() - worker.launched_at),
        )

    def _on_fork_failed(self, request_id: int, reason: str) -> None:
        worker = self._starting.pop(request_id, None)
        _log.warning("the fork server could not fork a worker: %s", reason)
        with self._state.lock:
            self._state.start_failures += 1
            self._state.start_problem = reason
            if worker is not None and worker in self._state.workers:
                self._state.workers.remove(worker)
        if worker is not None:
            worker.state = State.DEAD
            worker.close()
        self._dirty = True

    def _zygote_died(self, zygote: Zygote) -> None:
        """Its workers die with it (death signal); fail their jobs, start afresh later."""
        self._selector.unregister(zygote.control)
        code = zygote.stop(1.0)
        self._zygote = None
        _log.warning("the worker fork server %d %s", zygote.pid, errors.describe_exit(code))
        with self._state.lock:
            lost = list(self._state.workers)
            if self._state.start_failures < MAX_START_FAILURES:  # else it said why
                self._state.start_failures += 1
                self._state.start_problem = f"the worker fork server {errors.describe_exit(code)}"
            unforked = [worker for worker in lost if worker.state is State.STARTING]
            for worker in unforked:
                self._state.workers.remove(worker)
                worker.state = State.DEAD
        for worker in unforked:
            worker.close()
        for worker in lost:
            if worker.state is State.DEAD:
                continue
            if worker.pid:
                kill_tree(worker.pid)
            self._on_exit(worker, None)
        self._starting.clear()
        self._by_pid.clear()
        self._dirty = True

    # -- what workers of submit() jobs say ----------------------------------------------

    def _watch(self, worker: WorkerHandle) -> None:
        if not worker.watched:
            worker.watched = True
            self._selector.register(worker.channel.sock, selectors.EVENT_READ, worker)

    def _unwatch(self, worker: WorkerHandle) -> None:
        if worker.watched:
            worker.watched = False
            self._selector.unregister(worker.channel.sock)

    def _receive(self, worker: WorkerHandle) -> None:
        """Handle the worker's messages (or notice its socket closed)."""
        while True:
            try:
                frame = worker.channel.recv()
            except (EOFError, OSError):
                self._unwatch(worker)  # it died; the fork server will say how
                return
            with self._state.lock:
                item = worker.item
            try:
                outcome = respond(self._state, worker, item, protocol.decode(frame))
            except ValueError:
                _log.exception("worker %d sent a malformed message; killing it", worker.pid)
                self._kill(worker, None, None)
                return
            if outcome is not None and item is not None:
                self._on_end(worker, item, outcome)
            if not (worker.watched and worker.channel.buffered()):
                return  # the selector says when there is more

    def _on_end(self, worker: WorkerHandle, item: WorkItem, outcome: Outcome) -> None:
        state = self._state
        with state.lock:
            if worker.item is not item:
                return  # the job was already failed (killed, pool shut down)
            state.detach_locked(worker)
            if worker.state is State.BUSY:
                worker.state = State.IDLE
            assignments = state.dispatch_locked(by_pool_thread=True)
            if not state.settled_locked():
                self._dirty = True  # maybe a worker to start, retire, or a stuck queue
        self._unwatch(worker)
        self._hand_out(assignments)  # keep the worker busy before doing anything else
        if item.claim():
            item.finish(outcome)

    def _hand_out(self, assignments: Assignments) -> None:
        """Send the pool thread's jobs; tell the callers of direct ones."""
        for worker, item in assignments:
            if item.direct:
                item.wake()
                continue
            self._watch(worker)
            if not worker.send(protocol.Start(item.job_id, item.job.call)):
                with self._state.lock:  # it died idle: the job never reached it
                    self._state.requeue_locked(worker, item)
                self._unwatch(worker)
                self._dirty = True

    # -- deaths, limits, killing --------------------------------------------------------

    def _on_exit(self, worker: WorkerHandle, exitcode: int | None) -> None:
        """The worker process ended: fail its job and forget it (``_maintain`` replaces it)."""
        if worker.watched:
            worker.channel.stop_reading()  # what it sent is read, then the end of the stream
            while worker.watched:
                self._receive(worker)  # a result may have made it out before the end
        self._dirty = True
        state = self._state
        with state.lock:
            if worker in state.workers:
                state.workers.remove(worker)
            was = worker.state
            worker.state = State.DEAD
            worker.exitcode = exitcode
            read_by_caller = worker.reader is not None
            item = None if read_by_caller else state.detach_locked(worker)
            if was is State.STARTING and state.start_failures < MAX_START_FAILURES:
                state.start_failures += 1
                state.start_problem = f"worker {worker.pid} {errors.describe_exit(exitcode)}"
        _log.debug("worker %d ended: %s", worker.pid, errors.describe_exit(exitcode))
        if read_by_caller:
            worker.interrupt()  # its caller delivers the job's end, and closes it
            return
        worker.close()
        if item is not None and item.claim():
            item.finish(Outcome(error=errors.crashed(item.job.label, worker.pid, exitcode)))

    def _police(self) -> None:
        """Kill jobs past their deadline or memory limit."""
        now = time.monotonic()
        overdue: list[tuple[WorkerHandle, WorkItem]] = []
        measured: list[tuple[WorkerHandle, WorkItem]] = []
        with self._state.lock:
            for worker in self._state.workers:
                item = worker.item
                if item is None or worker.state is not State.BUSY:
                    continue
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

    def _kill(
        self, worker: WorkerHandle, item: WorkItem | None, error: BaseException | None
    ) -> None:
        """Kill the worker's process tree and fail its job with ``error`` at once."""
        with self._state.lock:
            if item is not None and worker.item is not item:
                return  # it finished meanwhile
            item = self._state.detach_locked(worker)
            if worker.state is not State.DEAD:
                worker.state = State.DYING  # the fork server will report its exit
            read_by_caller = worker.reader is not None
        worker.kill()
        self._unwatch(worker)
        self._dirty = True
        if item is not None and item.claim():
            if error is None:
                error = errors.crashed(item.job.label, worker.pid, None)
            item.finish(Outcome(error=error))
        if read_by_caller:
            worker.interrupt()

    # -- keeping the right number of workers --------------------------------------------

    def _maintain(self) -> None:
        """Dispatch queued jobs, start or retire workers, fail jobs that can never run."""
        state = self._state
        hopeless: list[tuple[WorkItem, BaseException]] = []
        with state.lock:
            if state.closing:
                return
            assignments = state.dispatch_locked(by_pool_thread=True)
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
                    state.items.pop(item.key, None)
            retiring = idle[: decision.retire]
            for worker in retiring:
                worker.state = State.RETIRING
        self._hand_out(assignments)
        for worker in retiring:
            worker.send(protocol.Stop())
        for item, error in hopeless:
            if item.claim():
                item.finish(Outcome(error=error))
        for _ in range(to_start):
            self._launch()

    def _launch(self) -> None:
        """Ask the fork server for one more worker (starting a fork server if need be)."""
        state = self._state
        request_id = next(self._requests)
        try:
            if self._zygote is None:
                self._start_zygote()
            assert self._zygote is not None
            sock = self._zygote.request_worker(request_id)
        except Exception as exc:
            _log.warning("could not start a worker process: %r", exc)
            with state.lock:
                state.start_failures += 1
                state.start_problem = repr(exc)
            return
        worker = WorkerHandle(f"durable-mp-worker-{next(self._names)}", request_id, sock)
        self._starting[request_id] = worker
        with state.lock:
            state.workers.append(worker)

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
        state.interrupt_readers()

    def _stop_all(self) -> None:
        """Stop idle workers politely, kill busy ones, wait for the fork server's reports,
        then stop the fork server (which kills whatever is left below it)."""
        with self._state.lock:
            workers = list(self._state.workers)
        for worker in workers:
            self._unwatch(worker)
            if worker.state in (State.IDLE, State.STARTING, State.RETIRING):
                worker.state = State.RETIRING
                worker.send(protocol.Stop())
            elif worker.state is State.BUSY:
                worker.state = State.DYING
                worker.kill()
        zygote = self._zygote
        end = time.monotonic() + self._state.shutdown_timeout
        while zygote is not None and self._alive(workers) and time.monotonic() < end:
            for key, _ in self._selector.select(max(0.0, end - time.monotonic())):
                if key.data == _WAKE:
                    self._state.drain_wakeups()
                elif key.data == _ZYGOTE:
                    self._hear_zygote()
            zygote = self._zygote
        for worker in workers:
            if worker.state is not State.DEAD:
                worker.kill()
        if self._zygote is not None:
            self._zygote.stop(self._state.shutdown_timeout + 5.0)
            self._zygote = None
        for worker in workers:
            if worker.state is not State.DEAD:
                self._on_exit(worker, None)

    @staticmethod
    def _alive(workers: list[WorkerHandle]) -> bool:
        return any(worker.state is not State.DEAD for worker in workers)

