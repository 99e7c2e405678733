from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest

from durable_mp.exceptions import StepMemoryLimitError, StepTimeoutError
from durable_mp.workers import WorkerPool, send_to_parent

from .helpers import eventually, gone, run

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("both_readers")]


def sleep_then(seconds: float) -> str:
    time.sleep(seconds)
    return "woke"


def spawn_grandchild_and_sleep() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    send_to_parent(("grandchild", child.pid, os.getpid()))
    time.sleep(60)


def hog_memory(megabytes: int) -> int:
    block = b"x" * (megabytes * 1024 * 1024)  # written, so resident
    time.sleep(30)
    return len(block)


def test_timeout_kills_a_sleeping_job(pool: WorkerPool) -> None:
    started = time.monotonic()
    result = run(pool, sleep_then, 30, label="step 'slow' (operation 3)", timeout=0.5)
    assert time.monotonic() - started < 10
    assert isinstance(result.error, StepTimeoutError)
    message = str(result.error)
    assert message.startswith("step 'slow' (operation 3) ran longer than its timeout of 0.5 s;")
    assert "its worker process (pid " in message and "and its children were killed" in message
    assert eventually(lambda: len(pool.worker_pids()) == 2)
    assert run(pool, sleep_then, 0).value == "woke"


def test_timeout_kills_the_grandchild_too(pool: WorkerPool) -> None:
    seen: list[Any] = []
    result = run(pool, spawn_grandchild_and_sleep, timeout=2.0, on_message=seen.append)
    assert isinstance(result.error, StepTimeoutError)
    assert len(seen) == 1
    _, grandchild, worker = seen[0]
    assert eventually(lambda: gone(grandchild), timeout=5)
    assert eventually(lambda: gone(worker), timeout=5)


def test_job_within_its_timeout_succeeds(pool: WorkerPool) -> None:
    assert run(pool, sleep_then, 0.05, timeout=10).value == "woke"


def test_memory_limit_kills_a_hog(pool: WorkerPool) -> None:
    result = run(
        pool, hog_memory, 300, label="step 'hog' (operation 4)", memory_limit_mb=100
    )
    assert isinstance(result.error, StepMemoryLimitError)
    message = str(result.error)
    assert message.startswith("step 'hog' (operation 4) used ")
    assert "MB of resident memory, above memory_limit_mb=100;" in message
    assert "its worker process tree was killed" in message
    assert eventually(lambda: len(pool.worker_pids()) == 2)
    assert run(pool, sleep_then, 0, memory_limit_mb=500).value == "woke"
