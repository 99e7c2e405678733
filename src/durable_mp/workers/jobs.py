"""Jobs and their outcomes: what callers hand to the pool, what they get back, and what
the pool keeps about a job while it waits or runs.

:class:`Outcome` and :class:`BodyRun` are also what the in-process executors return, so
a step's attempt ends the same way wherever its body ran.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cloudpickle

from durable_mp.workers import errors, pickling, protocol

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass(frozen=True)
class BodyRun:
    """Where and when a body ran, measured where it ran (in the worker, in process mode).

    ``started_at`` and ``ended_at`` are ``time.time()`` readings taken just before the
    body was called and just after it returned or raised (for a step, the span covers
    its body wrappers and the serialization of its result, which run there too);
    ``thread`` is the name of the thread it ran on.

    An outcome has no run (``None``) when nothing reported one: the body never started
    (its closure could not be pickled, its call did not load in the worker, the pool shut
    down first), or it never reported back: its worker was killed or crashed first
    (timeout, memory limit, crash), or, in thread mode, its timeout abandoned it. The
    outcome's error says which.
    """

    executor: str  # "process", "thread" or "inline"
    pid: int
    thread: str
    started_at: float
    ended_at: float


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one call ended: its value, or the error that ended it.

    For a step body ``value`` is the serialized result. ``error`` is what the function
    raised (unpickled in the parent), a ``RemoteError`` stand-in when that exception
    could not cross the pipe, or an error the executor made (crash, timeout, memory
    limit, pickling). ``traceback`` is the error's, formatted where it was raised.
    """

    value: Any = None
    error: BaseException | None = None
    traceback: list[str] | None = None
    run: BodyRun | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Job:
    """One function call to run in a worker process.

    ``call`` is ``cloudpickle.dumps((fn, args))`` made by the caller, so that an
    unpicklable closure fails in the caller's thread with the caller's stack. ``label``
    names the job in every error message. ``on_message`` gets each ``send_to_parent``
    body and ``on_request`` each ``request_from_parent`` body with its :class:`Replier`;
    both run on the pool thread and must not block.
    """

    call: bytes
    label: str
    timeout: float | None = None
    memory_limit_mb: float | None = None
    on_message: Callable[[Any], None] | None = None
    on_request: Callable[[Any, Replier], None] | None = None


class WorkItem:
    """One job's life in the pool; completes exactly once.

    A job run with ``WorkerPool.run`` is *direct*: its caller sends it and reads its
    worker's answers itself, and gets its outcome without a future. A job run with
    ``submit`` has a future, and the pool thread reads for it. ``key`` is what the pool
    files it under (and what ``mark_blocked`` takes): the future, or the item itself.
    """

    __slots__ = (
        "_done",
        "_turn",
        "blocked",
        "deadline",
        "direct",
        "error",
        "future",
        "job",
        "job_id",
        "outcome",
        "running",
    )

    def __init__(self, job_id: int, job: Job, *, direct: bool = False) -> None:
        self.job_id = job_id
        self.job = job
        self.direct = direct
        self.future: Future[Outcome] | None = None if direct else Future()
        self.running = False  # handed to a worker (and not over yet)
        self.deadline: float | None = None
        self.blocked = 0  # how many waits on the parent are in progress
        self.outcome: Outcome | None = None
        self.error: BaseException | None = None  # the pool failed (shut down) first
        self._done = threading.Lock()  # held once someone has claimed the right to complete
        self._turn: threading.Event | None = None  # a queued direct job's caller waits here

    @property
    def key(self) -> object:
        return self if self.future is None else self.future

    @property
    def done(self) -> bool:
        return self._done.locked()

    def claim(self) -> bool:
        """Take the right to complete this job; False if someone already did."""
        return self._done.acquire(blocking=False)

    def finish(self, outcome: Outcome) -> None:
        """Deliver ``outcome`` (the caller must have claimed the item)."""
        self.outcome = outcome
        if self.future is not None:
            with contextlib.suppress(InvalidStateError):  # cancelled while queued
                self.future.set_result(outcome)
        self.wake()

    def abort(self, error: BaseException) -> None:
        """Fail the job itself (only for a pool that shut down); claimed first."""
        self.error = error
        if self.future is not None:
            with contextlib.suppress(InvalidStateError):
                self.future.set_exception(error)
        self.wake()

    def result(self) -> Outcome:
        """The outcome someone delivered, or the pool's failure raised."""
        if self.error is not None:
            raise self.error
        assert self.outcome is not None
        return self.outcome

    # -- a direct job waiting in the queue ---------------------------------------------

    def park(self) -> None:
        """Prepare to wait for a worker (under the pool's lock, before :meth:`wait_turn`)."""
        self._turn = threading.Event()

    def wake(self) -> None:
        """A worker was handed to this job, or it is over: its waiting caller goes on."""
        turn = self._turn
        if turn is not None:
            turn.set()

    def wait_turn(self) -> None:
        turn = self._turn
        if turn is not None:
            turn.wait()


