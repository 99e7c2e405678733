"""Whole-process behaviour: no orphans, no semaphores, no re-run of ``__main__``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

from tests.support.nosem import build_nosem_shim, nosem_env

from .helpers import eventually, gone

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.timeout(60)

PARENT = textwrap.dedent(
    """
    import sys, time
    import cloudpickle
    from durable_mp.workers import Job, WorkerPool

    print("MAIN MODULE RAN", flush=True)  # no __main__ guard: workers must not re-run this
    mode = sys.argv[1]
    pool = WorkerPool(2)
    warm = [pool.submit(Job(cloudpickle.dumps((time.sleep, (0.2,))), "warm")) for _ in range(2)]
    assert all(f.result(30).ok for f in warm)
    print("PIDS", pool.zygote_pid, *pool.worker_pids(), flush=True)  # fork server, workers
    if mode == "exit":
        sys.exit(0)
    if mode == "raise":
        raise RuntimeError("the parent fails")
    pool.submit(Job(cloudpickle.dumps((time.sleep, (60,))), "step 'long' (operation 1)"))
    print("RUNNING", flush=True)
    time.sleep(60)
    """
)


def start_parent(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], list[int]]:
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    proc = subprocess.Popen(
        [sys.executable, str(script), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "MAIN MODULE RAN"
    line = proc.stdout.readline().split()
    assert line and line[0] == "PIDS", (line, proc.stderr.read() if proc.stderr else "")
    pids = [int(pid) for pid in line[1:]]
    assert len(pids) == 3
    if mode in ("sigterm", "sigkill"):
        assert proc.stdout.readline().strip() == "RUNNING"
    return proc, pids


@pytest.mark.parametrize("mode", ["exit", "raise", "sigterm", "sigkill"])
def test_no_worker_outlives_its_parent(tmp_path: Path, mode: str) -> None:
    proc, pids = start_parent(tmp_path, mode)
    if mode == "sigterm":
        proc.send_signal(signal.SIGTERM)
    elif mode == "sigkill":
        proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    expected = {"exit": 0, "raise": 1, "sigterm": -signal.SIGTERM, "sigkill": -signal.SIGKILL}
    assert proc.returncode == expected[mode], err
    assert "MAIN MODULE RAN" not in out
    assert eventually(lambda: all(gone(pid) for pid in pids), timeout=5), pids
    if mode == "raise":
        assert "the parent fails" in err


NO_SEMAPHORES = textwrap.dedent(
    """
    import multiprocessing
    try:
        multiprocessing.Lock()
    except OSError as exc:
        print("LOCK FAILS", exc.errno, flush=True)
    else:
        raise SystemExit("semaphores still work: the shim is not active")

    import os
    import cloudpickle
    from durable_mp.workers import Job, WorkerPool, request_from_parent

    def square(x):
        return x * x, os.getpid()

    def ask():
        return request_from_parent("hi")

    pool = WorkerPool(2)
    futures = [pool.submit(Job(cloudpickle.dumps((square, (i,))), "step 'sq'")) for i in range(20)]
    results = [f.result(60) for f in futures]
    assert all(r.ok for r in results), [r.error for r in results]
    assert [r.value[0] for r in results] == [i * i for i in range(20)]
    assert os.getpid() not in {r.value[1] for r in results}
    answer = pool.submit(
        Job(cloudpickle.dumps((ask, ())), "step 'ask'", on_request=lambda b, reply: reply(b + "!"))
    ).result(60)
    assert answer.value == "hi!", answer
    pool.shutdown()
    print("POOL OK", flush=True)
    """
)


def test_pool_works_without_posix_semaphores(tmp_path: Path) -> None:
    shim = build_nosem_shim(tmp_path)
    script = tmp_path / "nosem_pool.py"
    script.write_text(NO_SEMAPHORES)
    env = nosem_env(shim, dict(os.environ))
    proc = subprocess.run(
        [sys.executable, str(script)],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "LOCK FAILS 38" in proc.stdout
    assert "POOL OK" in proc.stdout
    assert proc.stderr == ""
