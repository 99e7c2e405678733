"""One owner per execution, and interruptions that never fail it (real processes, real
SQLite files).

Two `durable-mp run` of one execution: the second says who runs it and exits 2, or with
--wait reports the first one's outcome, or takes over when the first is killed. A run
interrupted seven times in a row (SIGKILL, Ctrl-C, SIGTERM) resumes the eighth time:
interruptions are not failed invocations.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

JOB = textwrap.dedent(
    """
    import os
    import time

    from durable_mp import durable_execution

    MARKERS = os.environ["MARKER_DIR"]


    def body(i):
        def run(step):
            with open(os.path.join(MARKERS, f"step{i}"), "a") as marker:
                marker.write(f"{os.getpid()}\\n")
            hold = os.path.join(MARKERS, "hold")
            if os.environ.get("BLOCK_STEP") == str(i):
                time.sleep(120)  # interrupted here
            while os.path.exists(hold):
                time.sleep(0.02)
            return i

        return run


    @durable_execution
    def handler(event, ctx):
        return sum(ctx.step(body(i), name=f"step{i}") for i in range(event["steps"]))
    """
)


def cli(*args):
    return [sys.executable, "-m", "durable_mp", *args]


def lines(path):
    return open(path).read().split() if os.path.exists(path) else []


@pytest.fixture
def job(tmp_path):
    path = tmp_path / "job.py"
    path.write_text(JOB)
    return path


def run_command(job, store, steps=4, *extra):
    return cli(
        "run",
        f"{job}:handler",
        "--input",
        json.dumps({"steps": steps}),
        "--store",
        str(store),
        "--name",
        "job",
        "--json",
        *extra,
    )


def environment(tmp_path, **extra):
    return {**os.environ, "MARKER_DIR": str(tmp_path), **extra}


def wait_for(predicate, what, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def first_line(process):
    """The first line a run writes on stderr (it says what it is doing)."""
    line = process.stderr.readline()
    assert line, process.communicate(timeout=60)
    return line


def completions(store):
    history = subprocess.run(
        cli("history", "job", "--store", str(store), "--json"),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [
        e["InvocationCompletedDetails"].get("Error", {}).get("Payload", {}).get("ErrorType")
        for e in json.loads(history.stdout)
        if e["EventType"] == "InvocationCompleted"
    ]


def test_two_runs_started_together_one_drives_the_other_says_who(job, tmp_path):
    store = tmp_path / "runs.db"
    (tmp_path / "hold").touch()  # every step waits until the test lets go
    env = environment(tmp_path)
    first, second = (
        subprocess.Popen(run_command(job, store), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    )
    # The one that does not own the execution exits at once, with status 2.
    wait_for(lambda: first.poll() is not None or second.poll() is not None, "one run to give up")
    loser, winner = (first, second) if first.poll() is not None else (second, first)
    out, err = loser.communicate(timeout=30)
    if winner.poll() is not None:  # both ended: say how
        raise AssertionError((loser.returncode, err, winner.returncode, winner.communicate()))
    assert loser.returncode == 2, err
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert f"execution job is being run by pid {winner.pid} on {socket.gethostname()} since " in err
    assert "--wait" in err

    listing = subprocess.run(
        cli("list", "--store", str(store)), capture_output=True, text=True, timeout=60, check=True
    )
    assert f"run by pid {winner.pid} on " in listing.stdout
    as_json = subprocess.run(
        cli("list", "--store", str(store), "--json"), capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(as_json.stdout)[0]["Owner"]["Pid"] == winner.pid

    (tmp_path / "hold").unlink()
    out, err = winner.communicate(timeout=120)
    assert winner.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == {"Status": "SUCCEEDED", "Result": "6"}
    assert [len(lines(tmp_path / f"step{i}")) for i in range(4)] == [1, 1, 1, 1]
    assert completions(store) == [None]  # one invocation, nothing closed by the loser


def test_a_waiting_run_reports_the_owners_outcome(job, tmp_path):
    store = tmp_path / "runs.db"
    (tmp_path / "hold").touch()
    env = environment(tmp_path)
    first = subprocess.Popen(run_command(job, store), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: lines(tmp_path / "step0"), "the first step")
    second = subprocess.Popen(
        run_command(job, store, 4, "--wait"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    waiting = first_line(second)
    assert f"is being run by pid {first.pid}" in waiting and "waiting for it to finish" in waiting
    (tmp_path / "hold").unlink()
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert "taking it over" not in err
    assert json.loads(out.strip().splitlines()[-1]) == {"Status": "SUCCEEDED", "Result": "6"}
    assert first.wait(60) == 0
    assert [len(lines(tmp_path / f"step{i}")) for i in range(4)] == [1, 1, 1, 1]


def test_a_waiting_run_takes_over_when_the_owner_is_killed(job, tmp_path):
    store = tmp_path / "runs.db"
    first = subprocess.Popen(
        run_command(job, store), env=environment(tmp_path, BLOCK_STEP="2"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for(lambda: lines(tmp_path / "step2"), "step 2")
    second = subprocess.Popen(
        run_command(job, store, 4, "--wait"), env=environment(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert "waiting for it to finish" in first_line(second)
    first.kill()
    first.wait(10)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert "taking it over" in err
    assert json.loads(out.strip().splitlines()[-1]) == {"Status": "SUCCEEDED", "Result": "6"}
    assert [len(lines(tmp_path / f"step{i}")) for i in range(4)] == [1, 1, 2, 1]
    assert completions(store) == ["Runtime.ExitError", None]


INTERRUPTIONS = [signal.SIGKILL, signal.SIGINT, signal.SIGTERM] * 2 + [signal.SIGKILL]
EXIT_STATUS = {signal.SIGKILL: -signal.SIGKILL, signal.SIGINT: 130, signal.SIGTERM: 143}


def test_seven_interruptions_in_a_row_then_the_same_command_finishes(job, tmp_path):
    """More than the 5 failed invocations that fail an execution: none of them counts."""
    store = tmp_path / "runs.db"
    steps = len(INTERRUPTIONS) + 1
    command = run_command(job, store, steps)
    for number, sig in enumerate(INTERRUPTIONS):
        run = subprocess.Popen(
            command,
            env=environment(tmp_path, BLOCK_STEP=str(number)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda number=number: lines(tmp_path / f"step{number}"), f"step {number}")
        worker = int(lines(tmp_path / f"step{number}")[-1])
        run.send_signal(sig)
        _out, err = run.communicate(timeout=60)
        assert run.returncode == EXIT_STATUS[sig], err
        if sig != signal.SIGKILL:
            name = "SIGINT" if sig == signal.SIGINT else "SIGTERM"
            assert f"durable-mp run: interrupted ({name})" in err.strip().splitlines()[-1]
            assert "Traceback" not in err
        wait_for(lambda worker=worker: not _alive(worker), "the step's worker to stop", 15)

    final = subprocess.run(command, env=environment(tmp_path), capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    assert "resuming execution job" in final.stderr
    assert json.loads(final.stdout.strip().splitlines()[-1]) == {
        "Status": "SUCCEEDED",
        "Result": str(sum(range(steps))),
    }
    # Each interrupted step ran again; no completed step did.
    assert [len(lines(tmp_path / f"step{i}")) for i in range(steps)] == [2] * (steps - 1) + [1]
    expected = ["Runtime.ExitError" if sig == signal.SIGKILL else "Runner.Interrupted" for sig in INTERRUPTIONS]
    assert completions(store) == [*expected, None]


def _alive(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
