"""A parent killed with SIGKILL while a step runs leaves nothing behind: not its workers,
and not what the step started -- a plain child, one in its own session, a double-forked
orphan -- whether the parent alone is killed (the workers die with it, their children
are orphaned) or its whole process group (children in another session escape a group
kill). The pool's reaper, a small process in a session of its own, ends them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

from .helpers import eventually, gone

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.timeout(120)

SCRIPT = textwrap.dedent(
    """
    import os
    import sys
    import time

    import cloudpickle

    sys.path.insert(0, sys.argv[1])
    import descendants
    from durable_mp.workers import Job, WorkerPool, send_to_parent

    def step():
        for shape in descendants.SHAPES:
            send_to_parent(descendants.start(shape))
        time.sleep(600)

    if __name__ == "__main__":
        pids = []
        pool = WorkerPool(1)
        pool.submit(Job(cloudpickle.dumps((step, ())), "step 'busy'", on_message=pids.append))
        while len(pids) < 3:
            time.sleep(0.02)
        print(" ".join(map(str, [*pool.worker_pids(), *pids])), flush=True)
        time.sleep(600)  # killed here
    """
)


@pytest.mark.parametrize("what", ["parent", "process-group"])
def test_a_killed_parent_leaves_nothing_behind(tmp_path: Path, what: str) -> None:
    script = tmp_path / "busy.py"
    script.write_text(SCRIPT)
    here = os.path.dirname(__file__)
    parent = subprocess.Popen(
        [sys.executable, str(script), here], stdout=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    assert parent.stdout is not None
    line = parent.stdout.readline()
    assert line, f"the script failed ({parent.wait()})"
    worker, *started = (int(pid) for pid in line.split())
    assert len(started) == 3 and not any(gone(pid) for pid in [worker, *started])
    if what == "parent":
        parent.send_signal(signal.SIGKILL)
    else:
        os.killpg(parent.pid, signal.SIGKILL)
    parent.wait(10)
    alive = [pid for pid in [worker, *started] if not eventually(lambda pid=pid: gone(pid), 5)]
    for pid in alive:  # do not leave them to the next test
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"still running 5 s after the kill: {alive} (worker {worker})"


QUIET = textwrap.dedent(
    """
    from durable_mp.workers import WorkerPool, reaper

    pool = WorkerPool(1)
    print(reaper.reaper_pid(), flush=True)
    pool.shutdown()
    """
)


def test_the_reaper_ends_with_its_parent(tmp_path: Path) -> None:
    script = tmp_path / "quiet.py"
    script.write_text(QUIET)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout)
    assert eventually(lambda: gone(pid), 5), "the reaper outlived its parent"


@pytest.mark.parametrize(
    "variable", [("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"), ("DURABLE_MP_REAPER", "0")]
)
def test_no_reaper_in_a_lambda_runtime_or_when_turned_off(
    tmp_path: Path, variable: tuple[str, str]
) -> None:
    """Lambda (and durable-mp serve's sandboxes) end a sandbox's processes together."""
    script = tmp_path / "quiet.py"
    script.write_text(QUIET)
    env = {**os.environ, variable[0]: variable[1]}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"


NESTED = textwrap.dedent(
    """
    import sys
    import time

    import cloudpickle

    sys.path.insert(0, sys.argv[1])
    import descendants
    from durable_mp.workers import Job, WorkerPool, send_to_parent

    def inner():
        send_to_parent(descendants.start("new-session"))
        time.sleep(600)

    def outer():
        pool = WorkerPool(1)  # a pool inside a step: its own reaper, inside ours
        pool.submit(Job(cloudpickle.dumps((inner, ())), "inner", on_message=send_to_parent))
        send_to_parent(pool.worker_pids()[0])
        time.sleep(600)

    if __name__ == "__main__":
        pids = []
        pool = WorkerPool(1)
        pool.submit(Job(cloudpickle.dumps((outer, ())), "outer", on_message=pids.append))
        while len(pids) < 2:
            time.sleep(0.02)
        print(" ".join(map(str, pids)), flush=True)
        time.sleep(600)
    """
)


def test_a_pool_inside_a_step_is_swept_too(tmp_path: Path) -> None:
    script = tmp_path / "nested.py"
    script.write_text(NESTED)
    parent = subprocess.Popen(
        [sys.executable, str(script), os.path.dirname(__file__)], stdout=subprocess.PIPE,
        text=True, start_new_session=True,
    )
    assert parent.stdout is not None
    line = parent.stdout.readline()
    assert line, f"the script failed ({parent.wait()})"
    pids = [int(pid) for pid in line.split()]
    os.killpg(parent.pid, signal.SIGKILL)
    parent.wait(10)
    alive = [pid for pid in pids if not eventually(lambda pid=pid: gone(pid), 5)]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"still running 5 s after the kill: {alive}"


def test_what_a_crashed_step_started_ends_with_the_crash() -> None:
    """A worker that dies mid-step (os._exit, a segfault) cannot clean up after itself;
    the pool's fork server, which adopts what it had started, ends it."""
    from durable_mp.exceptions import WorkerCrashedError
    from durable_mp.workers import WorkerPool

    from . import descendants
    from .helpers import run

    pool = WorkerPool(1)
    try:
        seen: list[int] = []
        outcome = run(pool, descendants.start_all_and_crash, on_message=seen.append)
        assert isinstance(outcome.error, WorkerCrashedError), outcome
        assert len(seen) == 3
        alive = [pid for pid in seen if not eventually(lambda pid=pid: gone(pid), 5)]
        for pid in alive:
            os.kill(pid, signal.SIGKILL)
        assert not alive, f"still running 5 s after the crash: {alive}"
    finally:
        pool.shutdown(timeout=5)


def test_without_proc_nothing_is_swept(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Where there is no /proc (macOS), the reaper's sweep finds nothing instead of
    failing."""
    from durable_mp.workers import reaper

    monkeypatch.setattr(reaper, "_PROC", str(tmp_path / "no-proc"))
    assert reaper.tagged("any") == []
    assert reaper.sweep("any") == 0
