"""Starting the pool's fork server, and asking it for workers (the pool's side of ``zygote.py``).

The fork server is started as loky starts a process -- a fresh interpreter, fork and exec,
with only its own socket inherited -- but through ``subprocess`` (vfork) rather than
loky's launcher: that launcher imports all of loky in the parent and starts two resource
trackers (loky's and multiprocessing's), extra interpreters that only matter for semaphores
and shared memory, which this pool never uses. The interpreter gets the pool's
``sys.path`` on its command line; the working directory and environment are inherited.

The pool thread starts its fork server: the fork server's death signal is tied to the
thread that started it, and that thread lives as long as the pool. One exception: while a
handler module is being imported on the main thread (``init_workers``), the fork server
is started right there, ahead of the pool (:func:`launch_ahead`), so it boots while the
rest of the module imports; the main thread lives as long as the process, and the pool
thread adopts that fork server when the pool starts (:func:`take_ahead`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
from typing import TYPE_CHECKING, Any

from durable_mp.workers import reaper

if TYPE_CHECKING:
    from collections.abc import Iterator

BOOTSTRAP = (
    "import sys; sys.path[:] = {path!r}; "
    "from durable_mp.workers.zygote import serve; serve({fd}, {parent})"
)


class Zygote:
    """The pool's handle on its fork server: its process and its control socket."""

    def __init__(self, process: subprocess.Popen[bytes], control: socket.socket) -> None:
        self.process = process
        self.control = control
        self.pid = process.pid
        self.ready = False

    @classmethod
    def launch(cls) -> Zygote:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            command = BOOTSTRAP.format(path=list(sys.path), fd=theirs.fileno(), parent=os.getpid())
            environment = {**os.environ, **reaper.process_environment()}
            with interrupts_held_back():
                process = subprocess.Popen(
                    [sys.executable, "-c", command], pass_fds=(theirs.fileno(),),
                    close_fds=True, env=environment,
                )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        return cls(process, ours)

    def fileno(self) -> int:
        return self.control.fileno()

    def request_worker(self, request_id: int) -> socket.socket:
        """Ask for a worker (answered by ``("forked", request_id, pid)``); the pool's end of
        the new worker's socket. OSError if the fork server is gone."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            cwd: str | None = os.getcwd()
        except OSError:
            cwd = None
        request = pickle.dumps(("fork", request_id, list(sys.path), cwd))
        try:
            socket.send_fds(self.control, [request], [theirs.fileno()])
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        return ours

    def receive(self) -> tuple[Any, ...] | None:
        """The next message from the fork server; None once it is gone."""
        try:
            data = self.control.recv(1 << 20)
        except ConnectionResetError:
            # It died with a request of ours unread: the kernel reports that first, but
            # what it sent before dying is still queued.
            try:
                data = self.control.recv(1 << 20, socket.MSG_DONTWAIT)
            except OSError:
                return None
        except OSError:
            return None
        if not data:
            return None
        message: tuple[Any, ...] = pickle.loads(data)
        return message

    def stop(self, timeout: float) -> int | None:
        """Close the control socket (the fork server kills what is left below it and exits)
        and wait for it; killed if it takes longer than ``timeout``. Its exit code."""
        with contextlib.suppress(OSError):
            self.control.close()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@contextlib.contextmanager
def interrupts_held_back() -> Iterator[None]:
    """Start processes with SIGINT blocked: a terminal's Ctrl-C reaches the whole process
    group, and an interpreter still importing (before its handler ignores SIGINT) would
    die of it with a KeyboardInterrupt traceback. A blocked signal stays blocked across
    fork and exec; the fork server unblocks it once it ignores SIGINT. A Ctrl-C meant for
    this thread meanwhile is only delayed until it is let in again."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


# -- a fork server started ahead of its pool ------------------------------------------------

_log = logging.getLogger("durable_mp.workers")
_ahead_lock = threading.Lock()
_ahead: tuple[int, Zygote] | None = None  # (the pid that started it, the fork server)


def launch_ahead() -> None:
    """Start the fork server of the pool about to be created, from the main thread."""
    global _ahead  # noqa: PLW0603 - one fork server waiting for its pool
    if threading.current_thread() is not threading.main_thread():
        return  # its death signal would follow a thread that may end first
    with _ahead_lock:
        if _ahead is not None:
            return
        try:
            _ahead = (os.getpid(), Zygote.launch())
        except OSError as error:  # the pool will try again, and report it
            _log.debug("could not start a fork server ahead of the pool: %r", error)


def take_ahead() -> Zygote | None:
    """The fork server started ahead, if this process started one and it still runs."""
    global _ahead
    with _ahead_lock:
        ahead, _ahead = _ahead, None
    if ahead is None:
        return None
    owner, zygote = ahead
    if owner != os.getpid():
        return None  # a forked child: the fork server is its parent's
    if zygote.process.poll() is not None:
        zygote.stop(0)
        return None
    return zygote


def discard_ahead() -> None:
    """Stop a fork server started ahead that no pool took."""
    zygote = take_ahead()
    if zygote is not None:
        zygote.stop(5.0)
