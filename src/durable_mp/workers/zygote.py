"""The fork server ("zygote"): one pre-imported, single-threaded process that forks workers.

A fresh interpreter needs ~100 ms and more before it has imported what a worker needs; a
fork of a process that already has costs a millisecond or two, and the two share those
pages until one writes to them. So each pool starts one fork server, a fresh interpreter
(``launcher.py``: fork and exec, so nothing of the pool's process -- its threads, its
locks, its open files -- is inherited), which imports :data:`PRELOAD`, moves what it
imported out of the garbage collector's reach (``gc.freeze``: a worker's collections then
never write to the pages it shares), and then only forks. It never starts a thread, so forking it is
safe. No semaphore and no shared memory: one socket to the pool, one per worker.

Messages on the control socket (``SOCK_SEQPACKET``, one pickled tuple of plain data each)::

  pool → server   ("fork", request_id, sys_path, cwd) + the worker's socket (SCM_RIGHTS)
  server → pool   ("ready", seconds_to_boot)                 imports done
                  ("forked", request_id, pid)
                  ("fork-failed", request_id, reason)
                  ("exited", pid, exit code)                  a worker ended (reaped here)
                  ("failed", reason)                          the imports failed; it exits

Each worker gets the pool's current ``sys.path`` and working directory with its fork, so a
path the handler added after the fork server started is seen by the workers it forks.

Who dies with whom. The fork server dies with the pool thread that started it
(``PR_SET_PDEATHSIG`` with SIGTERM), or when its control socket closes, or -- where there is
no death signal -- when its parent changes (checked every second); on the way out it kills
every process below it. Each worker dies with the fork server (``PR_SET_PDEATHSIG`` with
SIGKILL, and its watchdog). The fork server is a child subreaper: what a worker that
crashed mid-job had started is re-parented to it, and it kills those orphans once it has
reaped the worker.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import pickle
import select
import signal
import socket
import sys
import time
import traceback
from typing import Any

# What every worker needs before its first job: its loop, and what a step's call unpickles
# to. (psutil is left out: a worker imports it only if it has processes to kill.)
PRELOAD = ("cloudpickle", "durable_mp.workers.worker", "durable_mp.engine.step_body")
# More modules for every worker, comma-separated: the fork server imports them once, its
# workers share their pages. Modules that start threads when imported do not belong here.
PRELOAD_ENV = "DURABLE_MP_WORKER_PRELOAD"
# Imported once the fork server has nothing to do: what it needs to kill orphans, and what
# a worker needs only if its job leaves processes behind.
IDLE_PRELOAD = ("psutil",)
_PARENT_CHECK_MS = 1000


def serve(control_fd: int, parent_pid: int) -> None:
    """The fork server's life (the bootstrap command calls this)."""
    from durable_mp.workers.trees import adopt_orphans, die_with_parent_thread

    started = time.monotonic()
    control = socket.socket(fileno=control_fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; the pool decides
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # started with it held back
    signal.signal(signal.SIGTERM, _exit_quietly)
    die_with_parent_thread(signal.SIGTERM)
    if os.getppid() != parent_pid:  # the pool died before the death signal was set up
        return
    adopt_orphans()
    gc.disable()  # nothing to collect while importing; what is imported stays for good
    extra = [name.strip() for name in os.environ.get(PRELOAD_ENV, "").split(",")]
    try:
        for name in [*PRELOAD, *filter(None, extra)]:
            importlib.import_module(name)
    except Exception as exc:
        reason = "".join(traceback.format_exception_only(exc)).strip()
        with contextlib.suppress(OSError):  # silent if the pool is already gone
            _tell(control, ("failed", reason))
            traceback.print_exc()
        raise SystemExit(1) from None
    gc.freeze()
    gc.enable()
    try:
        _tell(control, ("ready", time.monotonic() - started))
    except OSError:
        return  # the pool went away while this process booted (a short-lived program)
    _Server(control, parent_pid).loop()


def _exit_quietly(signum: int, frame: object) -> None:
    """SIGTERM while booting: nothing below this process yet, so nothing to end. Not an
    exception: the signal may land where Python only prints what is raised (a ``__del__``,
    a callback), on the stderr the user reads."""
    os._exit(0)


def _tell(control: socket.socket, message: tuple[Any, ...]) -> None:
    control.send(pickle.dumps(message))


class _Server:
    def __init__(self, control: socket.socket, parent_pid: int) -> None:
        self.control = control
        self.parent_pid = parent_pid
        self.pid = os.getpid()
        self.workers: set[int] = set()
        self.idle_imports = list(IDLE_PRELOAD)
        self.terminated = False  # SIGTERM: end what is below this process, then exit
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)

    def loop(self) -> None:
        signal.signal(signal.SIGCHLD, _on_child)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        poller = select.poll()
        poller.register(self.control, select.POLLIN)
        poller.register(self.wake_r, select.POLLIN)
        try:
            while True:
                ready = poller.poll(0 if self.idle_imports else _PARENT_CHECK_MS)
                if not ready and self.idle_imports:
                    with contextlib.suppress(ImportError):
                        importlib.import_module(self.idle_imports.pop(0))
                for fd, _ in ready:
                    if fd == self.wake_r:
                        with contextlib.suppress(OSError):
                            while os.read(self.wake_r, 512):
                                pass
                    elif not self._serve_request():
                        return  # the pool closed its end
                self._reap()
                if self.terminated or os.getppid() != self.parent_pid:
                    return
        except (BrokenPipeError, ConnectionError):
            return  # the pool is gone
        finally:
            self._end_everything()

    def _on_term(self, signum: int, frame: object) -> None:
        self.terminated = True  # the wake-up fd wakes the loop, which ends everything

    def _serve_request(self) -> bool:
        message, fds, _, _ = socket.recv_fds(self.control, 1 << 20, 1)
        if not message:
            for fd in fds:
                os.close(fd)
            return False
        _, request_id, sys_path, cwd = pickle.loads(message)
        if len(fds) != 1:
            for fd in fds:
                os.close(fd)
            _tell(self.control, ("fork-failed", request_id, "no socket came with the request"))
            return True
        try:
            pid = os.fork()
        except OSError as exc:
            os.close(fds[0])
            _tell(self.control, ("fork-failed", request_id, repr(exc)))
            return True
        if pid == 0:
            self._become_worker(fds[0], sys_path, cwd)  # never returns
        os.close(fds[0])
        self.workers.add(pid)
        _tell(self.control, ("forked", request_id, pid))
        return True

    def _become_worker(self, fd: int, sys_path: list[str], cwd: str | None) -> None:
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            for signum in (signal.SIGCHLD, signal.SIGTERM):
                signal.signal(signum, signal.SIG_DFL)
            os.close(self.wake_r)
            os.close(self.wake_w)
            self.control.close()
            sys.path[:] = sys_path
            if cwd is not None:
                with contextlib.suppress(OSError):
                    os.chdir(cwd)
            from durable_mp.workers.worker import main

            main(socket.socket(fileno=fd), self.pid)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(code)

    def _reap(self) -> None:
        from durable_mp.workers.trees import reap_exited_children

        reaped = reap_exited_children()
        for pid, code in reaped:
            if pid in self.workers:
                self.workers.discard(pid)
                _tell(self.control, ("exited", pid, code))
        if reaped:
            self._end_orphans()

    def _end_orphans(self) -> None:
        """Kill what crashed workers left behind: every child that is not a worker."""
        children = self._children()
        if children is not None and children <= self.workers:
            return
        import psutil

        from durable_mp.workers.trees import kill_tree

        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.pid).children():
                if child.pid not in self.workers:
                    kill_tree(child.pid)

    def _children(self) -> set[int] | None:
        """This (single-threaded) process's children, from /proc; None if unreadable."""
        try:
            with open(f"/proc/self/task/{self.pid}/children") as listing:
                return {int(pid) for pid in listing.read().split()}
        except (OSError, ValueError):
            return None

    def _end_everything(self) -> None:
        from durable_mp.workers.trees import end_descendants

        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with contextlib.suppress(Exception):
            end_descendants()


def _on_child(signum: int, frame: object) -> None:
    pass  # the wake-up fd has already woken the loop
