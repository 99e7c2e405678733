"""A worker and every process it started: measuring that tree, and killing it.

A step's processes belong to it: they end with the step, and their memory counts against
it. Each worker is a child subreaper (``PR_SET_CHILD_SUBREAPER``, Linux): a process that
a step started and that was orphaned (a double fork) is re-parented to the worker rather
than to PID 1, so it stays in the worker's tree whatever session or process group it
moved to. That tree is what the parent measures for memory limits and kills at a timeout
or memory limit (:func:`kill_tree`), and what the worker kills itself when a job ends,
before it reports the outcome, and when it stops (:func:`end_descendants`). The fork server
that forks the workers is a subreaper too: what a worker that crashed mid-job (segfault,
``os._exit``, the kernel's OOM killer) had started is re-parented to it, and it kills
those orphans once it has reaped the worker. Subreapers rather than cgroups: they need no
privileges and no writable cgroup hierarchy, so they work on Lambda too. The pool's own
process is not made a subreaper: it would adopt the orphans of processes the user's own
code starts there.

psutil is imported on first use: a worker that never has to kill anything, and the pool's
process until it polices a job, do not pay for it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil


def _tree(pid: int, *, with_root: bool = True) -> list[psutil.Process]:
    import psutil

    try:
        root = psutil.Process(pid)
        descendants: list[psutil.Process] = root.children(recursive=True)
    except psutil.Error:
        return []
    return [root, *descendants] if with_root else descendants


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (0 if it is gone)."""
    import psutil

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
    import psutil

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


# -- inside a worker (or the fork server): its own descendants ----------------------------

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
        reap_exited_children()
        if not has_children() or time.monotonic() >= deadline:
            return
        time.sleep(0.005)


def reap_exited_children() -> list[tuple[int, int]]:
    """Reap every child that has exited: their (pid, exit code), a signal as its negative."""
    reaped: list[tuple[int, int]] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped.append((pid, os.waitstatus_to_exitcode(status)))
