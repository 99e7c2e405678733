"""The reaper: when a process dies, whatever its steps started dies too.

A worker kills what its job started when the job ends (it is a child subreaper, see
:mod:`durable_mp.workers.trees`). What that cannot cover is a SIGKILL: of the parent
alone (the workers die with it, and their children are orphaned to PID 1) or of its whole
process group (the workers die, and children a step started in a session of their own
escape the group kill). Nothing in the dying processes runs, so the cleaning must be done
from outside them.

The first time a process launches a fork server it starts its reaper: a small
interpreter in a session of its own (no group kill or Ctrl-C of the parent reaches it),
holding the read end of a pipe whose write end only the parent holds. The fork server is
launched with ``DURABLE_MP_WORKERS_OF=<tag>`` in its environment (after the tags of
outer pools, if this process is itself a worker's descendant), and the workers it forks,
and everything a step starts, inherit it, whatever session it moves to. When the parent
ends, however it ends, the kernel closes the pipe; the reaper wakes, stops every process
whose environment carries the tag (``/proc/PID/environ``), kills them, and exits. It
needs no privileges and no cgroup, so it works wherever ``/proc`` does. What escapes it:
a process that clears its environment or changes to another user, and a SIGKILL that
also reaches the reaper (a kill of every process of the user). Where it cannot run (no
``/proc``) the pool works without it, and says so once in its log.

Not started inside a Lambda runtime (``AWS_LAMBDA_RUNTIME_API`` set): Lambda, and
``durable-mp serve``'s sandboxes, end a sandbox's processes all together; nor with
``DURABLE_MP_REAPER=0``.

This file also runs as the reaper itself (``python -I -S reaper.py TAG``), so it imports
only the standard library.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import uuid

ENV = "DURABLE_MP_WORKERS_OF"
SWITCH_ENV = "DURABLE_MP_REAPER"  # "0": no reaper (measuring what survives without it)
_PROC = "/proc"
_LAMBDA_RUNTIME_ENV = "AWS_LAMBDA_RUNTIME_API"
_SWEEP_ROUNDS = 20  # rescans while stopped processes' children keep appearing

_log = logging.getLogger(__name__)

# -- in the parent -----------------------------------------------------------------------

_lock = threading.Lock()
_tag: str | None = None
_owner_pid = 0
_pipe: int | None = None  # the write end; open until this process ends
_process: subprocess.Popen[bytes] | None = None


def process_environment() -> dict[str, str]:
    """What the fork server this process starts for its pool must carry (its workers, and
    all they start, inherit it): the tags this process carries itself (a pool inside a
    step: the outer reaper finds the inner workers too), then its own. Starts the reaper
    the first time (in each process: a forked child gets its own)."""
    return {ENV: _tags()}


def _tags() -> str:
    global _tag, _owner_pid  # noqa: PLW0603 - one reaper per process
    with _lock:
        if _tag is None or _owner_pid != os.getpid():
            _owner_pid = os.getpid()
            _tag = f"{_owner_pid}-{uuid.uuid4().hex[:16]}"
            _start(_tag)
        inherited = os.environ.get(ENV)
        return f"{inherited}:{_tag}" if inherited else _tag


def reaper_pid() -> int | None:
    """The pid of this process's reaper, if one runs."""
    with _lock:
        if _process is None or _owner_pid != os.getpid():
            return None
        return _process.pid


def _start(tag: str) -> None:
    global _pipe, _process  # noqa: PLW0603
    if os.environ.get(_LAMBDA_RUNTIME_ENV):
        return  # the sandbox is ended whole
    if os.environ.get(SWITCH_ENV, "").strip() == "0":
        return
    if not os.path.isdir(_PROC):
        _log.info(
            "No /proc here: processes a step starts are ended with the step, but not "
            "after a SIGKILL of this process (no reaper)"
        )
        return
    read_end, write_end = os.pipe()  # both close-on-exec: no worker or step holds them
    try:
        _process = subprocess.Popen(
            [sys.executable, "-I", "-S", os.path.abspath(__file__), tag],
            stdin=read_end,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as error:
        os.close(write_end)
        _log.warning("Could not start the worker reaper (%s): processes a step starts "
                     "may outlive a SIGKILL of this process", error)
        return
    finally:
        os.close(read_end)
    _pipe = write_end


def _forget_in_child() -> None:
    """A forked child must not keep its parent's reaper waiting."""
    global _pipe, _process, _tag
    if _pipe is not None:
        with contextlib.suppress(OSError):
            os.close(_pipe)
    _pipe, _process, _tag = None, None, None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


# -- the reaper ----------------------------------------------------------------------------


def tagged(tag: str) -> list[int]:
    """Pids of the processes (this one aside) whose environment carries ``tag``."""
    prefix = f"{ENV}=".encode()
    wanted = tag.encode()
    me = os.getpid()
    found: list[int] = []
    if not os.path.isdir(_PROC):
        return found  # (no /proc: nothing can be found, see the module's docstring)
    for name in os.listdir(_PROC):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"{_PROC}/{name}/environ", "rb") as source:
                environment = source.read()
        except OSError:  # gone, or another user's
            continue
        for entry in environment.split(b"\0"):
            if entry.startswith(prefix) and wanted in entry[len(prefix) :].split(b":"):
                found.append(int(name))
                break
    return found


def sweep(tag: str) -> int:
    """Stop every tagged process, again until no new one appears, then kill them all;
    how many. Stopped first, so none can start another between the scan and the kill."""
    stopped: set[int] = set()
    for _ in range(_SWEEP_ROUNDS):
        new = [pid for pid in tagged(tag) if pid not in stopped]
        if not new:
            break
        for pid in new:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGSTOP)
            stopped.add(pid)
    for pid in stopped:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return len(stopped)


def main(argv: list[str]) -> int:
    """Wait for the parent to end (standard input reaches its end), then sweep."""
    (tag,) = argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        while os.read(0, 4096):
            pass
    sweep(tag)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
