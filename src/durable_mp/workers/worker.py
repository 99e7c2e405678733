"""Inside a worker process: the loop that runs jobs, and the link to the parent.

The loop takes a job, runs it, and sends back how it ended (``protocol.Returned`` or
``protocol.Raised``, with the times the function started and ended). A running job talks
to its parent through the same duplex pipe: :func:`send_to_parent` (one-way) and
:func:`request_from_parent` (blocks for the reply). The loop and any thread of a running
job share the pipe: sends take a lock; receiving is done by whichever thread holds the
receive lock, and it files each reply under the request it answers, so several threads
may wait on the parent at once.

The worker's parent is the pool's fork server (``zygote.py``), which forks it and runs
:func:`main`. It must never outlive that parent: the kernel kills it when the fork server
dies (``PR_SET_PDEATHSIG`` on Linux; the fork server itself dies with the pool) and a
watchdog thread catches the rest. It shrugs off SIGINT, because Ctrl-C reaches the whole
process group and the parent decides what happens to running steps. (A no-op handler
rather than SIG_IGN: programs a step executes get the default disposition back, an
ignored signal would stay ignored.)

A job's processes end with it: the worker is a child subreaper, so whatever the job
started -- in its own session, or orphaned by a double fork -- stays in the worker's
tree, and the worker kills that tree before it reports the outcome (and when it stops).

The fork server imports this module before it forks any worker: it keeps to light imports.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import sys
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any

import cloudpickle

from durable_mp.workers import pickling, protocol
from durable_mp.workers.channel import Channel
from durable_mp.workers.trees import adopt_orphans, die_with_parent_thread, end_descendants

if TYPE_CHECKING:
    import socket

_WATCHDOG_INTERVAL = 0.2


def main(sock: socket.socket, parent_pid: int) -> None:
    """A worker's life: jobs from ``sock`` until told to stop or the parent is gone."""
    _die_with_parent(parent_pid)
    adopt_orphans()
    signal.signal(signal.SIGINT, _ignore_signal)
    link = attach(Channel(sock))
    pid = os.getpid()
    try:
        while True:
            message = link.next_command()
            if type(message) is protocol.Start:
                _run(link, pid, message)
            elif type(message) is protocol.Stop:
                return
    except (EOFError, OSError, ValueError):
        return  # the parent closed the socket, is gone, or sent garbage
    finally:
        end_descendants()  # what threads a job left behind started since it ended


def _ignore_signal(signum: int, frame: object) -> None:
    pass


def _die_with_parent(parent_pid: int) -> None:
    die_with_parent_thread(signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    watchdog = threading.Thread(
        target=_watch_parent, args=(parent_pid,), name="durable-mp-watchdog", daemon=True
    )
    watchdog.start()


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(_WATCHDOG_INTERVAL)
    with contextlib.suppress(Exception):
        end_descendants()
    os._exit(1)


def _run(link: Link, pid: int, start: protocol.Start) -> None:
    link.job_id = start.job_id
    try:
        outcome = _outcome(start, pid)
        end_descendants()  # the job's processes end with it, before it is reported over
        link.send(outcome)
    finally:
        link.job_id = None
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()


def _outcome(start: protocol.Start, pid: int) -> protocol.Returned | protocol.Raised:
    job_id = start.job_id
    try:
        fn, args = cloudpickle.loads(start.call)
    except BaseException as exc:
        return _raised(job_id, protocol.CALL_UNLOADABLE, exc, None, skip_frames=0)
    thread = threading.current_thread().name
    started_at = time.time()
    try:
        value = fn(*args)
    except BaseException as exc:
        run = (pid, thread, started_at, time.time())
        return _raised(job_id, protocol.RAISED, exc, run, skip_frames=1)
    finally:
        del fn, args
    run = (pid, thread, started_at, time.time())
    try:
        blob = pickling.dumps(value)
    except BaseException as exc:
        type_name = _type_name(type(value))
        return protocol.Raised(
            job_id, protocol.RESULT_UNPICKLABLE, None, type_name, _text(exc), None, None, run
        )
    return protocol.Returned(job_id, blob, run)


def _raised(
    job_id: int,
    kind: str,
    exc: BaseException,
    run: protocol.RunTimes | None,
    skip_frames: int,
) -> protocol.Raised:
    tb = exc.__traceback__
    for _ in range(skip_frames):
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
    lines = traceback.format_exception(type(exc), exc, tb)
    blob: bytes | None
    detail: str | None = None
    try:
        blob = pickling.dumps(exc)
    except BaseException as problem:
        blob, detail = None, _text(problem)
    type_name = _type_name(type(exc))
    return protocol.Raised(job_id, kind, blob, type_name, _text(exc), detail, lines, run)


def _text(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return f"<{type(exc).__name__} whose str() failed>"


def _type_name(cls: type) -> str:
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


# -- the link to the parent ----------------------------------------------------------

_NOT_IN_WORKER = "{name}() only works inside a step body running in a worker process"


class _Slot:
    """Where a reply lands for the thread that waits on it."""

    __slots__ = ("done", "value")

    def __init__(self) -> None:
        self.done = False
        self.value: Any = None


class Link:
    """The worker's end of the pipe, shared by its threads."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._send_lock = threading.Lock()
        self._recv_lock = threading.Lock()
        self._slots: dict[int, _Slot] = {}
        self._ids = itertools.count(1)
        self.job_id: int | None = None

    def send(self, message: protocol.Message) -> None:
        parts = protocol.parts(message)
        with self._send_lock:
            self._channel.send(parts)

    def next_command(self) -> protocol.Message:
        """The next job or stop from the parent (replies met on the way are filed)."""
        with self._recv_lock:
            while True:
                message = protocol.decode(self._channel.recv())
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
                    message = protocol.decode(self._channel.recv())
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


def attach(channel: Channel) -> Link:
    """Make this process a worker talking over ``channel`` (called by the worker's main)."""
    global _link  # noqa: PLW0603 - one link per worker process
    _link = Link(channel)
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
    link.send(protocol.Note(job_id, pickling.dumps(body)))


def request_from_parent(body: Any) -> Any:
    """Ask the running job's ``on_request`` handler in the parent; block for its reply.

    A reply that is an exception instance is raised here, ``BaseException`` subclasses
    (control-flow exceptions such as ``SuspendExecution``) included.
    """
    link, job_id = _current("request_from_parent")
    value = link.request(job_id, pickling.dumps(body))
    if isinstance(value, BaseException):
        raise value
    return value
