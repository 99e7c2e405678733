"""Everything that crosses a worker's pipe, and how it is framed.

Two layers share the pipe. The pool's own messages start a job, end it (``Returned`` or
``Raised``) and let a running job talk to its parent (the one-way ``Note``, a ``Request``
and its ``Reply``); user objects travel inside them as cloudpickle blobs. A step body
speaks through the last three: its log records, its waits on durable futures and their
answers are the step-level messages, pickled into those blobs. P = parent, W = worker.

Pool level::

  message     dir   fields                           sent by               handled by
  ----------  ----  -------------------------------  --------------------  --------------------
  Start       P→W   job_id, call = (fn, args) blob   WorkerPool.submit or  the worker's loop
                                                     the pool thread
  Stop        P→W   -                                the pool thread       the worker's loop
  Ready       W→P   pid                              the worker's loop     the pool thread
  Returned    W→P   job_id, value blob, run          the worker's loop     the pool thread,
                                                                           into an Outcome
  Raised      W→P   job_id, kind, error blob, type   the worker's loop     the pool thread,
                    name, message, detail,                                 into an Outcome
                    traceback, run
  Note        W→P   job_id, body blob                send_to_parent        Job.on_message
  Request     W→P   job_id, request_id, body blob    request_from_parent   Job.on_request
  Reply       P→W   request_id, value blob           Replier (any thread)  the worker's Link,
                                                                           for the asker

``on_message`` and ``on_request`` run on the pool thread. A ``Reply`` whose value is an
exception instance (the pool's own complaints, such as a request from a job that ended)
is raised by ``request_from_parent``.

Step level (an attempt of a step body in process mode; the parent side is
``engine/process_executor.py``, the worker side ``engine/step_body.py`` and
``futures.py``)::

  message       in        fields               sent by                handled by
  ------------  --------  -------------------  ---------------------  ------------------------
  result        Returned  the serialized       the worker's loop      ProcessExecutor: the
                          result (a str)       (run_in_worker)        attempt's Outcome.value
  error         Raised    the exception the    the worker's loop      ProcessExecutor: the
                          body raised                                 step's retry strategy
  LogEntry      Note      level, text, fields  the step logger in     ProcessExecutor: the
                                               the worker             parent's step logger
  WorkerReport  Note      wrapper, payload     run_step_body, after   ProcessExecutor: kept
                                               a body wrapper with    for the wrapper's owner
                                               worker_report() exits  (a plugin), ahead of
                                                                      the attempt's outcome
  AwaitRequest  Request   handles              DurableFuture.result,  ProcessExecutor: the
                                               all_of, any_of in the  step's context waits
                                               worker                 inactive, the job lends
                                                                      its CPU slot
  DoneQuery     Request   handles              DurableFuture.done in  ProcessExecutor, at once
                                               the worker             (the reply is a bool)
  AwaitReply    Reply     value, error         ProcessExecutor, once  futures.py: returns the
                                               the future resolved    value or raises error
  Suspension    Reply     reason               ProcessExecutor, when  futures.py: raises the
                                               the invocation stops   reason (SuspendExecution)
                                               first                  to unwind the body; the
                                                                      attempt ends with it

Messages are NamedTuples in memory; on the pipe a frame is ``(tag, *fields)`` of plain
data (str, int, float, bytes, None, lists and tuples of them), so it is pickled with the
standard pickler and the parent can always decode it. User objects travel inside as
separate cloudpickle blobs: a blob that fails to load costs one job its result, never the
pipe its framing.
"""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING, Any, Final, NamedTuple

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

# Where and when a job's function ran, measured in the worker:
# (pid, thread name, started_at, ended_at), times from time.time().
RunTimes = tuple[int, str, float, float]

# ``Raised.kind``
RAISED: Final = "raised"  # the function raised; error is the exception (None if unpicklable)
RESULT_UNPICKLABLE: Final = "result-unpicklable"  # type_name is the returned value's type
CALL_UNLOADABLE: Final = "call-unloadable"  # the (fn, args) blob did not load: nothing ran


