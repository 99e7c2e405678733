"""A Ctrl-C that reaches a worker while it is still starting (importing, before its own
SIGINT handler is in place) must not kill it with a KeyboardInterrupt traceback on the
run's stderr (the fault campaign's Ctrl-C found one). The terminal sends SIGINT to the
whole process group; the parent decides what happens to running steps."""

from __future__ import annotations

import os
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


SLOW_TO_IMPORT = textwrap.dedent(
    """
    import os
    import time


    class _Slow:
        def __del__(self):  # Python ignores (and prints) what is raised in here
            open(os.environ["MARKER"], "w").close()
            time.sleep(3)


    _Slow()  # collected at once: the import sits in __del__ for 3 s
    """
)

TERMINATED_WHILE_BOOTING = textwrap.dedent(
    """
    import os
    import signal
    import sys
    import time

    from durable_mp.workers.launcher import Zygote

    sys.path.insert(0, sys.argv[1])
    os.environ["DURABLE_MP_WORKER_PRELOAD"] = "slow_to_import"
    server = Zygote.launch()
    deadline = time.monotonic() + 60
    while not os.path.exists(os.environ["MARKER"]) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(server.pid, signal.SIGTERM)  # what its death signal sends when the pool goes
    print(server.process.wait(30), flush=True)
    """
)


def test_a_fork_server_ended_while_it_boots_says_nothing(tmp_path):
    """A short-lived program (a usage error) ends before its fork server has booted; the
    fork server's death signal may land anywhere in an import, even where Python only
    prints what is raised ("Exception ignored in ..."): it must exit without a word on
    the program's stderr, which the user reads."""
    (tmp_path / "slow_to_import.py").write_text(SLOW_TO_IMPORT)
    script = tmp_path / "terminated.py"
    script.write_text(TERMINATED_WHILE_BOOTING)
    done = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True,
                          text=True, timeout=90, env={**os.environ,
                                                     "MARKER": str(tmp_path / "in-import")})
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr
    assert done.stdout.split() == ["0"], done.stdout
