"""The pool's handle on one worker process: its socket, its state, and how it is woken.

A worker is forked by the pool's fork server (``zygote.py``), so it is the fork server's
child, not the pool's: the pool learns its pid and, later, its exit code from the fork
server. The pool's end of the worker's socket is read by one thread at a time: the thread
that runs a job with :meth:`WorkerPool.run` (the job's *reader*), or the pool thread for a
job submitted with :meth:`WorkerPool.submit`. A reader waits on the socket and on the
worker's *interrupt* pipe together, so the pool thread can wake it when it kills the
worker (timeout, memory limit) or learns that the worker died.
"""

from __future__ import annotations

import contextlib
import enum
import os
import select
import threading
import time
from typing import TYPE_CHECKING

from durable_mp.workers import protocol
from durable_mp.workers.channel import Channel
from durable_mp.workers.trees import kill_tree

if TYPE_CHECKING:
    import socket

    from durable_mp.workers.jobs import WorkItem


class State(enum.Enum):
    STARTING = "starting"  # asked of the fork server, not forked yet
    IDLE = "idle"
    BUSY = "busy"
    RETIRING = "retiring"  # told to stop; will exit on its own
    DYING = "dying"  # killed; waiting for the fork server to report its exit
    DEAD = "dead"  # its exit was reported


_INTERRUPT = b"!"


class WorkerHandle:
    """The pool's handle on one worker process.

    Sends take a per-worker lock: jobs are sent from callers' threads and the pool
    thread, replies from whichever thread answers a request. ``item`` is the job it runs
    (under the pool's lock); ``reader`` is the job whose caller reads this worker's socket
    right now (``run``), so its file descriptors are closed only once that caller has let
    go of them.
    """

    __slots__ = (
        "_fd_lock",
        "_interrupt_r",
        "_interrupt_w",
        "_poller",
        "_send_lock",
        "channel",
        "closed",
        "exitcode",
        "item",
        "launched_at",
        "name",
        "pid",
        "reader",
        "request_id",
        "state",
        "watched",
    )

    def __init__(self, name: str, request_id: int, sock: socket.socket) -> None:
        self.name = name
        self.request_id = request_id
        self.channel = Channel(sock)
        self.pid = 0  # known once forked
        self.state = State.STARTING
        self.item: WorkItem | None = None
        self.reader: WorkItem | None = None
        self.exitcode: int | None = None
        self.watched = False  # the pool thread's selector watches the socket
        self.closed = False
        self.launched_at = time.monotonic()
        self._send_lock = threading.Lock()
        self._fd_lock = threading.Lock()
        self._interrupt_r, self._interrupt_w = os.pipe()
        os.set_blocking(self._interrupt_w, False)
        self._poller = select.poll()
        self._poller.register(self.channel.fileno(), select.POLLIN)
        self._poller.register(self._interrupt_r, select.POLLIN)

    @property
    def alive(self) -> bool:
        """Counts towards the pool's workers (not retiring, being killed or gone)."""
        return self.state in (State.STARTING, State.IDLE, State.BUSY)

    def send(self, message: protocol.Message) -> bool:
        """Send; False if the worker is gone (the fork server will report its exit)."""
        parts = protocol.parts(message)
        with self._send_lock:
            if self.closed:
                return False
            try:
                self.channel.send(parts)
            except (OSError, ValueError):
                return False
        return True

    # -- for the job's reader -------------------------------------------------------------

    def wait(self, timeout: float | None = None) -> bool | None:
        """Block until a frame can be read (True) or the pool thread interrupts (False);
        None if ``timeout`` (seconds) passed first."""
        ready = self._poller.poll(None if timeout is None else int(timeout * 1000))
        if not ready:
            return None
        return all(fd != self._interrupt_r for fd, _ in ready)

    def wait_interrupt(self, timeout: float) -> bool:
        """After the socket's end: wait for the pool thread's word (True) or time out."""
        poller = select.poll()
        poller.register(self._interrupt_r, select.POLLIN)
        return bool(poller.poll(int(timeout * 1000)))

    def interrupt(self) -> None:
        """Wake the job's reader (from the pool thread)."""
        with self._fd_lock:
            if not self.closed:
                with contextlib.suppress(OSError):
                    os.write(self._interrupt_w, _INTERRUPT)

    # -- ending -----------------------------------------------------------------------------

    def kill(self) -> None:
        """Kill the worker and every process it started."""
        if self.pid:
            kill_tree(self.pid)

    def close(self) -> None:
        """Close its file descriptors (once no thread waits on them)."""
        with self._send_lock, self._fd_lock:
            if self.closed:
                return
            self.closed = True
            self.channel.close()
            for fd in (self._interrupt_r, self._interrupt_w):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def __repr__(self) -> str:
        return f"<worker {self.name} pid={self.pid} {self.state.value}>"
