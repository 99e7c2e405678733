"""A step's processes end with the step: plain children, children in their own session,
and double-forked orphans, whether the step returns, raises, times out or goes over its
memory limit, and when the pool (the run) ends."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING, Any

import pytest

from durable_mp.exceptions import StepMemoryLimitError, StepTimeoutError
from durable_mp.workers import WorkerPool

from . import descendants
from .helpers import eventually, gone, run

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.timeout(120)


def ran(pool: WorkerPool, fn: Any, *args: Any, **options: Any) -> tuple[Any, int]:
    """Run ``fn``; its outcome and the pid of the process it started."""
    seen: list[int] = []
    outcome = run(pool, fn, *args, on_message=seen.append, **options)
    assert len(seen) == 1, (seen, outcome.error)
    return outcome, seen[0]


@pytest.mark.parametrize("shape", descendants.SHAPES)
def test_a_step_that_returns_leaves_nothing_behind(pool: WorkerPool, shape: str) -> None:
    outcome, pid = ran(pool, descendants.start_and_return, shape)
    assert outcome.value == pid
    assert gone(pid)  # already when the outcome arrives


@pytest.mark.parametrize("shape", descendants.SHAPES)
def test_a_step_that_raises_leaves_nothing_behind(pool: WorkerPool, shape: str) -> None:
    outcome, pid = ran(pool, descendants.start_and_raise, shape)
    assert isinstance(outcome.error, RuntimeError)
    assert gone(pid)


@pytest.mark.parametrize("shape", descendants.SHAPES)
def test_a_step_killed_at_its_timeout_leaves_nothing_behind(pool: WorkerPool, shape: str) -> None:
    outcome, pid = ran(pool, descendants.start_and_sleep, shape, timeout=1.5)
    assert isinstance(outcome.error, StepTimeoutError)
    assert eventually(lambda: gone(pid), timeout=10)


@pytest.mark.parametrize("shape", descendants.SHAPES)
def test_a_step_over_its_memory_limit_leaves_nothing_behind(pool: WorkerPool, shape: str) -> None:
    outcome, pid = ran(pool, descendants.start_and_hog, shape, memory_limit_mb=150)
    assert isinstance(outcome.error, StepMemoryLimitError)
    assert eventually(lambda: gone(pid), timeout=10)


@pytest.mark.parametrize("shape", descendants.SHAPES)
def test_processes_a_step_starts_after_it_returned_end_with_the_pool(
    tmp_path: Path, shape: str
) -> None:
    pid_file = tmp_path / "pid"
    pool = WorkerPool(1)
    try:
        outcome = run(pool, descendants.start_later_from_a_thread, shape, 0.3, str(pid_file))
        assert outcome.value == "returned"
        assert eventually(lambda: pid_file.exists() and pid_file.read_text() != "")
        pid = int(pid_file.read_text())
        assert not gone(pid)  # the step is over, but the pool still runs
    finally:
        pool.shutdown(timeout=5)
    assert gone(pid)


# -- the end of a run, seen by a caller that reads its output through a pipe ---------------

START = textwrap.dedent(
    """
    import os
    import subprocess

    SLEEP = ["sleep", "600"]

    def start(shape):
        if shape == "popen":
            return subprocess.Popen(SLEEP).pid
        if shape == "new-session":
            return subprocess.Popen(SLEEP, start_new_session=True).pid
        read, write = os.pipe()
        middle = os.fork()
        if middle == 0:
            os.setsid()
            grandchild = os.fork()
            if grandchild == 0:
                os.execvp(SLEEP[0], SLEEP)
            os.write(write, str(grandchild).encode())
            os._exit(0)
        os.close(write)
        os.waitpid(middle, 0)
        with os.fdopen(read) as pipe:
            return int(pipe.read())
    """
)

HANDLER = START + textwrap.dedent(
    """
    from durable_mp import durable_execution

    @durable_execution
    def handler(event, ctx):
        return {
            shape: ctx.step(lambda _, shape=shape: start(shape), name=shape)
            for shape in ("popen", "new-session", "double-fork")
        }
    """
)

SCRIPT = START + textwrap.dedent(
    """
    import sys
    import time
    import cloudpickle
    from durable_mp.workers import Job, WorkerPool, send_to_parent

    def step():
        for shape in ("popen", "new-session", "double-fork"):
            send_to_parent(start(shape))
        time.sleep(600)

    if __name__ == "__main__":
        pids = []
        pool = WorkerPool(1)
        pool.submit(Job(cloudpickle.dumps((step, ())), "step 'busy'", on_message=pids.append))
        while len(pids) < 3:
            time.sleep(0.05)
        print(" ".join(map(str, pids)), flush=True)
        sys.exit(0)  # the step still runs; the pool is shut down at exit
    """
)


def read_through_pipes(command: list[str], cwd: Path) -> tuple[int, str, str]:
    process = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = process.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(
            "the run's pipes stayed open for 90 s: a process it started still holds them "
            f"(run exited with {process.returncode})"
        )
    return process.returncode, out, err


def test_a_durable_mp_run_read_through_a_pipe_leaves_nothing_behind(tmp_path: Path) -> None:
    (tmp_path / "starts.py").write_text(HANDLER)
    command = [sys.executable, "-m", "durable_mp", "run", "starts.py:handler", "--json"]
    command += ["--store", str(tmp_path / "store.db")]
    code, out, err = read_through_pipes(command, tmp_path)
    assert code == 0, err
    output = json.loads(out.strip().splitlines()[-1])
    assert output["Status"] == "SUCCEEDED", output
    pids = json.loads(output["Result"])
    assert sorted(pids) == ["double-fork", "new-session", "popen"]
    assert all(gone(pid) for pid in pids.values()), pids


def test_a_script_that_exits_while_a_step_runs_leaves_nothing_behind(tmp_path: Path) -> None:
    (tmp_path / "busy.py").write_text(SCRIPT)
    code, out, err = read_through_pipes([sys.executable, "busy.py"], tmp_path)
    assert code == 0, err
    pids = [int(pid) for pid in out.split()]
    assert len(pids) == 3
    assert all(gone(pid) for pid in pids), pids
