"""A Ctrl-C that reaches a worker while it is still starting (importing, before its own
SIGINT handler is in place) must not kill it with a KeyboardInterrupt traceback on the
run's stderr (the fault campaign's Ctrl-C found one). The terminal sends SIGINT to the
whole process group; the parent decides what happens to running steps."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.timeout(120)

SCRIPT = textwrap.dedent(
    """
    import os
    import signal
    import time

    import cloudpickle
    from durable_mp.workers import Job, WorkerPool

    pool = WorkerPool(1)
    (booting,) = pool.worker_pids()  # forked a moment ago: may not have its handler yet
    os.kill(booting, signal.SIGSTOP)
    try:
        os.killpg(0, signal.SIGINT)  # Ctrl-C: the whole group
        time.sleep(1)
    except KeyboardInterrupt:
        pass  # the parent's own
    os.kill(booting, signal.SIGCONT)
    done = pool.submit(Job(cloudpickle.dumps((os.getpid, ())), "step 'pid'")).result(60)
    print(booting, done.value, flush=True)
    pool.shutdown()
    """
)


def test_a_ctrl_c_while_a_worker_starts_leaves_it_running(tmp_path):
    script = tmp_path / "ctrl_c.py"
    script.write_text(SCRIPT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=90, start_new_session=True)
    assert done.returncode == 0, done.stderr
    assert "KeyboardInterrupt" not in done.stderr, done.stderr
    booting, ran_in = done.stdout.split()
    assert booting == ran_in  # the worker that got the Ctrl-C while starting ran the step


FORK_SERVER_SCRIPT = textwrap.dedent(
    """
    import os
    import signal
    import time

    from durable_mp.workers.launcher import Zygote

    server = Zygote.launch()  # a fresh interpreter: it has only begun to import
    try:
        os.killpg(0, signal.SIGINT)  # Ctrl-C: the whole group
        time.sleep(1)
    except KeyboardInterrupt:
        pass  # the parent's own
    message = server.receive()
    print(message[0] if message else "gone", flush=True)
    server.stop(10)
    """
)


def test_a_ctrl_c_while_the_fork_server_boots_leaves_it_running(tmp_path):
    script = tmp_path / "ctrl_c_fork_server.py"
    script.write_text(FORK_SERVER_SCRIPT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=90, start_new_session=True)
    assert done.returncode == 0, done.stderr
    assert "KeyboardInterrupt" not in done.stderr, done.stderr
    assert done.stdout.split() == ["ready"], (done.stdout, done.stderr)
