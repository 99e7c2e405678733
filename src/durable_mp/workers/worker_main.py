"""The loop inside a worker process: take a job, run it, send back its outcome.

The worker must never outlive its parent: the kernel kills it when the parent's pool
thread dies (``PR_SET_PDEATHSIG`` on Linux) and a watchdog thread catches the rest. It
shrugs off SIGINT, because Ctrl-C reaches the whole process group and the parent decides
what happens to running steps. (A no-op handler rather than SIG_IGN: programs a step
executes get the default disposition back, an ignored signal would stay ignored.)
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
import traceback
from typing import TYPE_CHECKING

import cloudpickle

from durable_mp.workers import channel, protocol

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

_PR_SET_PDEATHSIG = 1
_WATCHDOG_INTERVAL = 0.2


def main(conn: Connection, parent_pid: int) -> None:
    """Entry point of a worker process (the loky process target)."""
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, _ignore_signal)
    link = channel.attach(conn)
    pid = os.getpid()
    try:
        link.send(protocol.Ready(pid))
        while True:
            message = link.next_command()
            if type(message) is protocol.Start:
                _run(link, pid, message)
            elif type(message) is protocol.Stop:
                return
    except (EOFError, OSError):
        return  # the parent closed the pipe or is gone


def _ignore_signal(signum: int, frame: object) -> None:
    pass


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    watchdog = threading.Thread(
        target=_watch_parent, args=(parent_pid,), name="durable-mp-watchdog", daemon=True
    )
    watchdog.start()


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(_WATCHDOG_INTERVAL)
    os._exit(1)


def _run(link: channel.Link, pid: int, start: protocol.Start) -> None:
    link.job_id = start.job_id
    try:
        link.send(_outcome(start, pid))
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
        blob = cloudpickle.dumps(value)
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
        blob = cloudpickle.dumps(exc)
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
