"""The pool's fork server: who forks the workers, who dies with whom, what a worker gets.

The fork server is a fresh interpreter the pool starts, which imports what workers need
and forks them on request. These tests hold it to the same promises the pool made before:
workers die with it, a crashed worker's processes die with the job, a worker that died
idle never gets a job, and it never needs a semaphore (``test_processes.py``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from typing import TYPE_CHECKING

import psutil
import pytest

from durable_mp.exceptions import WorkerCrashedError, WorkerPoolError
from durable_mp.workers import WorkerPool, send_to_parent

from .helpers import eventually, gone, job, start

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.timeout(60)


def parent_pid() -> int:
    return os.getppid()


def test_workers_are_forked_by_the_pools_fork_server(pool: WorkerPool) -> None:
    zygote = pool.zygote_pid
    assert zygote is not None and zygote not in pool.worker_pids()
    assert psutil.Process(zygote).ppid() == os.getpid()
    assert eventually(lambda: len(pool.worker_pids()) == 2)
    for pid in pool.worker_pids():
        assert psutil.Process(pid).ppid() == zygote
    assert pool.run(job(parent_pid)).value == zygote
    pool.shutdown()
    assert eventually(lambda: gone(zygote), timeout=10)


def sleep_long() -> None:
    import time

    send_to_parent("started")
    time.sleep(60)


def test_when_the_fork_server_dies_its_workers_die_and_the_pool_starts_afresh(
    pool: WorkerPool,
) -> None:
    zygote = pool.zygote_pid
    assert zygote is not None and eventually(lambda: len(pool.worker_pids()) == 2)
    workers = pool.worker_pids()
    started = threading.Event()
    running = start(pool, job(sleep_long, on_message=lambda _: started.set()))
    assert started.wait(20)
    os.kill(zygote, signal.SIGKILL)
    outcome = running.result(timeout=20)
    assert isinstance(outcome.error, WorkerCrashedError)
    assert eventually(lambda: all(gone(pid) for pid in workers), timeout=10)
    assert pool.run(job(parent_pid)).ok  # a new fork server, new workers
    assert pool.zygote_pid not in (None, zygote)
    assert not set(pool.worker_pids()) & set(workers)


def orphan_then_crash() -> None:
    """Start a process in its own session, tell the parent its pid, crash the worker."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    send_to_parent(child.pid)
    os._exit(3)


def test_what_a_crashed_worker_started_dies_with_the_job(pool: WorkerPool) -> None:
    seen: list[int] = []
    outcome = pool.run(job(orphan_then_crash, on_message=seen.append))
    assert isinstance(outcome.error, WorkerCrashedError) and outcome.error.exitcode == 3
    [orphan] = seen
    assert eventually(lambda: gone(orphan), timeout=10)  # killed by the fork server


def import_probe() -> str:
    import zygote_probe_module  # type: ignore[import-not-found]

    return str(zygote_probe_module.VALUE)


def test_a_worker_forked_later_sees_the_pools_current_sys_path(tmp_path: Path) -> None:
    (tmp_path / "zygote_probe_module.py").write_text("VALUE = 'found'\n")
    pool = WorkerPool(1)
    try:
        [first] = pool.worker_pids()
        sys.path.insert(0, str(tmp_path))
        os.kill(first, signal.SIGKILL)  # its replacement is forked with today's sys.path
        assert eventually(lambda: pool.worker_pids() not in ([], [first]))
        assert pool.run(job(import_probe)).value == "found"
    finally:
        sys.path.remove(str(tmp_path))
        pool.shutdown()


def test_a_worker_that_died_idle_is_never_handed_a_job() -> None:
    """The fork server is stopped, so the pool cannot hear of the death: the job's send
    fails, and the job goes to the other worker, never failing."""
    pool = WorkerPool(2)
    zygote = pool.zygote_pid
    assert zygote is not None
    try:
        assert eventually(lambda: len(pool.worker_pids()) == 2)
        victim, survivor = pool.worker_pids()
        os.kill(zygote, signal.SIGSTOP)
        os.kill(victim, signal.SIGKILL)
        assert eventually(lambda: psutil.Process(victim).status() == psutil.STATUS_ZOMBIE)
        outcomes = [pool.run(job(os.getpid)) for _ in range(3)]
        assert [outcome.value for outcome in outcomes] == [survivor] * 3
    finally:
        os.kill(zygote, signal.SIGCONT)
        pool.shutdown()


def test_a_module_that_cannot_be_preloaded_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DURABLE_MP_WORKER_PRELOAD", "json, no_such_module_for_durable_mp")
    with pytest.raises(WorkerPoolError) as failed:
        WorkerPool(1)
    message = str(failed.value)
    assert "No module named 'no_such_module_for_durable_mp'" in message
    assert "DURABLE_MP_WORKER_PRELOAD" in message


def preloaded() -> bool:
    return "xml.dom.minidom" in sys.modules


def test_preloaded_modules_are_there_before_the_first_job(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DURABLE_MP_WORKER_PRELOAD", "xml.dom.minidom")
    pool = WorkerPool(1)
    try:
        assert pool.run(job(preloaded)).value is True
    finally:
        pool.shutdown()


def test_shutdown_ends_a_run_that_waits_for_its_worker() -> None:
    pool = WorkerPool(1)
    errors: list[BaseException] = []
    started = threading.Event()

    def caller() -> None:
        try:
            pool.run(job(sleep_long, on_message=lambda _: started.set()))
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=caller)
    thread.start()
    assert started.wait(20)
    pool.shutdown(timeout=1.0)
    thread.join(10)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], WorkerPoolError)
    assert "shut down" in str(errors[0])


KILLED_PARENT = '''
import subprocess, sys, time
import cloudpickle
from durable_mp.workers import Job, WorkerPool, send_to_parent

def start_and_wait():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                             start_new_session=True)
    send_to_parent(child.pid)
    time.sleep(60)

pool = WorkerPool(1)
started = []
pool.submit(Job(cloudpickle.dumps((start_and_wait, ())), "step 'long'",
                on_message=started.append))
while not started:
    time.sleep(0.01)
print(pool.zygote_pid, *pool.worker_pids(), started[0], flush=True)
time.sleep(60)
'''


def test_killing_the_pools_process_leaves_nothing_a_step_started(tmp_path: Path) -> None:
    """SIGKILL gives the pool no chance to clean up: the fork server's death signal does."""
    script = tmp_path / "parent.py"
    script.write_text(KILLED_PARENT)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    pids = [int(pid) for pid in proc.stdout.readline().split()]
    assert len(pids) == 3  # fork server, worker, the process the step started
    proc.kill()
    proc.wait(10)
    assert eventually(lambda: all(gone(pid) for pid in pids), timeout=10), pids
