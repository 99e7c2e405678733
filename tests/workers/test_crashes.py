from __future__ import annotations

import ctypes
import os
import signal
import time
from typing import TYPE_CHECKING

import pytest

from durable_mp.exceptions import WorkerCrashedError

from .helpers import eventually, gone, job, run, start

if TYPE_CHECKING:
    from durable_mp.workers import WorkerPool

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("both_readers")]


def exit_3() -> None:
    os._exit(3)


def sigkill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(10)


def segfault() -> None:
    ctypes.string_at(0)


def neighbour() -> str:
    time.sleep(0.6)
    return "fine"


@pytest.mark.parametrize(
    ("body", "exitcode", "text"),
    [
        (exit_3, 3, "exited with code 3"),
        (sigkill_self, -signal.SIGKILL, "killed by signal SIGKILL (killed)"),
        (segfault, -signal.SIGSEGV, "killed by signal SIGSEGV (segmentation fault)"),
    ],
)
def test_crash_fails_only_that_job(pool: WorkerPool, body: object, exitcode: int, text: str) -> None:
    assert eventually(lambda: len(pool.worker_pids()) == 2)
    steady = start(pool, job(neighbour, label="step 'steady' (operation 1)"))
    crash = start(pool, job(body, label="step 'crash' (operation 2)"))  # type: ignore[arg-type]

    crashed = crash.result(timeout=20)
    assert not crashed.ok
    assert isinstance(crashed.error, WorkerCrashedError)
    assert crashed.error.exitcode == exitcode
    message = str(crashed.error)
    assert message.startswith("step 'crash' (operation 2) crashed its worker process (pid ")
    assert text in message

    survivor = steady.result(timeout=20)
    assert survivor.ok and survivor.value == "fine"

    assert pool.size == 2
    assert eventually(lambda: len(pool.worker_pids()) == 2)
    results = [start(pool, job(os.getpid)) for _ in range(4)]
    assert all(f.result(timeout=20).ok for f in results)


def test_crashed_worker_is_replaced_with_a_new_process(pool: WorkerPool) -> None:
    before = set(pool.worker_pids())
    result = run(pool, exit_3)
    assert isinstance(result.error, WorkerCrashedError)
    dead = str(result.error).split("(pid ")[1].split(")")[0]
    assert int(dead) in before
    assert eventually(lambda: gone(int(dead)))
    assert eventually(lambda: len(pool.worker_pids()) == 2)
    assert int(dead) not in pool.worker_pids()


def fork_then_exit() -> None:
    """The forked grandchild inherits the fds the parent watches to see the worker end."""
    if os.fork() == 0:
        time.sleep(4)
        os._exit(0)
    os._exit(7)


def test_death_is_seen_while_a_forked_grandchild_holds_the_pipes(pool: WorkerPool) -> None:
    result = start(pool, job(fork_then_exit)).result(timeout=3)  # not after the grandchild
    assert isinstance(result.error, WorkerCrashedError)
    assert result.error.exitcode == 7


def test_idle_worker_killed_from_outside_is_replaced(pool: WorkerPool) -> None:
    assert eventually(lambda: len(pool.worker_pids()) == 2)
    assert all(f.result(timeout=20).ok for f in [start(pool, job(os.getpid)) for _ in range(2)])
    victim = pool.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    assert eventually(lambda: victim not in pool.worker_pids() and len(pool.worker_pids()) == 2)
    assert run(pool, os.getpid).value != victim
