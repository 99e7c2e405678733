"""The pool's handle on one worker process: its socket, its state, and how it is woken.

A worker is forked by the pool's fork server (``zygote.py``), so it is the fork server's
child, not the pool's: the pool learns its pid and, later, its exit code from the fork
server. The pool's end of the worker's socket is read by one thread at a time: the thread
that runs a job with :meth:`WorkerPool.run` (the job's *reader*), or the pool thread for a
job submitted with :meth:`WorkerPool.submit`. A reader blocks in ``recv`` on the socket
alone; when the pool thread kills the worker (timeout, memory limit), learns that it died,
or the pool shuts down, it *interrupts* the reader: it sets ``ended`` and shuts the
socket's reading side, so the reader gets what the worker sent and then the end of the
stream.
"""

from __future__ import annotations

import enum
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
        "_send_lock",
        "channel",
        "closed",
        "ended",
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
        self.ended = threading.Event()  # the pool thread ended its job or saw it die
        self._send_lock = threading.Lock()
        self._fd_lock = threading.Lock()

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

    def interrupt(self) -> None:
        """Wake the job's reader (from the pool thread): its job ended, or the worker did."""
        self.ended.set()
        with self._fd_lock:
            if not self.closed:
                self.channel.stop_reading()

    # -- ending -----------------------------------------------------------------------------

    def kill(self) -> None:
        """Kill the worker and every process it started."""
        if self.pid:
            kill_tree(self.pid)

    def close(self) -> None:
        """Close its socket (once no thread reads it)."""
        with self._send_lock, self._fd_lock:
            if self.closed:
                return
            self.closed = True
            self.channel.close()

    def __repr__(self) -> str:
        return f"<worker {self.name} pid={self.pid} {self.state.value}>"
