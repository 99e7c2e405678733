"""Step bodies that leave processes behind, in the three shapes a step may start them
(importable by the workers)."""

from __future__ import annotations

import os
import subprocess
import threading
import time

from durable_mp.workers import send_to_parent

SHAPES = ("popen", "new-session", "double-fork")
SLEEP = ["sleep", "600"]


def start(shape: str) -> int:
    """Start a process that sleeps for ten minutes; its pid."""
    if shape == "popen":
        return subprocess.Popen(SLEEP).pid
    if shape == "new-session":
        return subprocess.Popen(SLEEP, start_new_session=True).pid
    if shape == "double-fork":  # the classic daemon: fork, setsid, fork, the middle exits
        read, write = os.pipe()
        middle = os.fork()
        if middle == 0:
            os.close(read)
            os.setsid()
            grandchild = os.fork()
            if grandchild == 0:
                os.execvp(SLEEP[0], SLEEP)
            os.write(write, str(grandchild).encode())
            os._exit(0)
        os.close(write)
        os.waitpid(middle, 0)  # the sleeper is an orphan now
        with os.fdopen(read) as pipe:
            return int(pipe.read())
    raise ValueError(shape)


def start_and_return(shape: str) -> int:
    pid = start(shape)
    send_to_parent(pid)
    return pid


def start_and_raise(shape: str) -> None:
    send_to_parent(start(shape))
    raise RuntimeError("the step failed after starting a process")


def start_and_sleep(shape: str) -> None:
    send_to_parent(start(shape))
    time.sleep(600)


def start_and_hog(shape: str) -> None:
    send_to_parent(start(shape))
    block = b"x" * (300 * 1024 * 1024)  # written, so resident
    time.sleep(600)
    del block


def start_later_from_a_thread(shape: str, delay: float, pid_file: str) -> str:
    """Leave a thread behind that starts a process after the step has returned."""

    def later() -> None:
        time.sleep(delay)
        pid = start(shape)
        with open(pid_file, "w") as out:
            out.write(str(pid))

    threading.Thread(target=later).start()
    return "returned"


def start_all_and_crash() -> None:
    """Start one process of each shape, then die without cleaning up."""
    for shape in SHAPES:
        send_to_parent(start(shape))
    time.sleep(0.2)  # the messages reach the parent first
    os._exit(3)
