"""Memory and killing for a worker together with every process it started.

A step may start its own processes; a timeout or a memory limit must take them down too,
and their memory counts against the step.
"""

from __future__ import annotations

import contextlib

import psutil


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
