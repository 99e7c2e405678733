"""Worker processes as the operating system sees them: how many, starting one, and
measuring and killing it together with every process it started.

``os.cpu_count()`` lies inside containers: it ignores CPU affinity and cgroup quotas.
loky's ``cpu_count`` honours both. On Lambda the cgroup may still show more CPUs than the
function's memory setting pays for, so the count is also capped by the memory size.

A step may start its own processes; a timeout or a memory limit must take them down too,
and their memory counts against the step.
"""

from __future__ import annotations

import contextlib
import enum
import math
import os
import threading
import time
from typing import TYPE_CHECKING, Any

import loky
import psutil
from loky.backend.context import get_context

from durable_mp.workers import protocol

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

    def __init__(self, process: Any, conn: Connection) -> None:
        self.process = process
        self.conn = conn
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
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        process = ctx.Process(target=main, args=(child_conn, os.getpid()), name=name)
        process.init_main_module = False  # never re-run the user's __main__ in a worker
        try:
            process.start()
        except BaseException:
            parent_conn.close()
            raise
        finally:
            child_conn.close()
        return cls(process, parent_conn)

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


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (0 if it is gone)."""
    total = 0
    for proc in _tree(pid):
        with contextlib.suppress(psutil.Error):
            total += int(proc.memory_info().rss)
    return total


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and all its descendants.

    Everything is stopped (SIGSTOP) before anything is killed, so no process can fork a
    new child between the listing and the killing, and children are listed while their
    parent still exists (killed orphans are re-parented and could no longer be found).
    """
    stopped: dict[int, psutil.Process] = {}
    for _ in range(3):
        new = [proc for proc in _tree(pid) if proc.pid not in stopped]
        if not new:
            break
        for proc in new:
            with contextlib.suppress(psutil.Error):
                proc.suspend()
            stopped[proc.pid] = proc
    for proc in stopped.values():
        with contextlib.suppress(psutil.Error):
            proc.kill()
