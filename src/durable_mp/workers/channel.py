"""Talking to the parent from code that runs inside a worker process.

A worker has one duplex pipe to its parent. The worker's main loop and any thread of a
running step share it: sends take a lock; receiving is done by whichever thread holds the
receive lock, and it files each reply under the request it answers, so several threads
may wait on the parent at once.
"""

from __future__ import annotations

import itertools
import threading
from typing import TYPE_CHECKING, Any

import cloudpickle

from durable_mp.workers import protocol

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

_NOT_IN_WORKER = "{name}() only works inside a step body running in a worker process"


class _Slot:
    """Where a reply lands for the thread that waits on it."""

    __slots__ = ("done", "value")

    def __init__(self) -> None:
        self.done = False
        self.value: Any = None


class Link:
    """The worker's end of the pipe, shared by its threads."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._send_lock = threading.Lock()
        self._recv_lock = threading.Lock()
        self._slots: dict[int, _Slot] = {}
        self._ids = itertools.count(1)
        self.job_id: int | None = None

    def send(self, message: protocol.Message) -> None:
        data = protocol.encode(message)
        with self._send_lock:
            self._conn.send_bytes(data)

    def next_command(self) -> protocol.Message:
        """The next job or stop from the parent (replies met on the way are filed)."""
        with self._recv_lock:
            while True:
                message = protocol.receive(self._conn)
                if type(message) is not protocol.Reply:
                    return message
                self._file_reply(message)

    def request(self, job_id: int, body: bytes) -> Any:
        request_id = next(self._ids)
        slot = _Slot()
        self._slots[request_id] = slot
        try:
            self.send(protocol.Request(job_id, request_id, body))
            while not slot.done:
                with self._recv_lock:
                    if slot.done:
                        break
                    message = protocol.receive(self._conn)
                    if type(message) is protocol.Reply:
                        self._file_reply(message)
                    # A job or stop cannot arrive while this job runs; ignore strays.
        finally:
            self._slots.pop(request_id, None)
        return slot.value

    def _file_reply(self, message: protocol.Reply) -> None:
        slot = self._slots.get(message.request_id)
        if slot is None:
            return
        try:
            slot.value = cloudpickle.loads(message.value)
        except Exception as exc:
            slot.value = exc
        slot.done = True


_link: Link | None = None


def attach(conn: Connection) -> Link:
    """Make this process a worker talking over ``conn`` (called by the worker's main)."""
    global _link  # noqa: PLW0603 - one link per worker process
    _link = Link(conn)
    return _link


def in_worker() -> bool:
    """True inside a durable-mp worker process."""
    return _link is not None


def _current(name: str) -> tuple[Link, int]:
    link = _link
    if link is None:
        raise RuntimeError(_NOT_IN_WORKER.format(name=name))
    job_id = link.job_id
    if job_id is None:
        raise RuntimeError(f"{name}() was called while no job is running in this worker")
    return link, job_id


def send_to_parent(body: Any) -> None:
    """Send ``body`` to the running job's ``on_message`` handler in the parent (one-way)."""
    link, job_id = _current("send_to_parent")
    link.send(protocol.Note(job_id, cloudpickle.dumps(body)))


def request_from_parent(body: Any) -> Any:
    """Ask the running job's ``on_request`` handler in the parent; block for its reply.

    A reply that is an exception instance is raised here, ``BaseException`` subclasses
    (control-flow exceptions such as ``SuspendExecution``) included.
    """
    link, job_id = _current("request_from_parent")
    value = link.request(job_id, cloudpickle.dumps(body))
    if isinstance(value, BaseException):
        raise value
    return value
