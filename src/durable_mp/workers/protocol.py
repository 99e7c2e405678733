"""Everything that crosses a worker's socket, and how it is framed.

Two layers share the socket. The pool's own messages start a job, end it (``Returned`` or
``Raised``) and let a running job talk to its parent (the one-way ``Note``, a ``Request``
and its ``Reply``); user objects travel inside them as cloudpickle blobs. A step body
speaks through the last three: its log records, its waits on durable futures and their
answers are the step-level messages, pickled into those blobs. P = parent, W = worker.
The job's *reader* is the thread that called ``WorkerPool.run`` or, for a job run with
``WorkerPool.submit``, the pool thread (see ``conversation.py``).

Pool level::

  message     dir   fields                           sent by               handled by
  ----------  ----  -------------------------------  --------------------  --------------------
  Start       P→W   job_id, call = (fn, args) blob   the caller of run(),  the worker's loop
                                                     or the pool thread
  Stop        P→W   -                                the pool thread       the worker's loop
  Returned    W→P   job_id, value blob, run          the worker's loop     the job's reader,
                                                                           into an Outcome
  Raised      W→P   job_id, kind, error blob, type   the worker's loop     the job's reader,
                    name, message, detail,                                 into an Outcome
                    traceback, run
  Note        W→P   job_id, body blob                send_to_parent        Job.on_message
  Request     W→P   job_id, request_id, body blob    request_from_parent   Job.on_request
  Reply       P→W   request_id, value blob           Replier (any thread)  the worker's Link,
                                                                           for the asker

``on_message`` and ``on_request`` run on the job's reader. A ``Reply`` whose value is an
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

Messages are NamedTuples in memory. On the socket each is one frame (see ``channel.py``):
a tag byte, the fixed fields packed with ``struct``, then the blob as it is -- no pickling
layer around the user's cloudpickle blob, and no copy of it on either side. ``Raised`` (rare,
many fields) is the one message whose fields are pickled, with the standard pickler, as
plain data. A blob that fails to load costs one job its result, never the socket its
framing.
"""

from __future__ import annotations

import pickle
import struct
from typing import Any, Final, NamedTuple, TypeAlias

# A cloudpickle blob as it arrived: bytes, or a view into a large frame (no copy).
Blob: TypeAlias = bytes | memoryview

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
    call: Blob


class Stop(NamedTuple):
    """parent → worker: exit once idle (a retiring worker, or the pool shutting down)."""


class Returned(NamedTuple):
    """worker → parent: the job's function returned ``cloudpickle.loads(value)``."""

    job_id: int
    value: Blob
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
    body: Blob


class Request(NamedTuple):
    """worker → parent: a question from the running job (``request_from_parent``)."""

    job_id: int
    request_id: int
    body: Blob


class Reply(NamedTuple):
    """parent → worker: the answer to request ``request_id``."""

    request_id: int
    value: Blob


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


Message = Start | Stop | Returned | Raised | Note | Request | Reply

# -- frames -------------------------------------------------------------------------------

_START, _STOP, _RETURNED, _RAISED, _NOTE, _REQUEST, _REPLY = range(7)
_TAG = struct.Struct("!B")
_ONE_ID = struct.Struct("!BQ")  # Start, Note, Reply
_TWO_IDS = struct.Struct("!BQQ")  # Request
_RUN = struct.Struct("!BQIddH")  # Returned: job_id, pid, started_at, ended_at, len(thread)
_STOP_FRAME = _TAG.pack(_STOP)


def parts(message: Message) -> tuple[Blob, ...]:
    """``message`` as the pieces of one frame (sent without joining them)."""
    if type(message) is Start:
        return _ONE_ID.pack(_START, message.job_id), message.call
    if type(message) is Returned:
        pid, thread, started_at, ended_at = message.run
        name = thread.encode()
        head = _RUN.pack(_RETURNED, message.job_id, pid, started_at, ended_at, len(name))
        return head + name, message.value
    if type(message) is Note:
        return _ONE_ID.pack(_NOTE, message.job_id), message.body
    if type(message) is Request:
        return _TWO_IDS.pack(_REQUEST, message.job_id, message.request_id), message.body
    if type(message) is Reply:
        return _ONE_ID.pack(_REPLY, message.request_id), message.value
    if type(message) is Stop:
        return (_STOP_FRAME,)
    if type(message) is Raised:
        return (_TAG.pack(_RAISED) + pickle.dumps(tuple(message), pickle.HIGHEST_PROTOCOL),)
    raise TypeError(f"not a worker message: {message!r:.100}")


def encode(message: Message) -> bytes:
    """``message`` as one frame (what :func:`decode` reads)."""
    return b"".join(parts(message))


def decode(frame: Blob) -> Message:
    """The message in ``frame``; ValueError if it is not one."""
    try:
        return _decode(frame)
    except (IndexError, TypeError, ValueError, struct.error, pickle.UnpicklingError, EOFError):
        raise ValueError(f"malformed worker message: {bytes(frame[:200])!r}") from None


def _decode(frame: Blob) -> Message:
    tag = frame[0]
    if tag == _RETURNED:
        _, job_id, pid, started_at, ended_at, size = _RUN.unpack_from(frame)
        end = _RUN.size + size
        thread = bytes(frame[_RUN.size : end]).decode()
        return Returned(job_id, frame[end:], (pid, thread, started_at, ended_at))
    if tag in (_START, _NOTE, _REPLY):
        kind = Start if tag == _START else Note if tag == _NOTE else Reply
        return kind(_ONE_ID.unpack_from(frame)[1], frame[_ONE_ID.size :])
    if tag == _REQUEST:
        _, job_id, request_id = _TWO_IDS.unpack_from(frame)
        return Request(job_id, request_id, frame[_TWO_IDS.size :])
    if tag == _STOP and len(frame) == 1:
        return Stop()
    if tag == _RAISED:
        fields: Any = pickle.loads(frame[1:])
        if type(fields) is not tuple:
            raise ValueError("not a tuple")
        return Raised._make(fields)
    raise ValueError(f"unknown tag {tag}")
