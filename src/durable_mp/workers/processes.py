"""Worker processes as the operating system sees them: how many, starting one, and
measuring and killing it together with every process it started.

``os.cpu_count()`` lies inside containers: it ignores CPU affinity and cgroup quotas.
loky's ``cpu_count`` honours both. On Lambda the cgroup may still show more CPUs than the
function's memory setting pays for, so the count is also capped by the memory size.

A step's processes belong to it: they end with the step, and their memory counts against
it. Each worker is a child subreaper (``PR_SET_CHILD_SUBREAPER``, Linux): a process that
a step started and that was orphaned (a double fork) is re-parented to the worker rather
than to PID 1, so it stays in the worker's tree whatever session or process group it
moved to. That tree is what the parent measures for memory limits and kills at a timeout
or memory limit (:func:`kill_tree`), and what the worker kills itself when a job ends,
before it reports the outcome, and when it stops (:func:`end_descendants`). Subreapers
rather than cgroups: they need no privileges and no writable cgroup hierarchy, so they
work on Lambda too. The parent is not made a subreaper: it would adopt the orphans of
processes the user's own code starts in the parent. What this cannot cover: a worker that
crashes mid-job (segfault, ``os._exit``, the kernel's OOM killer) cleans nothing up, and
what its job started is orphaned to PID 1: the pool sweeps it by the worker's tag when it
sees the crash. A SIGKILL of the parent (alone, or with its process group) is covered by
the reaper (:mod:`.reaper`).
"""

from __future__ import annotations

import contextlib
import ctypes
import enum
import math
import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import loky
import psutil
from loky.backend.context import get_context

from durable_mp.workers import protocol, reaper

if TYPE_CHECKING:
    from collections.abc import Callable
    from multiprocessing.connection import Connection

    from durable_mp.workers.jobs import WorkItem

# -- how many -----------------------------------------------------------------------------

# Lambda allocates CPU in proportion to memory: one vCPU at 1,769 MB, at most six.
LAMBDA_MB_PER_VCPU = 1769
LAMBDA_MAX_VCPUS = 6
_LAMBDA_MEMORY_ENV = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"


def lambda_vcpus(memory_mb: int) -> int:
    """The vCPUs a Lambda function with ``memory_mb`` of memory gets (1 to 6)."""
    return max(1, min(LAMBDA_MAX_VCPUS, math.ceil(memory_mb / LAMBDA_MB_PER_VCPU)))


def usable_cpu_count() -> int:
    """CPUs this process can really use: affinity, cgroup quota and Lambda memory aware."""
    count = max(1, int(loky.cpu_count()))
    memory = os.environ.get(_LAMBDA_MEMORY_ENV, "").strip()
    if memory:
        try:
            memory_mb = int(memory)
        except ValueError:
            return count
        if memory_mb > 0:
            count = min(count, lambda_vcpus(memory_mb))
    return count


# -- one worker ---------------------------------------------------------------------------


class State(enum.Enum):
    STARTING = "starting"  # launched, has not said "ready" yet
    IDLE = "idle"
    BUSY = "busy"
    RETIRING = "retiring"  # told to stop; will exit on its own
    DYING = "dying"  # killed; waiting for the sentinel


class WorkerHandle:
    """The parent's handle on one worker process and its pipe.

    Sends take a per-worker lock: jobs are sent from callers' threads and the pool
    thread, replies from whichever thread answers a request.
    """

    def __init__(self, process: Any, conn: Connection, tag: str = "") -> None:
        self.process = process
        self.conn = conn
        self.tag = tag  # in the environment of everything it starts (see reaper)
        self.pid: int = process.pid
        self.sentinel: int = process.sentinel
        self.state = State.STARTING
        self.item: WorkItem | None = None  # the job it runs
        self.conn_open = True
        self.launched_at = time.monotonic()
        self._send_lock = threading.Lock()

    def exited(self) -> bool:
        """Whether the process has ended (not reaped: the sentinel's handler does that)."""
        try:
            return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return False

    @classmethod
    def launch(cls, name: str, main: Callable[[Connection, int], None]) -> WorkerHandle:
        """Start a process running ``main(conn, parent_pid)``. Call only from the pool's
        thread: the kernel ties the worker's death signal to the thread that forked it."""
        ctx = get_context("loky")
        _resource_trackers_running()  # (starting one lets SIGINT in again in this thread)
        block_interrupts()  # the worker starts with Ctrl-C held back (see worker.main)
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        env, tag = reaper.worker_environment(name)  # its processes can be found, always
        process = ctx.Process(target=main, args=(child_conn, os.getpid()), name=name, env=env)
        process.init_main_module = False  # never re-run the user's __main__ in a worker
        try:
            process.start()
        except BaseException:
            parent_conn.close()
            raise
        finally:
            child_conn.close()
        return cls(process, parent_conn, tag)

    @property
    def alive(self) -> bool:
        """Counts towards the pool's workers (not retiring or being killed)."""
        return self.state in (State.STARTING, State.IDLE, State.BUSY)

    def send(self, message: protocol.Message) -> bool:
        """Send; False if the worker is gone (its sentinel will tell the pool)."""
        data = protocol.encode(message)
        with self._send_lock:
            try:
                self.conn.send_bytes(data)
            except (OSError, ValueError):
                return False
        return True

    def kill(self) -> None:
        """Kill the worker and every process it started."""
        kill_tree(self.pid)

    def exitcode(self) -> int | None:
        """The exit code if the process has ended (non-blocking)."""
        code: int | None = self.process.exitcode
        return code

    def close(self) -> None:
        """Close the pipe; under the send lock so no other thread writes to a reused fd."""
        with self._send_lock:
            self.conn_open = False
            self.conn.close()

    def reap(self, timeout: float = 1.0) -> int | None:
        """Wait for the process to end (its sentinel fired) and close the pipe.

        loky's process objects cannot be ``close()``d; the sentinel fd is closed by a
        finalizer when this handle is dropped.
        """
        self.process.join(timeout)
        code: int | None = self.process.exitcode
        if code is None:
            kill_tree(self.pid)
            self.process.join(timeout)
            code = self.process.exitcode
        self.close()
        return code


