"""The messages between the pool and its workers, and how they are framed.

Every message is a tuple whose first item names its kind. The envelope holds only plain
data (str, int, bytes, None, lists of str), so it is pickled with the standard library's
fast pickler and the parent can always decode it. User objects (the job payload, results,
exceptions, message bodies) travel inside as separate cloudpickle blobs: a blob that fails
to load costs one job its result, never the pipe its framing.

parent -> worker::

    ("job", job_id, payload)            payload = cloudpickle.dumps((fn, args))
    ("reply", request_id, value)        value = cloudpickle blob
    ("stop",)

worker -> parent::

    ("ready", pid)
    ("result", job_id, True, value, None)
    ("result", job_id, False, failure, traceback_lines)
    ("message", job_id, body)
    ("request", job_id, request_id, body)

``failure`` is ``(kind, exception_blob_or_None, type_name, message, detail)``.
"""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

JOB: Final = "job"
REPLY: Final = "reply"
STOP: Final = "stop"
READY: Final = "ready"
RESULT: Final = "result"
MESSAGE: Final = "message"
REQUEST: Final = "request"

# Failure kinds.
RAISED: Final = "raised"  # the function raised; blob is the exception (None if unpicklable)
RESULT_UNPICKLABLE: Final = "result-unpicklable"  # type_name is the value's type
PAYLOAD_UNLOADABLE: Final = "payload-unloadable"  # the (fn, args) payload did not load

Message = tuple[Any, ...]
Failure = tuple[str, bytes | None, str, str, str | None]


def encode(message: Message) -> bytes:
    return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


def decode(data: bytes) -> Message:
    message = pickle.loads(data)
    if not isinstance(message, tuple) or not message or not isinstance(message[0], str):
        raise ValueError(f"malformed worker message: {message!r:.200}")
    return message


def send(conn: Connection, message: Message) -> None:
    conn.send_bytes(encode(message))


def receive(conn: Connection) -> Message:
    return decode(conn.recv_bytes())
