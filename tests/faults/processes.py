"""Finding a run's processes, whatever became of their parents.

Every process of a run under test carries a tag in its environment
(:data:`TAG_ENV`): the run itself, its workers, and everything a step started, in its own
session or double-forked, since children inherit the environment. Scanning ``/proc`` for
the tag finds them all, however they were re-parented.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass

import psutil

TAG_ENV = "FAULT_CAMPAIGN_TAG"


def new_tag() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Survivor:
    pid: int
    command: str
    session: int  # its session id: another one than the run's escaped a process-group kill

    def __str__(self) -> str:
        return f"pid {self.pid} (session {self.session}): {self.command}"


def tagged(tag: str) -> list[psutil.Process]:
    """Running processes (zombies excluded) whose environment carries ``tag``."""
    found = []
    me = os.getpid()
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        try:
            if proc.environ().get(TAG_ENV) != tag or proc.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.Error:
            continue
        found.append(proc)
    return found


def survivors(tag: str, grace: float = 2.0) -> list[Survivor]:
    """The tagged processes still running after ``grace`` seconds (dying ones get that
    long: a worker notices its parent's death within a fraction of a second)."""
    deadline = time.monotonic() + grace
    while True:
        alive = tagged(tag)
        if not alive or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    return [_describe(proc) for proc in alive]


def kill_all(tag: str) -> None:
    """Clean up after a measurement: SIGKILL whatever still carries ``tag``."""
    for proc in tagged(tag):
        try:
            proc.kill()
        except psutil.Error:
            pass


def _describe(proc: psutil.Process) -> Survivor:
    try:
        command = " ".join(proc.cmdline()) or proc.name()
        session = os.getsid(proc.pid)
    except (psutil.Error, OSError):
        command, session = "?", -1
    return Survivor(proc.pid, command, session)