class Replier:
    """The ``reply`` handed to ``Job.on_request``: call it once, from any thread, with the
    answer (an exception instance is raised in the worker); later calls are ignored.

    A request can reach the handler before ``submit()`` has returned the job's future to
    the thread that submitted it, so the replier carries that future, and ``job``, the
    pool's handle on the job (what ``WorkerPool.run`` callers have instead of a future):
    the handler can call ``pool.mark_blocked(reply.job)`` without racing the submitter.
    The answer is dropped if the job has ended (or its worker died) meanwhile.
    """

    __slots__ = ("_current", "_label", "_request_id", "_send", "_used", "future", "job")

    def __init__(
        self,
        item: WorkItem | None,
        request_id: int,
        current: Callable[[], bool],
        send: Callable[[protocol.Message], bool],
    ) -> None:
        self.job = item  # None for a stray request from a job that already ended
        self.future = item.future if item is not None else None
        self._label = item.job.label if item is not None else "a job"
        self._request_id = request_id
        self._current = current
        self._send = send
        self._used = threading.Lock()

    def __call__(self, value: Any) -> None:
        if not self._used.acquire(blocking=False):
            return
        try:
            blob = pickling.dumps(value)
        except Exception as exc:
            blob = pickling.dumps(errors.reply_unpicklable(self._label, repr(exc)))
        if self._current():
            self._send(protocol.Reply(self._request_id, blob))


# -- a worker's report, turned into an Outcome in the parent ------------------------------
#
# Unpickling can fail here too (a class the parent cannot import, an exception whose
# ``__init__`` does not accept its own args); that becomes a clear error for the job,
# never a broken pool.


def outcome_of(label: str, message: protocol.Returned | protocol.Raised) -> Outcome:
    run = _body_run(message.run)
    if type(message) is protocol.Returned:
        try:
            return Outcome(cloudpickle.loads(message.value), run=run)
        except Exception as exc:
            return Outcome(error=errors.result_unloadable(label, _text(exc)), run=run)
    assert type(message) is protocol.Raised
    if message.kind == protocol.RESULT_UNPICKLABLE:
        error = errors.result_unpicklable(label, message.type_name, message.message)
        return Outcome(error=error, run=run)
    if message.kind == protocol.CALL_UNLOADABLE:
        error = errors.payload_unloadable(label, f"{message.type_name}: {message.message}")
        return Outcome(error=error, traceback=message.traceback)
    return Outcome(error=_exception(message), traceback=message.traceback, run=run)


def _body_run(times: protocol.RunTimes | None) -> BodyRun | None:
    if times is None:
        return None
    pid, thread, started_at, ended_at = times
    return BodyRun("process", pid, thread, started_at, ended_at)


def _exception(message: protocol.Raised) -> BaseException:
    type_name, text, lines = message.type_name, message.message, message.traceback
    if message.error is None:
        reason = f"the exception could not be pickled in the worker ({message.detail})"
        return errors.RemoteError(type_name, text, lines, reason)
    try:
        error = cloudpickle.loads(message.error)
    except Exception as exc:
        reason = f"the exception could not be unpickled in the parent ({_text(exc)})"
        return errors.RemoteError(type_name, text, lines, reason)
    if not isinstance(error, BaseException):
        return errors.RemoteError(type_name, text, lines, "it did not unpickle as an exception")
    return error


def _text(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:
        return type(exc).__name__