# -- the pool's messages --------------------------------------------------------------


class Start(NamedTuple):
    """parent → worker: run ``cloudpickle.loads(call)`` = ``(fn, args)`` as job ``job_id``."""

    job_id: int
    call: bytes


class Stop(NamedTuple):
    """parent → worker: exit once idle (a retiring worker, or the pool shutting down)."""


class Ready(NamedTuple):
    """worker → parent: booted, waiting for jobs."""

    pid: int


class Returned(NamedTuple):
    """worker → parent: the job's function returned ``cloudpickle.loads(value)``."""

    job_id: int
    value: bytes
    run: RunTimes


class Raised(NamedTuple):
    """worker → parent: the job ended without a value it could send (see ``kind``)."""

    job_id: int
    kind: str
    error: bytes | None  # the pickled exception; None if it could not be pickled
    type_name: str  # qualified name of the exception's (or the returned value's) type
    message: str
    detail: str | None  # why the exception could not be pickled
    traceback: list[str] | None
    run: RunTimes | None  # None when the function never started (CALL_UNLOADABLE)


class Note(NamedTuple):
    """worker → parent: a one-way message from the running job (``send_to_parent``)."""

    job_id: int
    body: bytes


class Request(NamedTuple):
    """worker → parent: a question from the running job (``request_from_parent``)."""

    job_id: int
    request_id: int
    body: bytes


class Reply(NamedTuple):
    """parent → worker: the answer to request ``request_id``."""

    request_id: int
    value: bytes


# -- a step body's messages (inside Note, Request and Reply blobs) ----------------------


class LogEntry(NamedTuple):
    """A record of the step logger in a worker, formatted there, for the parent's logger."""

    level: int
    text: str
    fields: dict[str, object]


class WorkerReport(NamedTuple):
    """What body wrapper number ``wrapper`` (its index in ``StepJob.body_wrappers``)
    reported once it exited: instrumentation data for its owner in the parent. Sent
    before the body's result, so it is in the parent when the outcome is."""

    wrapper: int
    payload: Any


class AwaitRequest(NamedTuple):
    """Reply once the first of these durable futures (by handle) resolves."""

    handles: tuple[str, ...]


class DoneQuery(NamedTuple):
    """Are all of these durable futures resolved? (Reply: a bool, at once.)"""

    handles: tuple[str, ...]


class AwaitReply(NamedTuple):
    """The awaited future resolved: its value, or the error it failed with."""

    value: Any = None
    error: BaseException | None = None


class Suspension(NamedTuple):
    """The invocation stopped before the future resolved (usually it suspends).

    ``reason`` (``SuspendExecution``, or the error that stopped the invocation) is raised
    in the body, which unwinds it; the attempt ends with that error.
    """

    reason: BaseException


Message = Start | Stop | Ready | Returned | Raised | Note | Request | Reply

_KINDS: tuple[type[Any], ...] = (Start, Stop, Ready, Returned, Raised, Note, Request, Reply)
_TAGS: dict[type[Any], int] = {kind: tag for tag, kind in enumerate(_KINDS)}
_PROTOCOL: Final = pickle.HIGHEST_PROTOCOL


def encode(message: Message) -> bytes:
    return pickle.dumps((_TAGS[type(message)], *message), _PROTOCOL)


def decode(data: bytes) -> Message:
    frame = pickle.loads(data)
    tag = frame[0] if type(frame) is tuple and frame else None
    if type(tag) is not int or not 0 <= tag < len(_KINDS):
        raise ValueError(f"malformed worker message: {frame!r:.200}")
    try:
        message: Message = _KINDS[tag]._make(frame[1:])
    except TypeError:  # wrong number of fields
        raise ValueError(f"malformed worker message: {frame!r:.200}") from None
    return message


def receive(conn: Connection) -> Message:
    return decode(conn.recv_bytes())