# -- process trees ------------------------------------------------------------------------


def _tree(pid: int, *, with_root: bool = True) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        descendants: list[psutil.Process] = root.children(recursive=True)
    except psutil.Error:
        return []
    return [root, *descendants] if with_root else descendants


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (0 if it is gone)."""
    total = 0
    for proc in _tree(pid):
        with contextlib.suppress(psutil.Error):
            total += int(proc.memory_info().rss)
    return total


def kill_tree(pid: int, *, with_root: bool = True) -> None:
    """SIGKILL ``pid`` (unless ``with_root`` is false) and all its descendants.

    Everything is stopped (SIGSTOP) before anything is killed, so no process can fork a
    new child between the listing and the killing, and children are listed while their
    parent still exists (killed orphans are re-parented and could no longer be found).
    """
    stopped: dict[int, psutil.Process] = {}
    for _ in range(3):
        new = [proc for proc in _tree(pid, with_root=with_root) if proc.pid not in stopped]
        if not new:
            break
        for proc in new:
            with contextlib.suppress(psutil.Error):
                proc.suspend()
            stopped[proc.pid] = proc
    for proc in stopped.values():
        with contextlib.suppress(psutil.Error):
            proc.kill()


# -- inside a worker: its own descendants ----------------------------------------------------

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_END_DESCENDANTS_SECONDS = 5.0


def prctl(option: int, value: int) -> bool:
    """``prctl(option, value)`` on Linux; False where it is not available or fails."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(option, value, 0, 0, 0)) == 0
    except Exception:
        return False


def block_interrupts() -> None:
    """Hold SIGINT back in the calling thread (the pool's) and in every process it starts.

    A terminal's Ctrl-C reaches the whole process group, workers included; a worker still
    importing, before its own handler is in place, would die of it with a traceback. A
    blocked signal stays blocked across fork and exec, so a worker launched from a thread
    that blocks SIGINT gets a Ctrl-C only once it unblocks it (:func:`allow_interrupts`).
    The kernel hands process-wide signals to threads that do not block them: the main
    thread still gets the parent's own Ctrl-C.
    """
    if hasattr(signal, "pthread_sigmask") and threading.current_thread() is not (
        threading.main_thread()
    ):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def _resource_trackers_running() -> None:
    """loky starts its resource tracker and multiprocessing's with a worker's first
    launch; the latter unblocks SIGINT in the launching thread when it starts (its
    bpo-33613 mask, undone unconditionally). Started here first, they are left alone."""
    from multiprocessing import resource_tracker as multiprocessing_tracker

    from loky.backend import resource_tracker as loky_tracker

    loky_tracker.ensure_running()
    if os.name == "posix":
        multiprocessing_tracker.ensure_running()


def allow_interrupts() -> None:
    """Let SIGINT in again (a worker, once its handler is in place)."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def die_with_parent_thread(signal_number: int) -> bool:
    """Have the kernel send ``signal_number`` when the thread that forked us ends."""
    return prctl(_PR_SET_PDEATHSIG, signal_number)


def adopt_orphans() -> bool:
    """Become a child subreaper: orphaned descendants are re-parented to this process."""
    return prctl(_PR_SET_CHILD_SUBREAPER, 1)


def has_children() -> bool:
    """True while this process has a child, running or exited (one system call)."""
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


def end_descendants() -> None:
    """Kill and reap every descendant of this process, orphans it adopted included.

    Costs one system call when there are none. Killed processes' own orphans are adopted
    in turn (subreaper), so the round repeats until no child is left, for at most a few
    seconds (a process stuck in the kernel may not die at once).
    """
    if not has_children():
        return
    me = os.getpid()
    deadline = time.monotonic() + _END_DESCENDANTS_SECONDS
    while True:
        kill_tree(me, with_root=False)
        _reap_exited_children()
        if not has_children() or time.monotonic() >= deadline:
            return
        time.sleep(0.005)


def _reap_exited_children() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
