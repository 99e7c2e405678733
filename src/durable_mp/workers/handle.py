"""The parent's handle on one worker process: start it, send to it, kill it, reap it."""

from __future__ import annotations

import enum
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from loky.backend.context import get_context

from durable_mp.workers import protocol, tree, worker_main

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from durable_mp.workers.task import Task


class State(enum.Enum):
    STARTING = "starting"  # launched, has not said "ready" yet
    IDLE = "idle"
    BUSY = "busy"
    RETIRING = "retiring"  # told to stop; will exit on its own
    DYING = "dying"  # killed; waiting for the sentinel


class WorkerHandle:
    """One worker process and its pipe.

    Sends take a per-worker lock: jobs are sent from callers' threads and the pool
    thread, replies from whichever thread answers a request.
    """

    def __init__(self, process: Any, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.pid: int = process.pid
        self.sentinel: int = process.sentinel
        self.state = State.STARTING
        self.task: Task | None = None
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
    def launch(cls, name: str) -> WorkerHandle:
        """Start a worker. Call only from the pool's thread: the kernel ties the worker's
        death signal to the thread that forked it."""
        ctx = get_context("loky")
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        process = ctx.Process(
            target=worker_main.main, args=(child_conn, os.getpid()), name=name
        )
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
        tree.kill_tree(self.pid)

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
            tree.kill_tree(self.pid)
            self.process.join(timeout)
            code = self.process.exitcode
        self.close()
        return code
